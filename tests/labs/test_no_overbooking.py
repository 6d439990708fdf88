"""No overbooking, ever: many concurrent requests on two running instances of the labs service."""

from collections import Counter

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from rebuilding.errors import Conflict
from rebuilding.eventstore import aggregate_id
from services.labs.service import LabsService
from tests.labs.conftest import learn
from tests.labs.test_enrolment import new_lab

pytestmark = pytest.mark.integration

CAPACITY = 30
PEOPLE = 200
REPEATS = 40


def test_two_instances_confirm_exactly_the_capacity_and_lose_or_double_no_request(
    container_factory, nameko_config, labs, registry, territory
):
    ambito = territory.ambito()
    people = [territory.person(ambito) for _ in range(PEOPLE)]
    learn(labs, registry)
    lab_id = new_lab(labs, capacity=CAPACITY)
    for _ in range(2):
        container_factory(LabsService, nameko_config).start()

    requests = people + people[:REPEATS]  # some people ask twice, at the same moment
    with ClusterRpcProxy(nameko_config, timeout=120) as cluster:
        replies = [cluster.labs.enrol.call_async(lab_id, {"person_id": p}) for p in requests]
        outcomes = []
        for reply in replies:
            try:
                outcomes.append(reply.result()["status"])
            except Conflict as refused:
                outcomes.append(refused.details["reason"])

    assert len(outcomes) == len(requests)
    assert Counter(outcomes) == {"confirmed": CAPACITY, "waitlisted": PEOPLE - CAPACITY, "duplicate": REPEATS}

    lab = labs.repository.get(aggregate_id(lab_id, "lab"))
    waiting = [e["person_id"] for e in lab.waitlist]
    assert len(lab.confirmed) == CAPACITY
    assert sorted([*lab.confirmed, *waiting]) == sorted(people)  # everyone once, nobody twice

    events = Counter(e["type"].split(".")[-2] for e in labs.envelopes() if e["subject"] == lab_id)
    assert events["enrolment_confirmed"] == CAPACITY
    assert events["enrolment_waitlisted"] == PEOPLE - CAPACITY
    assert events["enrolment_refused"] == REPEATS
    assert [e["data"]["position"] for e in labs.envelopes()
            if e["subject"] == lab_id and "waitlisted" in e["type"]] == list(range(1, PEOPLE - CAPACITY + 1))

