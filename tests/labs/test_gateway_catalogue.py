"""The gateway's own copy of the catalogue (services/gateway/catalogue.py): the rows labs answers with,
without an RPC, and still there while labs is down; on real RabbitMQ and PostgreSQL."""

import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.utils import get_extension

from rebuilding.errors import NotFound
from rebuilding.views import MemoryProjection, ProjectionFailed
from services.gateway.catalogue import Catalogue, CatalogueCopy
from services.gateway.service import GatewayService
from services.labs.schemas import LabCreate
from services.labs.service import LabsService
from services.registry.service import RegistryService
from services.surveys.service import SurveysService
from tests.labs.builders import SESSIONS
from tests.labs.conftest import learn
from tests.support import Gateway, RelayProcess, eventually
from tests.surveys.conftest import THEMES, needs_assessment, settle_surveys
from tests.surveys.conftest import surveys  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration


def copy_of(runner) -> Catalogue:
    container = next(c for c in runner.containers if c.service_name == "gateway")
    return get_extension(container, CatalogueCopy).models


def caught_up(catalogue: Catalogue, labs, surveys) -> bool:
    return (catalogue.current and catalogue.labs.position >= labs.last_position()
            and catalogue.priorities.position >= surveys.last_position())


def lab(labs, title: str, ats: str = "bergamo", capacity: int = 2) -> str:
    return labs.create_lab(LabCreate().load({
        "title": title, "ats": ats, "capacity": capacity, "themes": ["co-programmazione"],
        "modules": [{"title": "Modulo DEMO", "sessions": SESSIONS}]}))["id"]


def priorities_published(surveys, registry, territory) -> str:
    """A closed needs assessment of two Ambiti of ATS Bergamo: surveys publishes its priorities."""
    heads = []
    for _ in range(2):
        ambito = territory.ambito("bergamo")
        heads.append((ambito, territory.person(ambito)))
    survey = surveys.create_survey(needs_assessment())
    surveys.transition(survey["id"], "open")
    settle_surveys(surveys, registry)
    for ambito, head in heads:
        surveys.respond(survey["id"], {"priorita": THEMES}, ambito=ambito, person=head)
    surveys.transition(survey["id"], "close")
    return survey["id"]


@pytest.fixture
def platform(runner_factory, nameko_config):
    relay = RelayProcess("labs", "surveys").start()
    runner = runner_factory(nameko_config, RegistryService, LabsService, SurveysService, GatewayService)
    runner.start()
    yield runner, f"http://{nameko_config['WEB_SERVER_ADDRESS']}"
    runner.stop()
    relay.stop()


def test_the_gateways_copy_holds_the_rows_labs_answers_with_through_a_labs_whole_life(
        platform, nameko_config, labs, surveys, registry, territory):
    runner, base_url = platform
    ambito = territory.ambito()
    people = [territory.person(ambito) for _ in range(5)]
    learn(labs, registry)
    survey_id = priorities_published(surveys, registry, territory)

    full = lab(labs, "DEMO – Laboratorio pieno")
    labs.transition(full, "publish")
    for person in people[:4]:  # two confirmed, two waiting
        labs.enrol(full, person)
    labs.withdraw(full, people[0])  # the first waiting takes the seat
    labs.withdraw(full, people[3])  # the second leaves the waiting list
    labs.enrol(full, people[0])  # back, waiting
    draft = lab(labs, "DEMO – Laboratorio in bozza", ats="brescia")
    cancelled = lab(labs, "DEMO – Laboratorio annullato", ats="pavia")
    labs.transition(cancelled, "publish")
    labs.enrol(cancelled, people[4])
    labs.transition(cancelled, "cancel", "DEMO")

    catalogue = copy_of(runner)
    eventually(lambda: caught_up(catalogue, labs, surveys), timeout=30)
    with ClusterRpcProxy({"AMQP_URI": nameko_config["AMQP_URI"]}) as rpc:
        def same_rows():
            answered = rpc.labs.list_labs()
            assert catalogue.list() == answered
            return answered

        answered = eventually(same_rows)  # labs' own read model is caught up too
        for lab_id in (full, draft, cancelled):
            assert catalogue.lab(lab_id) == rpc.labs.get_lab(lab_id)
        for filters in (("bergamo", None, None), (None, "published", None), (None, None, "co-programmazione"),
                        (None, "cancelled", None), ("milano", None, None)):
            assert catalogue.list(*filters) == rpc.labs.list_labs(*filters)
        for person in people:
            seats = {e["lab_id"] for e in rpc.labs.person_labs(person) if e["status"] == "confirmed"}
            assert catalogue.confirmed_labs(person) == seats

    rows = {row["id"]: row for row in answered}
    assert (rows[full]["enrolled"], rows[full]["waitlisted"], rows[full]["seats_left"]) == (2, 1, 0)
    assert rows[full]["ats_priorities"]["survey_id"] == survey_id and rows[draft]["ats_priorities"] is None
    assert (rows[cancelled]["status"], rows[draft]["status"]) == ("cancelled", "draft")
    staff = Gateway.as_role(base_url, "staff")
    assert staff.get(f"/labs/{full}").json() == rows[full]
    assert staff.get("/labs").json() == answered
    public = Gateway(base_url).get("/catalogue/labs").json()
    assert [row["id"] for row in public] == [row["id"] for row in answered if row["status"] != "draft"]
    assert all(s.get("online_link") is None for row in public for m in row["modules"] for s in m["sessions"])
    theirs = Gateway.as_role(base_url, "participant", sub=people[1]).get("/labs").json()
    assert next(row for row in theirs if row["id"] == full)["modules"] == rows[full]["modules"]  # their links
    health = staff.get("/health").json()["catalogue"]
    assert health["status"] == "current" and health["labs"] >= 3


def test_reads_ask_labs_until_the_copy_has_caught_up_then_need_labs_no_more(
        runner_factory, nameko_config, labs, surveys, registry, territory):
    relay = RelayProcess("labs", "surveys").start()
    labs_runner = runner_factory(nameko_config, LabsService)
    labs_runner.start()
    runner = runner_factory(nameko_config, RegistryService, GatewayService)  # surveys not yet running
    runner.start()
    base_url = f"http://{nameko_config['WEB_SERVER_ADDRESS']}"
    staff, anyone = Gateway.as_role(base_url, "staff"), Gateway(base_url)
    catalogue = copy_of(runner)
    try:
        lab_id = lab(labs, "DEMO – Laboratorio letto due volte")
        labs.transition(lab_id, "publish")

        # The copy cannot catch up with surveys' priorities: every read asks labs, and is answered.
        assert staff.get("/health").json()["catalogue"]["status"] == "catching_up"
        assert not catalogue.current and catalogue.lab(lab_id) is None and catalogue.list() is None
        asked = eventually(lambda: staff.get(f"/labs/{lab_id}").json() if staff.get(f"/labs/{lab_id}").ok else None)
        assert asked["status"] == "published" and asked["seats_left"] == 2

        surveys_runner = runner_factory(nameko_config, SurveysService)
        surveys_runner.start()
        eventually(lambda: caught_up(catalogue, labs, surveys), timeout=30)
        assert staff.get("/health").json()["catalogue"]["status"] == "current"

        labs_runner.kill()  # labs is down: the catalogue is still read, from the copy
        assert staff.get(f"/labs/{lab_id}").json() == asked
        assert lab_id in [row["id"] for row in staff.get("/labs").json()]
        assert anyone.get(f"/catalogue/labs/{lab_id}").json()["title"] == "DEMO – Laboratorio letto due volte"
        # a lab the copy does not know is asked of labs, which does not answer
        assert staff.get("/labs/00000000-0000-0000-0000-000000000000").status_code == 503
        assert catalogue.current
    finally:
        runner.stop()
        relay.stop()


class Counted(MemoryProjection):
    name, source = "counted", "notes"

    def __init__(self):
        super().__init__()
        self.total = 0

    def on_note_counted(self, envelope):
        if envelope["data"]["n"] < 0:
            raise ValueError("no negative counts")
        self.total += envelope["data"]["n"]


def note(position: int, n: int) -> dict:
    return {"position": position, "type": "rebuilding.notes.note.counted.v1", "data": {"n": n}}


def test_a_read_model_in_memory_keeps_the_events_before_one_that_fails_and_its_position_there():
    counted = Counted()
    with counted.step("notes") as step:
        with pytest.raises(ProjectionFailed) as failed:
            counted.apply(step, [note(1, 2), note(2, 3), note(3, -1), note(4, 5)])
    assert failed.value.position == 3 and (counted.total, counted.position) == (5, 2)
    with counted.step("notes") as step:  # the next attempt starts after the last event applied
        assert counted.apply(step, [note(2, 3), note(3, 1), note(4, 5)]) == 2
    assert (counted.total, counted.position) == (11, 4)


def test_a_lab_that_is_not_a_uuid_is_not_in_the_copy():
    catalogue = Catalogue()
    assert catalogue.lab("not-a-lab") is None
    with pytest.raises(NotFound):
        with catalogue.changing("not-a-lab"):
            raise NotFound("no lab not-a-lab")
    assert catalogue.changing_labs == {}
