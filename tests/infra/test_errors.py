"""Refusals cross RPC as they were raised, and are logged as one line."""

import logging
import sys

from nameko.exceptions import deserialize, serialize

from rebuilding.errors import REFUSALS_IN_ONE_LINE, Conflict, Invalid, NotFound


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


def worker_record(error, message="(expected) error handling worker %s: %s"):
    """The record nameko's container logs when a worker's method raises ``error``."""
    try:
        raise error
    except Exception:
        exc_info = sys.exc_info()
    return logging.LogRecord("nameko.containers", logging.WARNING, __file__, 1, message,
                             ("<WorkerContext [labs.get_lab]>", error), exc_info)


def test_an_expected_refusal_is_one_line_without_its_traceback():
    record = worker_record(NotFound("no lab 42"))
    assert REFUSALS_IN_ONE_LINE.filter(record)
    line = logging.Formatter("%(levelname)s %(message)s").format(record)
    assert line == "INFO <WorkerContext [labs.get_lab]> refused: 404 not_found: no lab 42"
    assert "\n" not in line and record.exc_info is None


def test_an_unexpected_failure_keeps_its_traceback():
    record = worker_record(ValueError("bug"), "error handling worker %s: %s")
    assert REFUSALS_IN_ONE_LINE.filter(record)
    assert "Traceback" in logging.Formatter().format(record)
