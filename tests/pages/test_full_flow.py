"""The whole way through the pages: an Ambito's staff enrol and withdraw, ANCI staff run the lab,
the participant takes their certificate and follows its QR code to the public verification page."""

import io

from pypdf import PdfReader

from tests.support import eventually


def shows(visitor, path: str, text: str) -> bool:
    """Whether the page shows ``text`` yet: the read models behind it follow the events within moments."""
    visitor.open(path, check=False)
    return text in visitor.text("main")


def transition(action: str) -> str:
    return f"form[action$='/stato']:has(input[value='{action}']) button"


def test_enrol_wait_withdraw_attend_complete_and_verify_the_certificate_through_the_pages(site, visit, tmp_path):
    lab = f"/laboratori/{site.labs['small']}"
    first, second = site.people["resp1"], site.people["resp2"]

    ambito = visit("flusso-ambito", "ambito", "resp1")
    ambito.open(lab)
    ambito.choose("#persona", first["id"])
    ambito.submit("form[action$='/iscrizioni'] button")
    assert ambito.text("#esito") == f"Iscrizione confermata: {first['name']}."
    ambito.choose("#persona", second["id"])
    ambito.submit("form[action$='/iscrizioni'] button")
    assert ambito.text("#esito") == f"{second['name']}: in lista d'attesa, posizione 1."

    withdraw = f"button:has-text('Ritira {second['name']}')"
    eventually(lambda: shows(ambito, lab, f"Ritira {second['name']}"), timeout=20)
    ambito.open(lab)
    ambito.submit(withdraw)
    assert ambito.text("#esito") == f"Iscrizione ritirata: {second['name']}."
    ambito.open("/ambito")
    assert first["name"] in ambito.text("main")

    staff = visit("flusso-staff", "staff", "staff")
    staff.open(lab)
    staff.submit(transition("start"))
    assert staff.text("#esito") == "Laboratorio avviato."
    for session in ("s1", "s2"):
        eventually(lambda: shows(staff, f"{lab}/presenze/{session}", first["name"]), timeout=20)
        staff.open(f"{lab}/presenze/{session}")
        assert second["name"] not in staff.text("main")  # withdrawn: not expected
        staff.submit("main form button[type=submit]")
        assert staff.text("#esito") == "Presenze registrate: 1."
    eventually(lambda: shows(staff, lab, "Concludi e rilascia gli attestati"), timeout=20)  # once it shows running
    staff.open(lab)
    staff.submit(transition("complete"))
    assert staff.text("#esito").startswith("Laboratorio concluso")

    participant = visit("flusso-partecipante", "participant", "resp1")
    certificate = "a:has-text(\"Scarica l'attestato (PDF)\")"
    eventually(lambda: shows(participant, "/partecipante", "Scarica l'attestato"), timeout=20)
    participant.open("/partecipante")
    assert "7 ore" in participant.text("#ore-totali")
    saved = tmp_path / "attestato.pdf"
    participant.download(certificate, saved)
    page = PdfReader(io.BytesIO(saved.read_bytes())).pages[0]
    assert first["name"] in page.extract_text()
    (link,) = [annotation.get_object()["/A"]["/URI"] for annotation in page["/Annots"]]
    assert link.startswith(f"{site.url}/verifica/")
    participant.open(link.removeprefix(site.url))
    assert participant.text("#esito").startswith("Attestato valido")
    assert first["name"] in participant.text("#esito")
