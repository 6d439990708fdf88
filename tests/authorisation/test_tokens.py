"""Tokens at the gateway: claims of the wrong type, and tokens revoked before they expire."""

import time

import jwt
import pytest

from rebuilding import auth
from services.gateway.api import Unavailable
from services.gateway.revocations import FETCH_TIMEOUT, RevocationList, RevocationsUnknown
from services.registry.application import RegistryApplication
from tests.authorisation.conftest import forged
from tests.support import Gateway, eventually

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("changes", [
    {"roles": [["staff"]]}, {"roles": ["ambito"], "ambito": {}}, {"roles": "staff"}, {"sub": {"id": 1}},
    {"ambito": ["a"], "roles": ["ambito"]}, {"jti": 5}, {"aud": ...}, {"jti": ...},
    {"exp": int(time.time()) + 10 * 365 * 24 * 3600},
], ids=repr)
def test_a_token_whose_claims_are_of_the_wrong_type_or_missing_is_a_401_not_a_500(platform, world, changes):
    client = Gateway(platform, forged(**changes))
    for path in ("/labs", f"/registry/people/{world.person('a1')}", "/programme/reports/ambiti"):
        answer = client.get(path)
        assert answer.status_code == 401, (path, answer.status_code, answer.text)
        assert answer.json()["error"] == "unauthenticated"


def test_a_revoked_token_is_refused_at_once_and_others_go_on(platform, world):
    staff = Gateway.as_role(platform, "staff")
    token = auth.mint(world.person("a1"), ["participant"])
    participant = Gateway(platform, token)
    assert participant.get(f"/registry/people/{world.person('a1')}").status_code == 200
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]

    assert participant.post("/auth/revocations", {"jti": jti, "reason": "not theirs to revoke"}).status_code == 403
    revoked = staff.post("/auth/revocations", {"jti": jti, "reason": "telefono smarrito"})
    assert revoked.status_code == 201, revoked.text
    assert revoked.json()["jti"] == jti and revoked.json()["revoked_by"] == "test-user"
    assert revoked.headers["Cache-Control"] == "no-store"

    refused = participant.get(f"/registry/people/{world.person('a1')}")
    assert refused.status_code == 401 and refused.json()["message"] == "the token has been revoked"
    assert participant.get("/labs").status_code == 401
    assert set(participant.get("/health").json()) == {"status"}  # answered as anyone is
    another = Gateway.as_role(platform, "participant", sub=world.person("a1"))
    assert another.get(f"/registry/people/{world.person('a1')}").status_code == 200

    again = staff.post("/auth/revocations", {"jti": jti, "reason": "twice"})
    assert again.status_code == 409
    listed = Gateway.as_role(platform, "auditor").get("/auth/revocations")
    assert listed.status_code == 200 and jti in [r["jti"] for r in listed.json()]
    assert Gateway.as_role(platform, "ambito", ambito=world.ambito_a).get("/auth/revocations").status_code == 403
    assert staff.post("/auth/revocations", {"reason": "which one?"}).status_code == 400


def test_a_gateway_that_did_not_take_a_revocation_refuses_the_token_within_its_refresh(platform, world, monkeypatch):
    token = auth.mint(world.person("b1"), ["participant"])
    participant = Gateway(platform, token)
    assert participant.get("/labs").status_code == 200  # the gateway has read the list
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    registry = RegistryApplication()  # as another gateway's staff would, through another instance
    try:
        registry.revoke_token(jti, "revocata altrove", "another-gateway")
    finally:
        registry.close()
    eventually(lambda: participant.get("/labs").status_code == 401, timeout=15)


def test_the_list_is_fetched_once_per_refresh_and_kept_when_the_registry_does_not_answer():
    fetched = []

    def fetch(timeout):
        fetched.append(timeout)
        return ["gone"]

    revocations = RevocationList(refresh_seconds=60)
    assert revocations.is_revoked("gone", fetch) and not revocations.is_revoked("fine", fetch)
    assert fetched == [None]  # the first fetch waits as long as any RPC: there is no copy to go on with

    def failing(timeout):
        assert timeout == FETCH_TIMEOUT, "a refresh waits little: the copy serves meanwhile"
        raise Unavailable("registry did not answer")

    revocations.forget()
    assert revocations.is_revoked("gone", failing)  # the copy it had
    assert not revocations.is_revoked("fine", failing)

    def unanswered(timeout):
        raise Unavailable("registry did not answer")

    never = RevocationList(refresh_seconds=60)
    with pytest.raises(RevocationsUnknown):
        never.is_revoked("fine", unanswered)  # it cannot tell: it refuses rather than let a revoked token in
