"""Bearer tokens: what the gateway accepts and what it turns away."""

import jwt
import pytest

from rebuilding import auth, config
from rebuilding.errors import Forbidden


def test_a_minted_token_verifies_to_its_subject_roles_and_ambito():
    token = auth.mint("mario", ["ambito"], ambito="a-1")
    principal = auth.verify(f"Bearer {token}")
    assert principal == auth.Principal("mario", frozenset({"ambito"}), "a-1")


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic abc", "Bearer not-a-jwt"])
def test_a_missing_or_malformed_token_is_unauthenticated(header):
    with pytest.raises(auth.Unauthenticated):
        auth.verify(header)


def test_an_expired_token_is_refused():
    token = auth.mint("mario", ["staff"], ttl_seconds=-10)
    with pytest.raises(auth.Unauthenticated, match="expired"):
        auth.verify(f"Bearer {token}")


def test_a_token_signed_with_another_key_is_refused():
    forged = jwt.encode({"iss": "rebuilding", "sub": "x", "roles": ["staff"], "exp": 9999999999},
                        "another-key", algorithm="HS256")
    assert forged and config.jwt_secret() != "another-key"
    with pytest.raises(auth.Unauthenticated):
        auth.verify(f"Bearer {forged}")


def test_a_token_with_an_unknown_role_is_refused():
    token = jwt.encode({"iss": "rebuilding", "sub": "x", "roles": ["root"], "exp": 9999999999},
                       config.jwt_secret(), algorithm="HS256")
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
