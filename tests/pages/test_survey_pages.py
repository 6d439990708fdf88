"""The needs survey's ranking form: the Ambito's head of Ufficio di Piano orders the sections with the
keyboard's buttons, sends the ranking, reads it back and amends it; without the script, the same buttons
reorder the form through the server."""

import re

from tests.pages.conftest import NEEDS_ITEMS

LABELS = dict(NEEDS_ITEMS)


def ranking(visitor, selector: str) -> list[str]:
    return [line.strip() for line in visitor.text(selector).splitlines() if line.strip()]


def form_order(visitor) -> list[str]:
    return [LABELS[code] for code in visitor.browser.order(visitor.context, "#graduatoria-priorita")]


def sent_version(visitor) -> int:
    found = re.search(r"Risposte inviate \(versione (\d+)\)", visitor.text("#esito"))
    assert found, visitor.text("main")
    return int(found.group(1))


def test_the_head_of_ufficio_di_piano_ranks_with_the_keyboard_buttons_sends_and_reads_the_ranking_back(site, visit):
    visitor = visit("graduatoria", "ambito", "resp1")
    needs = site.surveys["needs"]
    visitor.open("/questionari")
    assert f"Rilevazione dei fabbisogni {site.tag}" in visitor.text("main")
    visitor.open(f"/questionari/{needs}")
    assert form_order(visitor) == [label for _, label in NEEDS_ITEMS]

    # the last section goes to the top with three presses of its Su button; focus stays with it
    for _ in range(3):
        visitor.click("#su-priorita-fonti-finanziamento")
    assert visitor.focused() == "giu-priorita-fonti-finanziamento"  # at the top, Su has nowhere to go
    assert "«DEMO Fonti di finanziamento» ora in posizione 1 di 4" in visitor.text("#annuncio")
    visitor.click("#giu-priorita-contratti-pubblici")
    assert visitor.focused() == "giu-priorita-contratti-pubblici"
    expected = ["DEMO Fonti di finanziamento", "DEMO Terzo settore", "DEMO Contratti pubblici",
                "DEMO Co-programmazione"]
    assert form_order(visitor) == expected
    visitor.check("riordinata")

    visitor.submit("#invia")
    version = sent_version(visitor)
    visitor.open(f"/questionari/{needs}")
    assert ranking(visitor, "#salvata-priorita") == expected
    assert form_order(visitor) == expected  # the form starts from the saved ranking, for amending

    visitor.click("#su-priorita-co-programmazione")
    visitor.submit("#invia")
    assert sent_version(visitor) == version + 1
    assert ranking(visitor, "#salvata-priorita") == expected[:2] + [expected[3], expected[2]]


def test_without_the_script_the_buttons_reorder_the_form_through_the_server_and_save_nothing(site, visit):
    visitor = visit("graduatoria-senza-script", "ambito", "resp2")
    needs = site.surveys["needs"]
    visitor.browser.no_script(visitor.context)
    visitor.open(f"/questionari/{needs}")
    before = visitor.browser.order(visitor.context, "#graduatoria-priorita")  # the Ambito's saved one, if any
    visitor.submit(f"#giu-priorita-{before[0]}")
    assert visitor.browser.order(visitor.context, "#graduatoria-priorita") == [before[1], before[0]] + before[2:]
    assert "ora in posizione 2 di 4" in visitor.text("#annuncio-visibile")


def test_a_section_dragged_with_the_mouse_onto_the_first_takes_its_place_and_the_move_is_announced(site, visit):
    visitor = visit("graduatoria-trascinata", "ambito", "resp2")
    visitor.open(f"/questionari/{site.surveys['needs']}")
    before = visitor.browser.order(visitor.context, "#graduatoria-priorita")
    visitor.browser.drag(visitor.context, f"li[data-item='{before[-1]}']", f"li[data-item='{before[0]}']")
    assert visitor.browser.order(visitor.context, "#graduatoria-priorita") == [before[-1]] + before[:-1]
    assert f"«{LABELS[before[-1]]}» ora in posizione 1 di 4" in visitor.text("#annuncio")
    assert visitor.text("#graduatoria-priorita .ranking-item:first-child .ranking-position") == "1"


def test_a_tampered_ranking_is_refused_with_a_clear_page(site, visit):
    visitor = visit("graduatoria-manomessa", "ambito", "resp1")
    visitor.open(f"/questionari/{site.surveys['needs']}")
    csrf = visitor.browser.value(visitor.context, "input[name=csrf]")
    answer = visitor.post(f"/questionari/{site.surveys['needs']}",
                          {"csrf": csrf, "ordine-priorita": "terzo-settore", "azione": "invia"})
    assert answer["status"] == 400 and "Dati non validi" in answer["text"]


def test_anci_staff_read_the_rankings_of_the_region_and_of_each_ats_and_who_has_not_answered(site, visit):
    needs = site.surveys["needs"]
    ambito = visit("graduatoria-per-risultati", "ambito", "resp1")
    ambito.open(f"/questionari/{needs}")
    ambito.click("#su-priorita-terzo-settore")
    ambito.submit("#invia")
    sent = [LABELS[code] for code in ambito.browser.order(ambito.context, "#graduatoria-priorita")]

    staff = visit("risultati", "staff", "staff")
    staff.open("/anci/questionari")
    staff.submit(f"a[href='/anci/questionari/{needs}']")
    assert "Hanno risposto 1 su" in staff.text("#tasso")
    assert f"Ambito DEMO Altrove {site.tag}" in staff.text("#tasso-ats")  # it has not answered
    assert f"Ambito DEMO Pagine {site.tag}" not in staff.text("#tasso-ats")
    region = staff.text("#ambito-region")
    assert "1 graduatoria" in region and f"Vincitore di Condorcet: {sent[0]}." in region
    first_row = staff.text("#ambito-region tbody tr:first-child")
    assert first_row.startswith("1°") and sent[0] in first_row
    assert "Pari merito" not in region  # one full ballot orders every item
    bergamo = staff.text("#ambito-ats-bergamo")
    assert "1 graduatoria" in bergamo
    assert "Nessuna risposta." in staff.text("#ambito-ats-brescia")
