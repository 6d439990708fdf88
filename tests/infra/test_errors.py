"""Refusals cross RPC as they were raised."""

from nameko.exceptions import deserialize, serialize

from rebuilding.errors import Conflict, Invalid, NotFound


def across_rpc(error):
    """What the caller gets: nameko serialises the exception to JSON-safe data and rebuilds it."""
    return deserialize(serialize(error))


def test_a_refusal_without_details_arrives_without_details():
    arrived = across_rpc(NotFound("no lab 42"))
    assert type(arrived) is NotFound
    assert (arrived.message, arrived.details, arrived.args) == ("no lab 42", None, ("no lab 42",))


def test_a_refusal_with_details_arrives_with_the_same_object():
    details = {"reason": "comune_in_another_ambito", "istat_code": "012002"}
    arrived = across_rpc(Conflict("taken", details))
    assert type(arrived) is Conflict and arrived.details == details
    assert across_rpc(Invalid("bad", {"title": ["Missing data for required field."]})).details == {
        "title": ["Missing data for required field."]}


def test_details_that_are_not_an_object_are_left_out():
    """Such as the "None" a service sent before details were left out of args when missing."""
    assert NotFound("no lab 42", "None").details is None
    assert NotFound("no lab 42", {}).details is None
