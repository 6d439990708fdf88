"""The toolkit's pages: a participant searches it, reads a document with its versions and downloads one;
staff publish one proposal and reject another with the reason; a participant follows their own proposals."""

from services.gateway.pages.render import italian_date
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


def test_a_participant_follows_their_proposals_from_pending_to_published_or_rejected_with_the_reason(
        site, visit, tmp_path):
    participant = visit("mie-proposte", "participant", "other")
    participant.open("/strumenti")
    participant.submit("a[href='/strumenti/mie-proposte']")
    assert "Le mie proposte" in participant.text("h1")
    titles = {"publish": f"Da pubblicare DEMO {site.tag}", "reject": f"Da rifiutare DEMO {site.tag}"}
    for n, title in enumerate(titles.values()):
        participant.open("/strumenti/proponi")
        participant.choose("#tipo", "guideline")
        participant.fill("#titolo", title)
        participant.fill("#motivo", f"Motivo DEMO {n}")
        file = tmp_path / f"proposta-{n}.txt"
        file.write_text(f"Linea guida DEMO {n} {site.tag}\n")
        participant.browser.attach(participant.context, "#file", str(file))
        participant.submit("#invia")
        assert "Proposta inviata" in participant.text("h1")
    participant.submit("#esito ~ ul a[href='/strumenti/mie-proposte']")

    def row(title: str) -> str:
        return f"#proposte tr:has-text('{title}')"

    def listed():
        participant.open("/strumenti/mie-proposte", check=False)
        text = participant.text("#proposte")
        assert titles["publish"] in text and titles["reject"] in text
        return text

    text = eventually(listed)
    participant.check("/strumenti/mie-proposte")
    assert text.index(titles["reject"]) < text.index(titles["publish"])  # newest first
    for title in titles.values():
        assert "In attesa di moderazione" in participant.text(f"{row(title)} .stato")
    assert "proposta-0.txt" in participant.text(row(titles["publish"])) and \
        "Motivo DEMO 0" in participant.text(row(titles["publish"]))

    staff = visit("modera-mie-proposte", "staff", "staff")
    staff.open("/strumenti/proposte")
    staff.submit(f"section.proposal:has-text('{titles['publish']}') button[value=pubblica]")
    staff.fill(f"section.proposal:has-text('{titles['reject']}') input[name=motivo]", "Esiste già una linea guida DEMO")
    staff.submit(f"section.proposal:has-text('{titles['reject']}') button[value=rifiuta]")
    assert "Proposta rifiutata" in staff.text("#esito")

    def decided():
        participant.open("/strumenti/mie-proposte", check=False)
        assert "Pubblicata" in participant.text(f"{row(titles['publish'])} .stato")
        assert "Rifiutata" in participant.text(f"{row(titles['reject'])} .stato")
        return True

    eventually(decided)
    participant.check("/strumenti/mie-proposte")
    rejected = participant.text(f"{row(titles['reject'])} .esito")
    assert "Motivo del rifiuto: Esiste già una linea guida DEMO" in rejected and "Rifiutata il " in rejected
    assert "Pubblicata il " in participant.text(f"{row(titles['publish'])} .esito")
    participant.submit(f"{row(titles['publish'])} .esito a")
    assert participant.text("h1") == titles["publish"]


def test_the_pages_show_the_events_times_in_italian_time():
    assert italian_date("2026-07-01T22:30:00+00:00") == "02/07/2026 alle 00:30"
    assert italian_date("2026-01-15T08:05:00+00:00") == "15/01/2026 alle 09:05"
    assert italian_date("2026-03-12") == "12/03/2026"
