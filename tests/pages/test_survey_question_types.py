"""Surveys with every type of question, through the pages: ANCI staff define a draft and open it; an Ambito's
head of Ufficio di Piano answers a ranking, a likert, a single and a multiple choice and a text in one form,
is told in Italian what the API refused, and amends; staff read every question's results, download the
answers and close the survey; a participant answers an anonymous survey and amends it with the code given
once; roles the table of roles does not allow are refused."""

from openpyxl import load_workbook

from services.labels import QUESTION_TYPES
from tests.support import eventually

RANKING = ("ranking", "Ordini i temi dal più utile", ["contratti | DEMO Contratti", "terzo | DEMO Terzo settore",
                                                      "reti | DEMO Reti"], False)
LIKERT = ("likert", "Quanto le è utile il programma DEMO?", [], True)
SINGLE = ("single_choice", "Formato preferito", ["In presenza", "Online"], False)
MULTIPLE = ("multiple_choice", "Da dove riceve le notizie", ["Posta elettronica", "Sito", "Telefono"], False)
TEXT = ("text", "Osservazioni", [], False)
EVERY_TYPE = (RANKING, LIKERT, SINGLE, MULTIPLE, TEXT)  # d1 … d5


def define(site, visit, title: str, questions, audience: str = "ambiti", labs=(), anonymous: bool = False) -> str:
    """Staff define a survey on the new-survey page and open it; its id."""
    staff = visit("definizione", "staff", "staff")
    staff.open("/anci/questionari")
    staff.submit("#nuovo-questionario")
    staff.fill("#titolo", f"{title} {site.tag}")
    staff.choose(f"#destinatari-{audience}")
    for lab in labs:
        staff.choose(f"#laboratorio-{site.labs[lab]}")
    if anonymous:
        staff.choose("#anonimo")
    for n, (kind, text, lines, required) in enumerate(questions, 1):
        staff.fill(f"#domanda-{n}-testo", text)
        staff.choose(f"#domanda-{n}-tipo", kind)
        staff.fill(f"#domanda-{n}-voci", "\n".join(lines))
        if required:
            staff.click(f"label[for='domanda-{n}-obbligatoria']")
    staff.submit("#crea")
    assert staff.text("#esito") == "Bozza creata."
    draft = staff.text("#domande")
    for kind, text, _, required in questions:
        assert f"{text} – {QUESTION_TYPES[kind]}{', obbligatoria' if required else ''}" in draft
    survey_id = staff.url.split("?")[0].rsplit("/", 1)[-1]
    staff.submit("#azione-open")
    assert staff.text("#esito") == "Questionario aperto alle risposte."
    return survey_id


def answer_every_type(visitor, survey_id: str, likert: str = "4", text: str = "Più casi DEMO\nsu due righe"):
    visitor.open(f"/questionari/{survey_id}")
    visitor.choose(f"#risposta-d2-{likert}")
    visitor.choose("#risposta-d3-online")
    visitor.choose("#risposta-d4-posta-elettronica")
    visitor.choose("#risposta-d4-telefono")
    visitor.fill("#risposta-d5", text)
    visitor.submit("#invia")


def test_an_ambito_head_answers_every_type_of_question_in_one_form_is_told_what_is_missing_and_amends(site, visit):
    survey_id = define(site, visit, "DEMO – Gradimento con ogni tipo di domanda", EVERY_TYPE)
    head = visit("ogni-tipo", "ambito", "resp1")
    head.open(f"/questionari/{survey_id}")
    assert "(obbligatoria)" in head.text("#domanda-d2 legend")
    assert "(obbligatoria)" not in head.text("#domanda-d3 legend")
    assert head.browser.value(head.context, "#risposta-d5") == ""
    assert "Al massimo 5000 caratteri." in head.text("#limite-d5")

    # everything but the required likert: the API refuses, the page says so beside it and keeps the rest
    head.click("#su-d1-reti")
    head.choose("#risposta-d3-online")
    head.choose("#risposta-d4-posta-elettronica")
    head.choose("#risposta-d4-telefono")
    head.fill("#risposta-d5", "Più casi DEMO\nsu due righe")
    head.submit("#invia", 400)
    assert head.text("#errore-d2") == "Questa domanda è obbligatoria."
    assert "Quanto le è utile il programma DEMO?" in head.text("#errori")
    assert head.browser.order(head.context, "#graduatoria-d1") == ["contratti", "reti", "terzo"]
    assert head.browser.checked(head.context, "#risposta-d3-online")
    assert head.browser.checked(head.context, "#risposta-d4-telefono") and not head.browser.checked(head.context, "#risposta-d4-sito")
    assert head.browser.value(head.context, "#risposta-d5") == "Più casi DEMO\nsu due righe"

    head.choose("#risposta-d2-4")
    head.submit("#invia")
    assert head.text("#esito") == "Risposte inviate (versione 1)."
    assert head.text("#salvata-d1").splitlines() == ["DEMO Contratti", "DEMO Reti", "DEMO Terzo settore"]
    assert head.text("#salvata-d2") == "4 – molto"
    assert head.text("#salvata-d3") == "Online"
    assert head.text("#salvata-d4").splitlines() == ["Posta elettronica", "Telefono"]
    assert head.text("#salvata-d5") == "Più casi DEMO\nsu due righe"

    # amending: the form starts from the saved answers; the last version counts
    head.open(f"/questionari/{survey_id}")
    assert head.browser.checked(head.context, "#risposta-d2-4")
    assert head.browser.order(head.context, "#graduatoria-d1") == ["contratti", "reti", "terzo"]
    head.choose("#risposta-d2-5")
    head.choose("#risposta-d4-telefono")  # checking a checked box leaves it checked: uncheck by clicking its label
    head.click("label[for='risposta-d4-posta-elettronica']")
    head.fill("#risposta-d5", "Testo modificato DEMO")
    head.submit("#invia")
    assert head.text("#esito") == "Risposte inviate (versione 2)."
    assert head.text("#salvata-d2") == "5 – del tutto"
    assert head.text("#salvata-d4").splitlines() == ["Telefono"]
    assert head.text("#salvata-d5") == "Testo modificato DEMO"


def test_without_the_script_moving_a_ranked_item_keeps_the_other_answers_as_typed_and_saves_nothing(site, visit):
    survey_id = define(site, visit, "DEMO – Gradimento senza script", EVERY_TYPE)
    head = visit("ogni-tipo-senza-script", "ambito", "resp2")
    head.browser.no_script(head.context)
    head.open(f"/questionari/{survey_id}")
    head.choose("#risposta-d2-3")
    head.fill("#risposta-d5", "Scritto prima di spostare")
    head.submit("#giu-d1-contratti")
    assert head.browser.order(head.context, "#graduatoria-d1") == ["terzo", "contratti", "reti"]
    assert "«DEMO Contratti» ora in posizione 2 di 3" in head.text("#annuncio-visibile")
    assert head.browser.checked(head.context, "#risposta-d2-3")
    assert head.browser.value(head.context, "#risposta-d5") == "Scritto prima di spostare"
    assert "Le domande" in head.text("main") and "La risposta inviata" not in head.text("main")


def test_staff_read_every_questions_results_download_the_answers_and_close_the_survey(site, visit, tmp_path):
    survey_id = define(site, visit, "DEMO – Gradimento per i risultati", EVERY_TYPE)
    answer_every_type(visit("risponde", "ambito", "resp1"), survey_id)

    staff = visit("risultati-ogni-tipo", "staff", "staff")
    staff.open(f"/anci/questionari/{survey_id}")
    assert "Hanno risposto 1 su" in staff.text("#tasso")
    assert "1 graduatoria" in staff.text("#ambito-region")
    assert staff.text("#media-region-d2") == "1 risposta: media 4 su 5; «molto» o «del tutto» 100%."
    likert = staff.text("#likert-region-d2")
    assert "4 – molto\t1\t100%" in likert and "1 – per niente\t0\t0%" in likert
    choices = staff.text("#scelte-region-d4")
    assert "Posta elettronica\t1\t100%" in choices and "Sito\t0\t0%" in choices
    assert staff.text("#scelte-region-d3").count("\t1\t") == 1
    assert staff.text("#testi-d5") == "Più casi DEMO\nsu due righe"
    assert "Nessuna risposta." in staff.text("#ambito-ats-brescia")

    csv_name = staff.download("#scarica-csv", tmp_path / "risposte.csv")
    assert csv_name == f"questionario-{survey_id}.csv"
    csv = (tmp_path / "risposte.csv").read_text(encoding="utf-8-sig")
    assert "d5 – Osservazioni" in csv and "Più casi DEMO" in csv
    assert ";contratti > terzo > reti;4;online;posta-elettronica, telefono;" in csv
    assert staff.download("#scarica-xlsx", tmp_path / "risposte.xlsx") == f"questionario-{survey_id}.xlsx"
    sheet = load_workbook(tmp_path / "risposte.xlsx").active
    assert [cell.value for cell in sheet[1]][-1] == "d5 – Osservazioni" and sheet.max_row == 2

    staff.submit("#azione-close")
    assert staff.text("#esito") == "Questionario chiuso."
    assert "Chiudi il questionario" not in staff.text("main")

    # the Ambito reads the results of a closed survey from its list, without who answered nor the texts
    head = visit("risultati-ambito", "ambito", "resp2")

    def listed_as_closed():
        head.open("/questionari", check=False)  # the list is a read model: it learns of the close shortly
        assert f"DEMO – Gradimento per i risultati {site.tag}" in head.text("main").partition("Questionari chiusi")[2]
        return True

    eventually(listed_as_closed, timeout=30)
    head.check("/questionari")
    head.submit(f"a[href='/anci/questionari/{survey_id}']")
    assert "media 4 su 5" in head.text("#media-region-d2")
    assert "Tasso di risposta" not in head.text("main") and "Scarica" not in head.text("main")
    assert "Più casi DEMO" not in head.text("main")


def test_a_participant_answers_an_anonymous_survey_and_reads_or_amends_it_only_with_the_code_given_once(site, visit):
    survey_id = define(site, visit, "DEMO – Valutazione anonima", (LIKERT, TEXT), audience="participants",
                       labs=("open",), anonymous=True)
    participant = visit("anonimo", "participant", "other")
    participant.open(f"/questionari/{survey_id}")
    assert "Il questionario è anonimo" in participant.text("main")
    participant.choose("#risposta-d1-2")
    participant.fill("#risposta-d2", "Nota anonima DEMO")
    participant.submit("#invia")
    assert participant.text("#esito") == "Risposte inviate (versione 1)."
    secret = participant.text("#segreto-valore")
    assert len(secret) >= 20 and "Non verrà mostrato di nuovo" in participant.text("#codice-segreto")

    participant.open(f"/questionari/{survey_id}")  # the code is kept nowhere: the page asks for it
    assert "Ha già risposto" in participant.text("main") and secret not in participant.text("main")
    participant.fill("#segreto", "codice-sbagliato")
    participant.submit("#apri")
    assert "Il codice non corrisponde" in participant.text("#errore-segreto")
    participant.fill("#segreto", secret)
    participant.submit("#apri")
    assert participant.text("#salvata-d1") == "2 – poco"
    assert participant.browser.checked(participant.context, "#risposta-d1-2")
    participant.choose("#risposta-d1-5")
    form = {name: participant.browser.value(participant.context, f"input[name={name}]")
            for name in ("csrf", "chiave", "segreto")}
    participant.submit("#invia")
    assert participant.text("#esito") == "Risposte inviate (versione 2)."
    assert participant.text("#salvata-d1") == "5 – del tutto"
    # the same form sent again (its key too): received once, and the page says so
    again = participant.post(f"/questionari/{survey_id}", {**form, "risposta-d1": "5", "risposta-d2": "Nota anonima DEMO",
                                                           "azione": "invia"})
    assert again["status"] == 200 and "erano già state ricevute e contano" in again["text"]
    assert "non può essere mostrato di nuovo" in again["text"] and "versione 3" not in again["text"]

    staff = visit("risultati-anonimi", "staff", "staff")
    staff.open(f"/anci/questionari/{survey_id}")
    assert "Hanno risposto 1 su 1" in staff.text("#tasso")  # who answered is known; what, not before the close
    assert "dopo la chiusura" in staff.text("#non-disponibili")
    assert "Scarica le risposte" not in staff.text("main")
    staff.submit("#azione-close")
    assert "Meno di 3 risposte" in staff.text("#ambito-region")
    assert "Meno di 3 risposte" in staff.text("#risposte-aperte") and "Nota anonima" not in staff.text("main")
    assert "Scarica le risposte" not in staff.text("main")  # one answer, and the rate says whose: no export


def test_the_roles_the_table_does_not_allow_are_refused_the_survey_pages(site, visit):
    needs = site.surveys["needs"]
    participant = visit("rifiuti-partecipante", "participant", "other")
    participant.open(f"/anci/questionari/{needs}", 403)
    participant.open(f"/anci/questionari/{needs}/risposte.csv", 403)
    head = visit("rifiuti-ambito", "ambito", "resp1")
    head.open("/anci/questionari/nuovo", 403)
    head.open(f"/anci/questionari/{needs}/risposte.xlsx", 403)
    csrf = head.browser.value(head.context, "input[name=csrf]")
    assert head.post(f"/anci/questionari/{needs}/stato", {"csrf": csrf, "azione": "close"})["status"] == 403
    auditor = visit("rifiuti-revisore", "auditor", "staff")
    auditor.open(f"/anci/questionari/{needs}")
    assert "Tasso di risposta" in auditor.text("main") and "Chiudi il questionario" not in auditor.text("main")
    auditor.open("/anci/questionari")
    assert "Nuovo questionario" not in auditor.text("main")
    staff = visit("rifiuti-staff", "staff", "staff")
    staff.open(f"/questionari/{needs}", 403)  # staff define surveys; they do not answer them


def test_a_refused_definition_is_explained_beside_its_fields_in_italian_and_the_form_keeps_what_was_written(site, visit):
    staff = visit("definizione-errata", "staff", "staff")
    staff.open("/anci/questionari/nuovo")
    staff.fill("#titolo", "DE")
    staff.fill("#domanda-2-testo", "Una scelta con una voce sola")
    staff.choose("#domanda-2-tipo", "single_choice")
    staff.fill("#domanda-2-voci", "Unica voce")
    staff.submit("#crea", 400)
    assert staff.text("#errore-titolo") == "Da 3 a 300 caratteri."
    assert staff.browser.value(staff.context, "#titolo") == "DE"
    assert staff.browser.value(staff.context, "#domanda-2-voci") == "Unica voce"
    assert staff.browser.value(staff.context, "#domanda-2-tipo") == "single_choice"
    staff.fill("#titolo", f"DEMO – Scelta {site.tag}")
    staff.submit("#crea", 400)
    assert staff.text("#errore-domanda-2-voci") == "Servono almeno due voci, una per riga."
