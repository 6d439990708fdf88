"""The toolkit's forms in a browser: staff publish a document with its file and add a version, a participant
proposes one that staff publish, a participant comments and staff hide the comment, a file of a forbidden type
or too large is refused in Italian with the other fields kept; and the search's filters, sort and pages."""

import hashlib
from datetime import datetime
from zoneinfo import ZoneInfo

from rebuilding import auth
from rebuilding.blobs import blob_store_from_config
from services.gateway.pages.toolkit_pages import month_name
from tests.support import Gateway, eventually
from tests.toolkit.multipart import post_form, write_form

PDF = b"%PDF-1.4\n% DEMO pagina del modulo\n%%EOF\n"
EXECUTABLE = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 120


def shows(visitor, path: str, text: str, selector: str = "main") -> bool:
    """Whether the page shows ``text`` yet: the read models behind it follow the events within moments."""
    visitor.open(path, check=False)
    return text in visitor.text(selector)


def attach(visitor, path, selector: str = "#file"):
    visitor.browser.attach(visitor.context, selector, str(path))


def stored(content: bytes) -> bool:
    return blob_store_from_config().path(hashlib.sha256(content).hexdigest()).exists()


def staff_api(site) -> Gateway:
    return Gateway(site.url, auth.mint(site.people["staff"]["id"], ["staff"]))


def test_staff_publish_a_document_with_its_file_and_then_a_new_version(site, visit, tmp_path):
    staff = visit("pubblica", "staff", "staff")
    staff.open("/strumenti")
    staff.submit("a[href='/strumenti/nuovo']")
    title = f"Linea guida DEMO pubblicata dalla pagina {site.tag}"
    staff.choose("#tipo", "guideline")
    staff.fill("#titolo", title)
    staff.fill("#descrizione", "Guida DEMO per le prove delle pagine.")
    staff.choose("#tema-terzo-settore")
    staff.fill("#riferimenti", "D.Lgs. 117/2017 art. 55\nL. 328/2000")
    staff.fill("#ente", f"Ufficio di Piano DEMO {site.tag}")
    first = tmp_path / "linea-guida.pdf"
    first.write_bytes(PDF + site.tag.encode())
    attach(staff, first)
    staff.submit("#invia")
    document_url = staff.url.replace(site.url, "").split("?")[0]
    assert document_url.startswith("/strumenti/documenti/")
    eventually(lambda: shows(staff, document_url, title))
    staff.check(document_url)
    assert "D.Lgs. 117/2017 art. 55; L. 328/2000" in staff.text("main") and "Codice del Terzo Settore" in staff.text("main")
    assert "linea-guida.pdf" in staff.text("#versioni")

    second = tmp_path / "linea-guida-v2.txt"
    second.write_text(f"Linea guida DEMO, seconda versione {site.tag}\n")
    staff.fill("#versione-motivo", "Aggiornata alla circolare DEMO")
    attach(staff, second)
    staff.submit("#carica-versione")
    assert "Nuova versione caricata" in staff.text("#esito")
    eventually(lambda: shows(staff, document_url, "2 (attuale)", "#versioni"))
    staff.check(document_url)
    versions = staff.text("#versioni")
    assert "Aggiornata alla circolare DEMO" in versions and "linea-guida-v2.txt" in versions
    assert "testo semplice" in versions and "PDF" in versions
    saved = tmp_path / "scaricata.txt"
    staff.download("#scarica-2", saved)
    assert saved.read_bytes() == second.read_bytes()

    staff.fill("#ritiro-motivo", "Superata dalla norma DEMO")
    staff.submit("#ritira")
    eventually(lambda: shows(staff, document_url, "ritirato: Superata dalla norma DEMO", "#stato"))
    staff.check(document_url)
    assert "Carica una nuova versione" not in staff.text("main")


def test_a_file_of_a_forbidden_type_or_too_large_is_refused_in_italian_with_the_other_fields_kept(
        site, visit, tmp_path, monkeypatch):
    staff = visit("rifiuto", "staff", "staff")
    staff.open("/strumenti/nuovo")
    title = f"Modello DEMO rifiutato {site.tag}"
    staff.choose("#tipo", "template")
    staff.fill("#titolo", title)
    staff.fill("#ente", "Ente DEMO del modulo rifiutato")
    disguised = tmp_path / "modello.pdf"  # an executable, whatever its name says
    disguised.write_bytes(EXECUTABLE + site.tag.encode())
    attach(staff, disguised)
    staff.submit("#invia", status=415)
    assert "non è un PDF, DOCX, ODT, XLSX, ODS o testo semplice" in staff.text("#file-errore")
    assert "Il file non è stato accolto" in staff.text("#errore-modulo")
    assert staff.browser.value(staff.context, "#titolo") == title
    assert staff.browser.value(staff.context, "#ente") == "Ente DEMO del modulo rifiutato"
    assert staff.browser.value(staff.context, "#tipo") == "template"
    assert not stored(disguised.read_bytes())

    monkeypatch.setenv("REBUILDING_MAX_UPLOAD_BYTES", "2048")
    large = tmp_path / "modello-grande.txt"
    large.write_bytes(b"Testo DEMO troppo lungo.\n" * 200)
    attach(staff, large)
    staff.submit("#invia", status=413)
    assert "Il file supera il limite di 2 KB" in staff.text("#file-errore")
    assert staff.browser.value(staff.context, "#titolo") == title
    assert not stored(large.read_bytes())
    huge = tmp_path / "modello-enorme.txt"  # larger than the limit and the fields' room: refused unread
    huge.write_bytes(b"Testo DEMO enorme.\n" * 40_000)
    attach(staff, huge)
    staff.submit("#invia", status=413)
    assert "Il file supera il limite di 2 KB" in staff.text("#file-errore")
    assert not stored(huge.read_bytes())
    found = staff_api(site).get("/toolkit/documents", params={"q": title}).json()
    assert found["total"] == 0


def test_an_upload_without_its_form_token_is_refused_before_its_file_is_kept(site, visit):
    staff = visit("senza-token", "staff", "staff")
    staff.open("/strumenti/nuovo")
    content = f"Testo DEMO mandato senza token {site.tag}\n"
    fields = {"tipo": "template", "titolo": f"Modello DEMO senza token {site.tag}"}
    forged = staff.browser.post_multipart(staff.context, site.url + "/strumenti/nuovo", fields, "a.txt", content)
    assert forged["status"] == 403 and "Operazione non consentita" in forged["text"]
    assert not stored(content.encode())
    wrong = staff.browser.post_multipart(staff.context, site.url + "/strumenti/nuovo",
                                         {**fields, "csrf": "contraffatto"}, "a.txt", content)
    assert wrong["status"] == 403
    assert not stored(content.encode())


def test_a_participant_is_refused_the_upload_page_and_its_form(site, visit):
    participant = visit("non-staff", "participant", "other")
    participant.open("/strumenti")
    assert "Pubblica un documento" not in participant.text("main")
    participant.open("/strumenti/nuovo", 403)
    assert "Operazione non consentita" in participant.text("h1")
    content = f"Testo DEMO di chi non è staff {site.tag}\n"
    answer = participant.browser.post_multipart(participant.context, site.url + "/strumenti/nuovo",
                                                {"tipo": "template", "titolo": "Modello DEMO non suo"}, "a.txt",
                                                content)
    assert answer["status"] == 403
    assert not stored(content.encode())


def test_a_participant_proposes_a_document_with_its_file_and_staff_publish_it(site, visit, tmp_path):
    participant = visit("propone", "participant", "other")
    participant.open("/strumenti")
    participant.submit("a[href='/strumenti/proponi']")
    title = f"Atto DEMO proposto dalla pagina {site.tag}"
    participant.choose("#tipo", "administrative_act")
    participant.fill("#titolo", title)
    participant.fill("#motivo", "Lo usiamo nel nostro Ambito")
    file = tmp_path / "atto.txt"
    file.write_text(f"Delibera DEMO {site.tag}\n")
    attach(participant, file)
    participant.submit("#invia")
    assert "Proposta inviata" in participant.text("h1")

    staff = visit("pubblica-proposta", "staff", "staff")
    eventually(lambda: shows(staff, "/strumenti/proposte", title))
    staff.check("/strumenti/proposte")
    assert "Lo usiamo nel nostro Ambito" in staff.text("main") and "Atto amministrativo" in staff.text("main")
    staff.submit(f"section.proposal:has-text('{title}') button[value=pubblica]")
    assert "Proposta pubblicata" in staff.text("#esito")
    eventually(lambda: shows(participant, f"/strumenti?q={site.tag}&tipo=administrative_act", title))
    participant.check("/strumenti?tipo=administrative_act")

    participant.open(f"/strumenti/documenti/{site.toolkit['document']}")
    participant.submit("#proponi-versione")
    assert "Proponi una nuova versione di «Modello DEMO di convenzione" in participant.text("h1")
    participant.fill("#motivo", f"Aggiornata alla delibera DEMO {site.tag}")
    attach(participant, file)
    participant.submit("#invia")
    assert "Proposta inviata" in participant.text("h1")
    eventually(lambda: shows(staff, "/strumenti/proposte", f"Aggiornata alla delibera DEMO {site.tag}"))
    staff.check("/strumenti/proposte")
    proposal = f"section.proposal:has-text('Aggiornata alla delibera DEMO {site.tag}')"
    assert "(nuova versione)" in staff.text(f"{proposal} h2")


def test_a_participant_comments_on_a_document_and_staff_hide_the_comment_with_the_reason(site, visit):
    document = f"/strumenti/documenti/{site.toolkit['document']}"
    participant = visit("commenta", "participant", "other")
    participant.open(document)
    text = f"Commento DEMO da nascondere {site.tag}"
    participant.fill("#commento-testo", text)
    participant.submit("#commenta")
    assert "Commento inviato" in participant.text("#esito")
    eventually(lambda: shows(participant, document, text))
    participant.check(document)
    assert "Il Suo commento" in participant.text("main")

    staff = visit("nasconde", "staff", "staff")
    eventually(lambda: shows(staff, document, text))
    staff.check(document)
    assert site.people["other"]["name"] in staff.text("main")
    comment = f".commento:has-text('{text}')"
    staff.fill(f"{comment} textarea[name=motivo]", "Contiene dati personali DEMO")
    staff.submit(f"{comment} button[type=submit]")
    assert "Commento nascosto" in staff.text("#esito")
    eventually(lambda: shows(staff, document, "Commento nascosto dallo staff: Contiene dati personali DEMO"))
    assert text in staff.text("main")  # staff still read it

    eventually(lambda: shows(participant, document, "Commento nascosto dallo staff"))
    participant.check(document)
    assert text not in participant.text("main")


def test_search_filters_by_theme_and_organisation_sorts_by_downloads_and_pages_keeping_the_filters(
        site, visit, tmp_path):
    api = staff_api(site)
    organisation = f"Ente DEMO ricerca {site.tag}"
    ids = []
    for n in range(12):
        fields = {"kind": "template", "title": f"Modello DEMO ricerca {n:02d} {site.tag}", "organisation": organisation,
                  "themes": ["terzo-settore"] if n < 11 else []}
        answer = post_form(api, "/toolkit/documents",
                           write_form(tmp_path / f"corpo-{n}", fields, f"m{n}.txt", f"DEMO {n} {site.tag}\n".encode()))
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    popular = ids[3]
    for _ in range(2):
        assert api.get(f"/toolkit/documents/{popular}/versions/1/download").status_code == 200

    def counted():
        found = api.get("/toolkit/documents", params={"organisation": organisation, "sort": "downloads"}).json()
        return found["total"] == 12 and found["items"][0]["id"] == popular

    eventually(counted)
    participant = visit("ricerca", "participant", "other")
    participant.open("/strumenti")
    participant.fill("#ente", organisation)
    participant.choose("#tema", "terzo-settore")
    participant.choose("#ordine", "downloads")
    participant.choose("#per", "10")
    participant.submit("#cerca")
    assert "11 documenti: pagina 1 di 2" in participant.text("#quanti")
    rows = participant.text("#documenti tbody").splitlines()
    assert len(rows) == 10 and rows[0].startswith(f"Modello DEMO ricerca 03 {site.tag}")
    assert f"Modello DEMO ricerca 11 {site.tag}" not in participant.text("#documenti")  # not of the theme

    participant.submit("#successiva")
    for kept in ("tema=terzo-settore", "ordine=downloads", "per=10", "pagina=2", "ente=Ente+DEMO"):
        assert kept in participant.url
    assert "pagina 2 di 2" in participant.text("#quanti")
    assert len(participant.text("#documenti tbody").splitlines()) == 1
    assert participant.browser.value(participant.context, "#tema") == "terzo-settore"
    participant.submit("#precedente")
    assert "pagina 1 di 2" in participant.text("#quanti") and "ordine=downloads" in participant.url

    staff = visit("statistiche", "staff", "staff")

    def popular_counted():
        staff.open("/strumenti/statistiche", check=False)
        row = next(line for line in staff.text("#per-documento").splitlines() if site.tag in line)
        assert row.split("\t") == [f"Modello DEMO ricerca 03 {site.tag}", "2"]
        return True

    eventually(popular_counted)
    staff.check("/strumenti/statistiche")
    assert "Staff (nessuna ATS)" in staff.text("#per-ats")
    assert month_name(datetime.now(ZoneInfo("Europe/Rome")).strftime("%Y-%m")) in staff.text("#per-mese")
