"""An anonymous outcome evaluation: who answered is known; what they answered cannot be joined to them."""

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from rebuilding import config
from rebuilding.errors import Conflict, Forbidden
from rebuilding.idempotency import Command, KeyReused, _command, scopes_of
from services.surveys.domain import ballot_key
from services.labs.application import LabsApplication
from services.labs.schemas import LabCreate
from tests.labs.builders import NOW, SESSIONS
from tests.labs.conftest import learn, settle
from tests.surveys.conftest import assert_matches_contracts, outcome_evaluation, settle_surveys

pytestmark = pytest.mark.integration


@pytest.fixture
def labs(database):
    app = LabsApplication()
    yield app
    app.close()


@pytest.fixture
def participants(labs, registry, territory, surveys):
    """Four DEMO participants of one lab, known to surveys through labs' events."""
    ambito = territory.ambito("bergamo")
    people = [territory.person(ambito, role="responsabile_servizi_sociali") for _ in range(4)]
    learn(labs, registry)
    lab = labs.create_lab(LabCreate().load({"title": "DEMO – Laboratorio", "ats": "bergamo", "capacity": 10,
                                            "modules": [{"title": "Modulo DEMO", "sessions": SESSIONS}]}))
    labs.transition(lab["id"], "publish")
    for person in people:
        labs.enrol(lab["id"], person, now=NOW)
    settle(labs)
    settle_surveys(surveys, registry, labs)
    return {"lab": lab["id"], "people": people}


def stored_events(survey_id: str) -> list[tuple[int, str, str]]:
    """Straight from the table: (notification id, topic, state as text) of the survey's events."""
    with psycopg.connect(config.database().conninfo()) as conn:
        return conn.execute(
            "SELECT notification_id, topic, convert_from(state, 'UTF8') FROM surveys.surveys_events"
            " WHERE originator_id = %s ORDER BY notification_id", (survey_id,)).fetchall()


def stored_rows(*schemas: str) -> dict[str, list[str]]:
    """Every row of every table of those schemas (that exist), each as one text; bytes read as escaped text."""
    rows: dict[str, list[str]] = {}
    with psycopg.connect(config.database().conninfo()) as conn:
        tables = conn.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE"
                              " table_schema = ANY(%s) AND table_type = 'BASE TABLE'", (list(schemas),)).fetchall()
        for schema, table in tables:
            columns = conn.execute("SELECT column_name, data_type FROM information_schema.columns"
                                   " WHERE table_schema = %s AND table_name = %s", (schema, table)).fetchall()
            cells = [SQL("encode({}, 'escape')" if kind == "bytea" else "{}::text").format(Identifier(name))
                     for name, kind in columns]
            query = SQL("SELECT concat_ws(' | ', {}) FROM {}.{}").format(SQL(", ").join(cells), Identifier(schema),
                                                                        Identifier(table))
            rows[f"{schema}.{table}"] = [r[0] for r in conn.execute(query)]
    assert "surveys.command_outcomes" in rows and "surveys.surveys_events" in rows
    return rows


def respond_as_nameko_does(surveys, survey_id: str, person: str, key: str, answers: dict, secret=None):
    """``respond`` as the RPC runs it within a gateway request: with the caller's idempotency key."""
    payload = {"answers": answers, **({"secret": secret} if secret else {})}

    def respond(survey_id, payload, ambito=None, person=None):
        return surveys.respond(survey_id, payload["answers"], ambito, person, payload.get("secret"))

    command = Command(surveys, "surveys", key=key, caller=person)
    token = _command.set(command)
    try:
        return command.run("respond", respond, (survey_id, payload), {"person": person})
    finally:
        _command.reset(token)


def test_no_stored_row_of_any_table_joins_a_person_to_an_anonymous_answer_or_its_secret(
        surveys, registry, labs, participants, unique):
    definition = outcome_evaluation([participants["lab"]])
    definition["questions"].append({"id": "nota", "type": "text", "text": "Osservazioni"})
    survey_id = surveys.create_survey(definition)["id"]
    surveys.transition(survey_id, "open")
    people = participants["people"]
    texts = {person: f"Nota DEMO {unique} n. {n}" for n, person in enumerate(people)}
    secrets, keys = {}, {}
    for score, person in zip((5, 4, 2, 1), people):
        keys[person] = f"chiave-{unique}-{person}"
        given = respond_as_nameko_does(surveys, survey_id, person, keys[person],
                                       {"utilita": score, "nota": texts[person]})
        assert given["version"] == 1 and given["answers"]["nota"] == texts[person]  # the respondent gets it all
        secrets[person] = given["secret"]
    amender = people[3]
    amendment = f"Nota DEMO {unique} corretta"
    amended = respond_as_nameko_does(surveys, survey_id, amender, f"modifica-{unique}",
                                     {"utilita": 3, "nota": amendment}, secrets[amender])
    assert amended["version"] == 2

    # the same requests again (a redelivery, a client's retry): received, counted once, the secret not shown again
    events = len(stored_events(survey_id))
    again = respond_as_nameko_does(surveys, survey_id, people[0], keys[people[0]],
                                   {"utilita": 5, "nota": texts[people[0]]})
    assert again == {"survey_id": survey_id, "anonymous": True, "repeated": True, "message": again["message"]}
    assert "shown only once" in again["message"] and "counts" in again["message"]
    amended_again = respond_as_nameko_does(surveys, survey_id, amender, f"modifica-{unique}",
                                           {"utilita": 3, "nota": amendment}, secrets[amender])
    assert amended_again["repeated"] is True and "answers" not in amended_again and "version" not in amended_again
    with psycopg.connect(config.database().conninfo()) as conn:  # killed after deciding, before its answer was kept
        deleted = conn.execute("DELETE FROM surveys.command_outcomes WHERE caller = %s AND key = %s AND step = 0",
                               scopes_of(people[1], keys[people[1]]).withheld)
        assert deleted.rowcount == 1
    redelivered = respond_as_nameko_does(surveys, survey_id, people[1], keys[people[1]],
                                         {"utilita": 4, "nota": texts[people[1]]})
    assert redelivered["repeated"] is True and "secret" not in redelivered
    assert len(stored_events(survey_id)) == events
    assert surveys.my_response(survey_id, person=amender, secret=secrets[amender])["version"] == 2
    with pytest.raises(KeyReused):  # the key still names its request: another method under it is refused
        command = Command(surveys, "surveys", key=keys[people[0]], caller=people[0])
        command.run("transition", lambda *a: pytest.fail("ran"), (survey_id, "close"), {})

    answers = [*texts.values(), amendment]
    codes = [*secrets.values(), *(ballot_key(s) for s in secrets.values())]

    def assert_nothing_joins(rows: dict[str, list[str]]) -> None:
        for table, texts_of_rows in rows.items():
            for row in texts_of_rows:
                names_someone = any(person in row for person in people)
                carries = [marker for marker in answers + codes if marker in row]
                assert not (names_someone and carries), (table, row)
            # nor does any table tell who amended: the amender is named as often as anyone else
            assert len({sum(person in row for row in texts_of_rows) for person in people}) == 1, table

    assert_nothing_joins(stored_rows("surveys", "gateway"))
    surveys.transition(survey_id, "close")
    after_close = stored_rows("surveys", "gateway")
    assert_nothing_joins(after_close)
    released = [r for r in after_close["surveys.surveys_events"] if "AnonymousAnswersReleased" in r and survey_id in r]
    assert len(released) == 1 and amendment in released[0] and texts[people[0]] in released[0]


def test_a_named_answer_repeated_with_its_key_is_answered_in_full_as_before(surveys, registry, labs, participants):
    survey_id = surveys.create_survey(outcome_evaluation([participants["lab"]], anonymous=False))["id"]
    surveys.transition(survey_id, "open")
    person = participants["people"][0]
    first = respond_as_nameko_does(surveys, survey_id, person, "una-chiave", {"utilita": 4})
    assert respond_as_nameko_does(surveys, survey_id, person, "una-chiave", {"utilita": 4}) == first
    assert first["answers"] == {"utilita": 4} and first["version"] == 1
    with pytest.raises(KeyReused):
        respond_as_nameko_does(surveys, survey_id, person, "una-chiave", {"utilita": 2})


def test_no_stored_event_joins_an_anonymous_answer_to_its_person(surveys, registry, labs, participants):
    survey_id = surveys.create_survey(outcome_evaluation([participants["lab"]]))["id"]
    surveys.transition(survey_id, "open")
    secrets = {}
    for score, person in zip((5, 4, 2, 1), participants["people"]):
        given = surveys.respond(survey_id, {"utilita": score, "formato": "online"}, person=person)
        secrets[person] = given["secret"]
    amended = surveys.respond(survey_id, {"utilita": 3, "formato": "presenza"}, person=participants["people"][3],
                              secret=secrets[participants["people"][3]])
    assert amended["version"] == 2

    before_close = stored_events(survey_id)
    assert not any('"utilita"' in state and '"answers"' in state for _, _, state in before_close)
    surveys.transition(survey_id, "close")
    events = stored_events(survey_id)

    for _, topic, state in events:
        names_someone = any(person in state for person in participants["people"])
        carries_answers = '"answers"' in state
        assert not (names_someone and carries_answers), topic
    released = [state for _, topic, state in events if topic.endswith("AnonymousAnswersReleased")]
    assert len(released) == 1  # every answer at once, at the close: one time, no order of arrival
    assert sum(f'"utilita":{v}' in released[0].replace(" ", "") for v in (5, 4, 2, 3)) == 4
    with psycopg.connect(config.database().conninfo()) as conn:
        assert conn.execute("SELECT count(*) FROM surveys.sealed_ballots WHERE survey_id = %s",
                            (survey_id,)).fetchone()[0] == 0
        columns = {r[0] for r in conn.execute("SELECT column_name FROM information_schema.columns"
                                              " WHERE table_schema = 'surveys' AND table_name = 'sealed_ballots'")}
    assert columns == {"key", "survey_id", "versions", "labs", "ats"}  # no person, no time

    assert assert_matches_contracts(surveys, survey_id) == len(events)
    rate = surveys.response_rate(survey_id)
    assert rate["answered"] == 4 and rate["expected"] == 4
    results = surveys.results(survey_id)["questions"][0]
    assert results["distribution"] == {"1": 0, "2": 1, "3": 1, "4": 1, "5": 1}
    assert results["positive_share"] == 0.5
    assert results["by_lab"][participants["lab"]]["answers"] == 4
    export = surveys.export_rows(survey_id)
    assert all(row["respondent"] is None and "answered_by" not in row for row in export["rows"])


def test_an_anonymous_answer_is_amended_and_read_only_with_its_secret(surveys, registry, labs, participants):
    survey_id = surveys.create_survey(outcome_evaluation([participants["lab"]]))["id"]
    surveys.transition(survey_id, "open")
    alice, bob = participants["people"][:2]
    secret = surveys.respond(survey_id, {"utilita": 5}, person=alice)["secret"]
    surveys.respond(survey_id, {"utilita": 1}, person=bob)
    with pytest.raises(Conflict):
        surveys.respond(survey_id, {"utilita": 4}, person=alice)
    with pytest.raises(Forbidden):
        surveys.respond(survey_id, {"utilita": 4}, person=alice, secret="guessed")
    surveys.respond(survey_id, {"utilita": 4}, person=alice, secret=secret)
    mine = surveys.my_response(survey_id, person=alice, secret=secret)
    assert mine["answers"] == {"utilita": 4} and mine["history"] == [{"utilita": 5}]
    with pytest.raises(Forbidden):
        surveys.my_response(survey_id, person=alice)
    with pytest.raises(Conflict):
        surveys.results(survey_id)
    surveys.transition(survey_id, "close")
    assert surveys.my_response(survey_id, person=alice, secret=secret)["answers"] == {"utilita": 4}
    with pytest.raises(Conflict) as too_few:  # two answers, and the response rate names both who answered
        surveys.export_rows(survey_id)
    assert too_few.value.details == {"reason": "too_few"}
    assert surveys.text_answers(survey_id)["withheld"] is True


def test_only_participants_of_the_surveys_labs_answer_it(surveys, registry, labs, participants, territory):
    survey_id = surveys.create_survey(outcome_evaluation([participants["lab"]], anonymous=False))["id"]
    surveys.transition(survey_id, "open")
    stranger = territory.person(territory.ambito("bergamo"), role="responsabile_servizi_sociali")
    settle_surveys(surveys, registry, labs)
    with pytest.raises(Forbidden):
        surveys.respond(survey_id, {"utilita": 5}, person=stranger)
    named = surveys.respond(survey_id, {"utilita": 5}, person=participants["people"][0])
    assert named["version"] == 1
    rate = surveys.response_rate(survey_id)
    assert rate["answered"] == 1
    assert sorted(m["respondent"] for g in rate["by_ats"] for m in g["missing"]) == sorted(participants["people"][1:])


def test_a_start_of_the_service_removes_records_of_anonymous_answers_kept_before_they_were_withheld(surveys):
    table = SQL("{}.{}").format(Identifier("surveys"), Identifier("command_outcomes"))
    legacy = '{"survey_id": "s", "anonymous": true, "answers": {"q1": 5}, "version": 1, "secret": "x"}'
    named = '{"survey_id": "s", "anonymous": false, "answers": {"q1": 5}, "version": 1}'
    with psycopg.connect(config.database().conninfo(), autocommit=True) as conn:
        for caller, outcome in (("person-legacy", legacy), ("person-named", named)):
            conn.execute(SQL("INSERT INTO {} (caller, key, step, fingerprint, outcome) VALUES (%s, %s, 0, 'f', %s)")
                         .format(table), (caller, f"key-{caller}", outcome))
        again = type(surveys)()
        again.close()
        callers = {row[0] for row in conn.execute(SQL("SELECT caller FROM {}").format(table))}
    assert "person-legacy" not in callers
    assert "person-named" in callers
