"""The toolkit's pages: a participant searches it, reads a document with its versions and downloads one;
staff publish one proposal and reject another with the reason."""

from tests.support import eventually


def test_a_participant_finds_a_document_reads_its_versions_and_downloads_the_current_one(site, visit, tmp_path):
    visitor = visit("strumenti", "participant", "other")
    visitor.open("/strumenti")
    visitor.fill("#q", f"convenzione {site.tag}")
    visitor.submit("#cerca")
    assert f"Modello DEMO di convenzione {site.tag}" in visitor.text("#documenti")
    visitor.submit(f"a[href='/strumenti/documenti/{site.toolkit['document']}']")
    versions = visitor.text("#versioni")
    assert "2 (attuale)" in versions and "Aggiornata alla norma DEMO" in versions and "convenzione-v2.pdf" in versions
    saved = tmp_path / "scaricato.pdf"
    visitor.download("#scarica-2", saved)
    assert saved.read_bytes().startswith(b"%PDF") and b"DEMO 2" in saved.read_bytes()


def test_staff_publish_one_proposal_and_reject_another_with_the_reason(site, visit):
    staff = visit("moderazione", "staff", "staff")
    staff.open("/strumenti/proposte")
    text = staff.text("main")
    assert f"Proposta DEMO publish {site.tag}" in text and f"Proposta DEMO reject {site.tag}" in text
    staff.submit(f"form[action='/strumenti/proposte/{site.toolkit['publish']}'] button[value=pubblica]")
    assert "Proposta pubblicata" in staff.text("#esito")
    staff.fill(f"form[action='/strumenti/proposte/{site.toolkit['reject']}'] input[name=motivo]",
               "Duplica un modello già presente")
    staff.submit(f"form[action='/strumenti/proposte/{site.toolkit['reject']}'] button[value=rifiuta]")
    assert "Proposta rifiutata" in staff.text("#esito")

    def gone():
        staff.open("/strumenti/proposte", check=False)
        assert f"Proposta DEMO publish {site.tag}" not in staff.text("main")
        assert f"Proposta DEMO reject {site.tag}" not in staff.text("main")
        return True

    eventually(gone)
    staff.check("/strumenti/proposte")

    def published():
        staff.open(f"/strumenti?q=publish+{site.tag}", check=False)
        assert f"Proposta DEMO publish {site.tag}" in staff.text("main")
        return True

    eventually(published)
    staff.check("/strumenti?q=publish")
