"""Signing in to the pages at an OpenID Connect provider, over HTTP: the authorization-code flow with PKCE
through the gateway, against a real small provider on 127.0.0.1 (tests/oidc_provider.py), and its refusals."""

import base64
import hashlib
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from services.gateway.pages import session, signin
from services.gateway.pages.signin_pages import sign_in_page
from services.gateway.service import GatewayService
from services.registry.service import RegistryService
from tests.oidc_provider import Provider, configure

pytestmark = pytest.mark.integration

CLIENT = "rebuilding-pagine"


@pytest.fixture
def gateway(runner_factory, nameko_config, monkeypatch):
    monkeypatch.delenv("REBUILDING_DEV_LOGIN", raising=False)
    runner = runner_factory(nameko_config, RegistryService, GatewayService)
    runner.start()
    return f"http://{nameko_config['WEB_SERVER_ADDRESS']}"


@pytest.fixture
def provider(gateway, monkeypatch):
    provider = Provider(CLIENT)
    configure(monkeypatch, provider, gateway)
    yield provider
    provider.stop()


class Browser:
    """A browser without JavaScript: follows each redirect by hand, keeps cookies."""

    def __init__(self, gateway: str):
        self.gateway, self.http = gateway, requests.Session()

    def get(self, url: str) -> requests.Response:
        return self.http.get(url if url.startswith("http") else self.gateway + url, allow_redirects=False, timeout=30)

    def begin(self, path: str = "/accesso/oidc") -> requests.Response:
        """To the provider's authorization endpoint: the gateway's redirect there."""
        started = self.get(path)
        assert started.status_code == 303, started.text
        return started

    def to_provider_and_back(self, path: str = "/accesso/oidc") -> str:
        """The URL the provider sends the browser back to, not yet opened."""
        approved = self.get(self.begin(path).headers["Location"])
        assert approved.status_code == 302, approved.text
        return approved.headers["Location"]

    def sign_in(self, path: str = "/accesso/oidc") -> requests.Response:
        return self.get(self.to_provider_and_back(path))

    def cookie(self, name: str) -> str | None:
        return self.http.cookies.get(name)

    def csrf(self) -> str:
        return re.search(r'name="csrf" value="([^"]+)"', self.get("/accesso").text).group(1)


def refused(answer: requests.Response, status: int, browser: Browser, words: str):
    assert answer.status_code == status, answer.text
    assert words in answer.text
    assert "Torna alla pagina di accesso" in answer.text
    assert browser.cookie(session.SESSION_COOKIE) is None
    assert browser.cookie(session.FLOW_COOKIE) is None, "the sign-in's state is spent"


def test_signing_in_at_the_provider_sends_code_state_nonce_and_pkce_and_ends_with_the_id_token_as_session(
        provider, gateway):
    provider.approve("persona-staff-1", ["staff"])
    browser = Browser(gateway)
    page = browser.get("/accesso")
    assert 'href="/accesso/oidc"' in page.text and "Entra con SPID/CIE" in page.text

    started = browser.begin("/accesso/oidc?dopo=/laboratori")
    to = urlsplit(started.headers["Location"])
    assert f"{to.scheme}://{to.netloc}{to.path}" == f"{provider.url}/authorize"
    asked = {name: values[0] for name, values in parse_qs(to.query).items()}
    assert asked["response_type"] == "code" and asked["scope"] == "openid" and asked["client_id"] == CLIENT
    assert asked["redirect_uri"] == f"{gateway}/accesso/ritorno" and asked["code_challenge_method"] == "S256"
    assert len(asked["state"]) >= 32 and len(asked["nonce"]) >= 32 and asked["state"] != asked["nonce"]
    flow = next(c for c in browser.http.cookies if c.name == session.FLOW_COOKIE)
    assert flow.path == "/accesso" and flow.has_nonstandard_attr("HttpOnly")
    assert "SameSite=Lax" in started.headers["Set-Cookie"]

    back = browser.get(browser.get(started.headers["Location"]).headers["Location"])
    assert back.status_code == 303 and back.headers["Location"] == "/laboratori"
    exchange = provider.exchanges[-1]
    verifier = exchange["code_verifier"]
    assert base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode() \
        == asked["code_challenge"]
    assert browser.cookie(session.SESSION_COOKIE) == provider.issued[-1]["id_token"], \
        "the access token is for another audience: the ID token is the session"
    assert browser.cookie(session.FLOW_COOKIE) is None

    signed_in = browser.get("/accesso")
    assert "Ha già effettuato l'accesso come Staff ANCI Lombardia" in signed_in.text
    token = browser.cookie(session.SESSION_COOKIE)
    api = requests.get(f"{gateway}/auth/revocations", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert api.status_code == 200, "the session's token is one the API takes, with its roles"


def test_an_access_token_for_the_gateways_audience_is_the_session_and_a_confidential_client_sends_its_secret(
        gateway, monkeypatch):
    provider = Provider(CLIENT, client_secret="segreto-di-prova", access_audience="rebuilding-api")
    try:
        configure(monkeypatch, provider, gateway, audience="rebuilding-api")
        provider.approve("persona-ambito-1", ["ambito"], ambito="ambito-prova-1")
        browser = Browser(gateway)
        back = browser.sign_in()
        assert back.status_code == 303 and back.headers["Location"] == "/ambito"
        assert browser.cookie(session.SESSION_COOKIE) == provider.issued[-1]["access_token"]
        assert "client_secret" not in provider.exchanges[-1], "the secret goes in the Authorization header"
        assert "Staff di un Ambito territoriale" in browser.get("/accesso").text
    finally:
        provider.stop()


def test_signing_out_clears_the_session_and_ends_the_providers_with_the_id_token_as_hint(provider, gateway):
    provider.approve("persona-partecipante-1", ["participant"])
    browser = Browser(gateway)
    assert browser.sign_in().headers["Location"] == "/partecipante"
    page = browser.get("/accesso")
    assert f"form-action 'self' {provider.url}" in page.headers["Content-Security-Policy"]

    out = browser.http.post(f"{gateway}/uscita", data={"csrf": browser.csrf()}, allow_redirects=False, timeout=30)
    assert out.status_code == 303
    to = urlsplit(out.headers["Location"])
    assert f"{to.scheme}://{to.netloc}{to.path}" == f"{provider.url}/logout"
    hint = parse_qs(to.query)
    assert hint["id_token_hint"] == [provider.issued[-1]["id_token"]]
    assert hint["post_logout_redirect_uri"] == [f"{gateway}/"] and hint["client_id"] == [CLIENT]
    assert browser.cookie(session.SESSION_COOKIE) is None and browser.cookie(session.ID_TOKEN_COOKIE) is None
    assert browser.get(out.headers["Location"]).headers["Location"] == f"{gateway}/"
    assert "Ha già effettuato l'accesso" not in browser.get("/accesso").text


def test_a_state_that_is_not_this_browsers_is_refused_without_a_session(provider, gateway):
    provider.approve("persona-staff-1", ["staff"])
    browser = Browser(gateway)
    back = urlsplit(browser.to_provider_and_back())
    code = parse_qs(back.query)["code"][0]
    refused(browser.get(f"/accesso/ritorno?code={code}&state=di-un-altro"), 400, browser, "non corrisponde")
    assert provider.exchanges == [], "no code is exchanged for a state that does not match"
    browser.begin()
    refused(browser.get(f"/accesso/ritorno?code={code}&state=%C3%A8-non-ascii"), 400, browser, "non corrisponde")


def test_a_sign_out_form_with_a_wrong_token_is_refused_even_when_it_is_not_ascii(provider, gateway):
    provider.approve("persona-staff-1", ["staff"])
    browser = Browser(gateway)
    browser.sign_in()
    for forged in ("falso", "è-falso"):
        out = browser.http.post(f"{gateway}/uscita", data={"csrf": forged}, allow_redirects=False, timeout=30)
        assert out.status_code == 403
    assert browser.cookie(session.SESSION_COOKIE) is not None


def test_a_sign_in_state_the_gateway_did_not_sign_is_refused(provider, gateway):
    provider.approve("persona-staff-1", ["staff"])
    browser = Browser(gateway)
    back = parse_qs(urlsplit(browser.to_provider_and_back()).query)
    forged = signin.Flow(back["state"][0], "un-nonce", "un-verificatore-scelto-da-chi-falsifica", None, 2**40)
    payload = forged.cookie().rsplit(".", 1)[0]
    browser.http.cookies.set(session.FLOW_COOKIE, f"{payload}.{'0' * 64}", domain="127.0.0.1", path="/accesso")
    refused(browser.get(f"/accesso/ritorno?code={back['code'][0]}&state={back['state'][0]}"), 400, browser,
            "è scaduta o non è partita da questo browser")
    assert provider.exchanges == []


def test_a_return_without_a_sign_in_begun_in_this_browser_is_refused(provider, gateway):
    provider.approve("persona-staff-1", ["staff"])
    back = Browser(gateway).to_provider_and_back()
    stranger = Browser(gateway)
    refused(stranger.get(back), 400, stranger, "è scaduta o non è partita da questo browser")


def test_a_provider_that_denies_access_ends_on_a_403_page(provider, gateway):
    provider.deny()
    browser = Browser(gateway)
    refused(browser.get(browser.to_provider_and_back()), 403, browser, "annullato o negato")


def test_a_replayed_code_is_refused_by_the_provider_and_gives_no_second_session(provider, gateway):
    provider.approve("persona-staff-1", ["staff"])
    browser = Browser(gateway)
    back = browser.to_provider_and_back()
    flow = browser.cookie(session.FLOW_COOKIE)
    assert browser.get(back).status_code == 303

    thief = Browser(gateway)  # who copied both the return URL and the sign-in's cookie
    thief.http.cookies.set(session.FLOW_COOKIE, flow, domain="127.0.0.1", path="/accesso")
    refused(thief.get(back), 400, thief, "già stato usato")
    assert provider.refusals == ["code already used"]
    assert browser.get(back).status_code == 400, "in the same browser the state is spent already"


def test_a_code_obtained_with_another_pkce_verifier_is_refused(provider, gateway):
    provider.approve("persona-staff-1", ["staff"])
    attacker, victim = Browser(gateway), Browser(gateway)
    stolen = parse_qs(urlsplit(attacker.to_provider_and_back()).query)["code"][0]
    victims_state = parse_qs(urlsplit(victim.begin().headers["Location"]).query)["state"][0]
    refused(victim.get(f"/accesso/ritorno?code={stolen}&state={victims_state}"), 400, victim, "non è valido")
    assert provider.refusals == ["PKCE verification failed"]


def test_an_id_token_with_another_nonce_is_refused(provider, gateway):
    provider.approve("persona-staff-1", ["staff"])
    provider.nonce = "un-nonce-di-un-altro-accesso"
    browser = Browser(gateway)
    refused(browser.get(browser.to_provider_and_back()), 400, browser, "non appartiene a questa richiesta")
    assert provider.issued, "the provider did answer: the nonce refused it"


def test_an_identity_without_a_role_of_the_platform_gets_no_session(provider, gateway):
    provider.approve("persona-senza-ruolo", ["offline_access"])
    browser = Browser(gateway)
    refused(browser.get(browser.to_provider_and_back()), 403, browser, "non ha un profilo abilitato")


def test_a_provider_that_is_down_ends_on_a_502_page_before_and_during_the_sign_in(provider, gateway):
    provider.approve("persona-staff-1", ["staff"])
    browser = Browser(gateway)
    back = browser.to_provider_and_back()
    provider.stop()
    refused(browser.get(back), 502, browser, "non risponde")

    signin._discovered.pop(provider.issuer, None)  # as a gateway that has not met the provider yet
    fresh = Browser(gateway)
    answer = fresh.get("/accesso/oidc")
    assert answer.status_code == 502 and "non risponde" in answer.text
    assert fresh.cookie(session.FLOW_COOKIE) is None


def test_without_a_provider_the_sign_in_page_offers_none_and_its_routes_answer_404(gateway, monkeypatch):
    monkeypatch.delenv("REBUILDING_OIDC_ISSUER", raising=False)
    browser = Browser(gateway)
    assert "/accesso/oidc" not in browser.get("/accesso").text
    for path in ("/accesso/oidc", "/accesso/ritorno?code=x&state=y"):
        answer = browser.get(path)
        assert answer.status_code == 404 and "non è configurato" in answer.text


def test_a_sign_in_page_without_its_row_in_the_table_does_not_load():
    with pytest.raises(LookupError, match="GET /accesso/altrove has no row"):
        sign_in_page("GET", "/accesso/altrove")
