"""Signing in through the programme's identity provider in the browser, and out again: a real small OpenID
Connect provider on 127.0.0.1 (tests/oidc_provider.py) approves the person the test chose."""

import pytest

from services.gateway.pages.session import ID_TOKEN_COOKIE, SESSION_COOKIE
from tests.oidc_provider import Provider, configure


@pytest.fixture
def provider(site, monkeypatch):
    provider = Provider("rebuilding-pagine")
    configure(monkeypatch, provider, site.url)
    yield provider
    provider.stop()


def test_an_ambitos_staff_signs_in_at_the_provider_lands_in_their_area_and_signs_out_there_too(site, visit, provider):
    provider.approve(site.people["resp1"]["id"], ["ambito"], ambito=site.ambito)
    visitor = visit("spid")
    visitor.open("/accesso")
    assert "Entra con SPID/CIE" in visitor.text("#accesso-oidc")

    landed = visitor.submit("#accesso-oidc")
    assert landed["url"] == f"{site.url}/ambito"
    assert "Staff di un Ambito territoriale" in visitor.text("header")
    assert site.people["resp2"]["name"] in visitor.text("main"), "the Ambito's people, as its staff see them"
    cookies = {c["name"]: c for c in visitor.cookies()}
    assert cookies[SESSION_COOKIE]["value"] == provider.issued[-1]["id_token"]
    assert cookies[SESSION_COOKIE]["httpOnly"] and cookies[SESSION_COOKIE]["sameSite"] == "Lax"

    out = visitor.submit("form[action='/uscita'] button[type=submit]")
    assert out["url"] == f"{site.url}/", "back from the provider's end of session"
    assert provider.logouts[-1]["id_token_hint"] == provider.issued[-1]["id_token"]
    assert not {SESSION_COOKIE, ID_TOKEN_COOKIE} & {c["name"] for c in visitor.cookies()}
    assert "Accedi" in visitor.text("header")


def test_a_refused_return_from_the_provider_is_an_italian_page_that_leads_back_to_signing_in(site, visit, provider):
    visitor = visit("spid-rifiutato")
    visitor.open("/accesso/ritorno?code=un-codice&state=uno-stato", 400)
    assert visitor.text("h1") == "Accesso scaduto"
    assert SESSION_COOKIE not in {c["name"] for c in visitor.cookies()}
    visitor.submit("main a.btn")
    assert visitor.url.startswith(f"{site.url}/accesso")
