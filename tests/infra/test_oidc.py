"""Tokens of an OpenID Connect provider: RS256 against its JWKS, with its issuer and audience."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from rebuilding import auth
from services.gateway import oidc
from services.gateway.service import GatewayService
from services.registry.service import RegistryService


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def provider(monkeypatch):
    """A provider's signing key, and its JWKS served on 127.0.0.1 as a provider serves it."""
    key = rsa_key()
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "chiave-1", "use": "sig", "alg": "RS256"}]}).encode()

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("REBUILDING_OIDC_JWKS_URL", f"http://127.0.0.1:{server.server_port}/certs")
    monkeypatch.setenv("REBUILDING_OIDC_ISSUER", "https://idp.example.org/realms/rebuilding")
    monkeypatch.setenv("REBUILDING_OIDC_AUDIENCE", "rebuilding-pages")
    monkeypatch.setenv("REBUILDING_OIDC_ROLES_CLAIM", "realm_access.roles")
    oidc._keys.cache_clear()
    yield key
    oidc._keys.cache_clear()
    server.shutdown()


def token(key, kid="chiave-1", **changes) -> str:
    now = int(time.time())
    claims = {"iss": "https://idp.example.org/realms/rebuilding", "aud": "rebuilding-pages", "sub": "persona-1",
              "iat": now, "exp": now + 600, "realm_access": {"roles": ["ambito", "offline_access"]},
              "ambito": "ambito-1", **changes}
    return jwt.encode({k: v for k, v in claims.items() if v is not ...}, key, algorithm="RS256",
                      headers={"kid": kid})


def test_a_providers_token_becomes_a_principal_with_its_roles_and_ambito(provider):
    principal = oidc.verify(f"Bearer {token(provider)}")
    assert principal.sub == "persona-1" and principal.roles == {"ambito"} and principal.ambito == "ambito-1"
    assert principal.jti  # revocable by the token's hash when the provider gives no jti


@pytest.mark.parametrize("changes", [{"aud": "another-app"}, {"iss": "https://evil.example.org"},
                                     {"exp": int(time.time()) - 3600}, {"sub": ...}], ids=repr)
def test_a_token_for_another_audience_or_issuer_or_expired_or_without_a_subject_is_refused(provider, changes):
    with pytest.raises(auth.Unauthenticated):
        oidc.verify(f"Bearer {token(provider, **changes)}")


def test_a_token_signed_by_another_key_is_refused(provider):
    with pytest.raises(auth.Unauthenticated):
        oidc.verify(f"Bearer {token(rsa_key())}")


def test_only_rs256_tokens_go_to_the_provider_and_the_platforms_own_key_verifies_no_rs256_token(provider):
    assert oidc.is_provider_token(f"Bearer {token(provider)}")
    assert not oidc.is_provider_token(f"Bearer {auth.mint('persona-1', ['staff'])}")
    with pytest.raises(auth.Unauthenticated):
        auth.verify(f"Bearer {token(provider)}")


@pytest.fixture
def gateway(runner_factory, nameko_config):
    runner = runner_factory(nameko_config, RegistryService, GatewayService)
    runner.start()
    return f"http://{nameko_config['WEB_SERVER_ADDRESS']}"


@pytest.mark.integration
def test_the_gateway_lets_a_providers_token_reach_what_its_roles_allow_and_still_takes_the_platforms_own(
        provider, gateway):
    staff = token(provider, realm_access={"roles": ["staff"]}, ambito=...)
    assert requests.get(f"{gateway}/auth/revocations", headers={"Authorization": f"Bearer {staff}"}).status_code == 200
    ambito = token(provider)
    refused = requests.get(f"{gateway}/auth/revocations", headers={"Authorization": f"Bearer {ambito}"})
    assert refused.status_code == 403
    stranger = token(rsa_key())
    assert requests.get(f"{gateway}/registry/ats", headers={"Authorization": f"Bearer {stranger}"}).status_code == 401
    own = auth.mint("staff-1", ["staff"])
    assert requests.get(f"{gateway}/auth/revocations", headers={"Authorization": f"Bearer {own}"}).status_code == 200
