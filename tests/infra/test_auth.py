"""Bearer tokens: what the gateway accepts and what it turns away."""

import time

import jwt
import pytest

from rebuilding import auth, config
from rebuilding.errors import Forbidden


def claims(**changes) -> dict:
    """The claims of a good staff token, with ``changes``; a change to ``...`` leaves the claim out."""
    now = int(time.time())
    good = {"iss": config.jwt_issuer(), "aud": config.jwt_audience(), "sub": "x", "roles": ["staff"],
            "iat": now, "exp": now + 600, "jti": "j-1"}
    return {k: v for k, v in {**good, **changes}.items() if v is not ...}


def signed(key: str | None = None, **changes) -> str:
    return "Bearer " + jwt.encode(claims(**changes), key or config.jwt_secret(), algorithm="HS256")


def test_a_minted_token_verifies_to_its_subject_roles_ambito_and_id():
    token = auth.mint("mario", ["ambito"], ambito="a-1")
    principal = auth.verify(f"Bearer {token}")
    assert (principal.sub, principal.roles, principal.ambito) == ("mario", frozenset({"ambito"}), "a-1")
    decoded = jwt.decode(token, options={"verify_signature": False})
    assert principal.jti == decoded["jti"] and len(decoded["jti"]) == 32
    assert decoded["aud"] == config.jwt_audience() and decoded["iss"] == config.jwt_issuer()
    assert decoded["exp"] - decoded["iat"] == auth.DEFAULT_TTL_SECONDS


def test_every_token_has_an_id_of_its_own():
    first, second = (auth.verify("Bearer " + auth.mint("x", ["staff"])) for _ in range(2))
    assert first.jti != second.jti


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic abc", "Bearer not-a-jwt"])
def test_a_missing_or_malformed_token_is_unauthenticated(header):
    with pytest.raises(auth.Unauthenticated):
        auth.verify(header)


def test_an_expired_token_is_refused():
    long_ago = int(time.time()) - 3600
    with pytest.raises(auth.Unauthenticated, match="expired"):
        auth.verify(signed(iat=long_ago, exp=long_ago + 600))


def test_a_token_signed_with_another_key_or_with_none_is_refused():
    assert config.jwt_secret() != "another-key"
    with pytest.raises(auth.Unauthenticated):
        auth.verify(signed(key="another-key"))
    unsigned = jwt.encode(claims(), None, algorithm="none")
    with pytest.raises(auth.Unauthenticated):
        auth.verify(f"Bearer {unsigned}")


@pytest.mark.parametrize("missing", auth.REQUIRED_CLAIMS)
def test_a_token_without_any_of_its_claims_is_refused(missing):
    with pytest.raises(auth.Unauthenticated):
        auth.verify(signed(**{missing: ...}))


@pytest.mark.parametrize("changes", [
    {"aud": "another-api"}, {"iss": "someone-else"}, {"aud": ["another-api"]},
], ids=["audience", "issuer", "audiences"])
def test_a_token_for_another_audience_or_from_another_issuer_is_refused(changes):
    with pytest.raises(auth.Unauthenticated):
        auth.verify(signed(**changes))


def test_a_token_for_a_list_of_audiences_that_names_ours_is_accepted():
    assert auth.verify(signed(aud=["another-api", config.jwt_audience()])).sub == "x"


@pytest.mark.parametrize("changes", [
    {"roles": [["staff"]]}, {"roles": "staff"}, {"roles": []}, {"roles": [{"staff": 1}]}, {"roles": ["root"]},
    {"roles": ["ambito"], "ambito": {}}, {"roles": ["ambito"], "ambito": ["a-1"]}, {"roles": ["ambito"], "ambito": 7},
    {"roles": ["ambito"], "ambito": ""}, {"roles": ["ambito"]}, {"roles": ["ambito"], "ambito": None},
    {"sub": 42}, {"sub": ""}, {"sub": ["x"]}, {"sub": "x\ny"}, {"sub": "x" * 201},
    {"jti": 1}, {"jti": ""}, {"iat": "yesterday"}, {"exp": "tomorrow"}, {"exp": True},
], ids=repr)
def test_a_claim_of_the_wrong_type_or_value_is_refused_as_unauthenticated(changes):
    with pytest.raises(auth.Unauthenticated):
        auth.verify(signed(**changes))


def test_a_token_that_lives_longer_than_a_week_is_refused_and_a_week_is_accepted():
    now = int(time.time())
    with pytest.raises(auth.Unauthenticated, match="longer than"):
        auth.verify(signed(iat=now, exp=now + auth.MAX_TTL_SECONDS + 1))
    assert auth.verify(signed(iat=now, exp=now + auth.MAX_TTL_SECONDS)).sub == "x"


def test_a_token_issued_in_the_future_is_refused_beyond_the_clocks_leeway():
    now = int(time.time())
    with pytest.raises(auth.Unauthenticated):
        auth.verify(signed(iat=now + 3600, exp=now + 7200))
    assert auth.verify(signed(iat=now + 10, exp=now + 600)).sub == "x"


def test_the_issuer_and_audience_come_from_configuration(monkeypatch):
    monkeypatch.setenv("REBUILDING_JWT_ISSUER", "https://idp.example.org")
    monkeypatch.setenv("REBUILDING_JWT_AUDIENCE", "rebuilding-prod")
    token = auth.mint("x", ["auditor"])
    assert auth.verify(f"Bearer {token}").roles == {"auditor"}
    monkeypatch.setenv("REBUILDING_JWT_AUDIENCE", "rebuilding-test")
    with pytest.raises(auth.Unauthenticated):
        auth.verify(f"Bearer {token}")


def test_a_principal_without_the_needed_role_is_forbidden():
    with pytest.raises(Forbidden):
        auth.Principal("p", frozenset({"participant"})).require_any(["staff"])


def test_minting_refuses_unknown_roles_and_unscoped_ambito_tokens():
    with pytest.raises(ValueError):
        auth.mint("x", ["root"])
    with pytest.raises(ValueError):
        auth.mint("x", ["ambito"])


@pytest.mark.parametrize("ttl", [0, -10, auth.MAX_TTL_SECONDS + 1, 100 * 365 * 24 * 3600, 1.5, True])
def test_minting_refuses_a_lifetime_of_nothing_or_longer_than_a_week(ttl):
    with pytest.raises(ValueError, match="a token lives from 1"):
        auth.mint("x", ["staff"], ttl_seconds=ttl)


def test_a_replaced_key_file_signs_and_verifies_from_the_next_call(tmp_path, monkeypatch):
    monkeypatch.delenv("REBUILDING_JWT_SECRET", raising=False)
    monkeypatch.setenv("REBUILDING_STATE_DIR", str(tmp_path))
    first = config.jwt_secret()
    old_token = auth.mint("person-1", ["staff"])
    replacement = tmp_path / "jwt-secret.new"
    replacement.write_text("a-rotated-key-of-enough-length-for-hs256-0123456789")
    replacement.replace(tmp_path / "jwt-secret")

    assert config.jwt_secret() == "a-rotated-key-of-enough-length-for-hs256-0123456789" != first
    with pytest.raises(auth.Unauthenticated):
        auth.verify(f"Bearer {old_token}")
    assert auth.verify(f"Bearer {auth.mint('person-1', ['staff'])}").sub == "person-1"
