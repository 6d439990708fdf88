"""Each page, for each role allowed to see it, and a refusal for each role that is not: as the API's table says."""

import pytest

from services.gateway.pages.session import CSRF_COOKIE, SESSION_COOKIE

ANYONE, STAFF, AMBITO, PARTICIPANT, AUDITOR = "anyone", "staff", "ambito", "participant", "auditor"
SIGN_INS = {STAFF: ("staff", "staff"), AMBITO: ("ambito", "resp1"), PARTICIPANT: ("participant", "other"),
            AUDITOR: ("auditor", "staff")}


def pages(site) -> dict[str, tuple[set, set]]:
    """path -> (who may see it, who is refused with a 403); anyone else signed out is sent to sign in."""
    lab, draft = site.labs["open"], site.labs["draft"]
    everyone = {ANYONE, STAFF, AMBITO, PARTICIPANT, AUDITOR}
    return {
        "/": (everyone, set()),
        "/laboratori": (everyone, set()),
        "/laboratori?ats=bergamo&tema=terzo-settore": (everyone, set()),
        f"/laboratori/{lab}": (everyone, set()),
        "/verifica": (everyone, set()),
        "/accesso": (everyone, set()),
        "/ambito": ({STAFF, AMBITO, AUDITOR}, {PARTICIPANT}),
        "/anci": ({STAFF, AUDITOR}, {AMBITO, PARTICIPANT}),
        "/partecipante": ({STAFF, AMBITO, PARTICIPANT, AUDITOR}, set()),
        "/laboratori/nuovo": ({STAFF}, {AMBITO, PARTICIPANT, AUDITOR}),
        f"/laboratori/{lab}/presenze/s1": ({STAFF}, {AMBITO, PARTICIPANT, AUDITOR}),
        f"/laboratori/{draft}": ({STAFF, AUDITOR}, set()),  # a draft is in nobody else's catalogue
        "/anci/questionari": ({STAFF, AUDITOR}, {AMBITO, PARTICIPANT}),
        "/anci/questionari/nuovo": ({STAFF}, {AMBITO, PARTICIPANT, AUDITOR}),
        f"/anci/questionari/{site.surveys['needs']}": ({STAFF, AUDITOR, AMBITO}, {PARTICIPANT}),  # its results
        "/strumenti": ({STAFF, PARTICIPANT}, {AMBITO, AUDITOR}),
        f"/strumenti/documenti/{site.toolkit['document']}": ({STAFF, PARTICIPANT}, {AMBITO, AUDITOR}),
        "/strumenti/proposte": ({STAFF}, {AMBITO, PARTICIPANT, AUDITOR}),
        "/strumenti/nuovo": ({STAFF}, {AMBITO, PARTICIPANT, AUDITOR}),
        "/strumenti/proponi": ({PARTICIPANT}, {STAFF, AMBITO, AUDITOR}),
        f"/strumenti/proponi?documento={site.toolkit['document']}": ({PARTICIPANT}, {STAFF, AMBITO, AUDITOR}),
        "/strumenti/statistiche": ({STAFF}, {AMBITO, PARTICIPANT, AUDITOR}),
        "/strumenti/mie-proposte": ({PARTICIPANT}, {STAFF, AMBITO, AUDITOR}),
        "/strumenti/mie-proposte?pagina=9": ({PARTICIPANT}, {STAFF, AMBITO, AUDITOR}),
        "/strumenti?tema=terzo-settore&ordine=downloads&per=10&pagina=2": ({STAFF, PARTICIPANT}, {AMBITO, AUDITOR}),
        "/questionari": ({AMBITO, PARTICIPANT}, {STAFF, AUDITOR}),
        f"/questionari/{site.surveys['needs']}": ({AMBITO}, {STAFF, AUDITOR}),  # not addressed to participants: 404
    }


@pytest.mark.parametrize("who", [ANYONE, STAFF, AMBITO, PARTICIPANT, AUDITOR])
def test_each_page_opens_for_the_roles_the_table_allows_and_refuses_the_others(site, visit, who):
    visitor = visit(who, *SIGN_INS.get(who, (None, None)))
    for path, (allowed, refused) in pages(site).items():
        if who in allowed:
            visitor.open(path)
            assert "Errore" not in visitor.title()
        elif who in refused:
            visitor.open(path, 403)
            assert "Operazione non consentita" in visitor.text("h1")
        elif path.endswith(site.labs["draft"]) or (path.endswith(site.surveys["needs"]) and who == PARTICIPANT):
            visitor.open(path, 404)
        elif who == ANYONE:
            visitor.open(path)  # sent to the sign-in page
            assert visitor.url.startswith(site.url + "/accesso?dopo=")
        else:
            raise AssertionError(f"{path}: say what {who} gets")
    assert visitor.checked


def test_the_session_cookie_is_httponly_and_samesite_and_forms_without_their_token_are_refused(site, visit):
    visitor = visit("cookies", "staff", "staff")
    cookies = {c["name"]: c for c in visitor.cookies()}
    assert cookies[SESSION_COOKIE]["httpOnly"] and cookies[SESSION_COOKIE]["sameSite"] == "Lax"
    assert cookies[CSRF_COOKIE]["httpOnly"] and cookies[CSRF_COOKIE]["sameSite"] == "Strict"
    forged = visitor.post(f"/laboratori/{site.labs['draft']}/stato", {"azione": "publish", "csrf": "forged"})
    assert forged["status"] == 403
    visitor.open(f"/laboratori/{site.labs['draft']}")
    assert "bozza" in visitor.text("main")
