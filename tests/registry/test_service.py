"""The registry service's rules on real PostgreSQL, through its nameko entrypoints."""

import json
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import eventlet
import jsonschema
import pytest
from eventsourcing.persistence import IntegrityError
from nameko.testing.services import entrypoint_hook
from nameko.testing.utils import get_extension

from rebuilding.errors import Conflict, Forbidden, Invalid, NotFound, Refused
from rebuilding.nameko_ext import EventStore
from services.registry.application import RegistryApplication
from services.registry.domain import comune_id
from services.registry.service import RegistryService
from tests.support import eventually

pytestmark = pytest.mark.integration

CONTRACTS = Path(__file__).resolve().parents[2]
PROVINCE_TOTALS = {"BG": 243, "BS": 205, "PV": 186, "CO": 148, "VA": 138, "MI": 133,
                   "CR": 113, "LC": 84, "SO": 77, "MN": 64, "LO": 60, "MB": 55}


class Registry:
    def __init__(self, container):
        self.container = container
        self.app = get_extension(container, EventStore).app

    def __getattr__(self, name):
        def call(*args, **kwargs):
            with entrypoint_hook(self.container, name) as hook:
                return hook(*args, **kwargs)
        return call

    def events(self) -> int:
        return self.app.last_position()


@pytest.fixture
def registry(container_factory, nameko_config):
    container = container_factory(RegistryService, nameko_config)
    container.start()
    registry = Registry(container)
    registry.app.seed()
    return registry


def soon(check):
    """``eventually``, for read models that may not have heard of a new record yet."""
    def attempt():
        try:
            return check()
        except NotFound as missing:
            raise AssertionError(str(missing)) from None
    return eventually(attempt)


def ambito(registry, unique, ats="bergamo", capofila=None, label="A"):
    return registry.create_ambito({"name": f"Ambito DEMO {label} {unique}", "ats": ats, "capofila_istat": capofila})["id"]


def member_codes(registry, ambito_id):
    return sorted(c["istat_code"] for c in registry.get_ambito(ambito_id)["comuni"])


def ambito_named(registry, ats, name):
    found = [a for a in registry.list_ambiti(ats) if a["name"] == name]
    assert len(found) == 1, found
    return found[0]


def mapping(*rows):
    return "istat_code,ats,ambito,capofila\n" + "".join(",".join(row) + "\n" for row in rows)


def test_the_seed_registers_1506_lombard_comuni_1042_piccoli_and_the_readme_province_totals(registry):
    def counted():
        assert registry.list_comuni({"per_page": 1})["total"] == 1506
        return True

    soon(counted)
    assert registry.list_comuni({"piccolo": "true", "per_page": 1})["total"] == 1042
    for province, total in PROVINCE_TOTALS.items():
        assert registry.list_comuni({"province": province, "per_page": 1})["total"] == total, province


def test_seeding_again_adds_no_event(registry):
    before = registry.events()
    assert registry.app.seed() == {"registered": 0, "already_registered": 1506}
    assert registry.events() == before


def test_an_ats_shows_its_territory_and_counts(registry, unique):
    ambito(registry, unique, ats="pavia")

    def counted():
        pavia = registry.get_ats("pavia")
        assert pavia["comuni"] == 186 and pavia["ambiti"] >= 1, pavia
        return pavia

    pavia = soon(counted)
    assert pavia["name"] == "ATS di Pavia" and pavia["provinces"] == ["PV"]
    montagna = registry.get_ats("montagna")
    assert montagna["provisional_districts"] == ["Medio Alto Lario", "Valle Camonica"]
    assert registry.get_ats("brescia")["comuni_provisional"] == 205
    with pytest.raises(NotFound):
        registry.get_ats("lazio")


def test_comuni_search_by_name_is_paginated_and_credits_the_province(registry):
    page = soon(lambda: registry.list_comuni({"q": "bergamo", "per_page": 2}))
    assert page["total"] >= 1
    first = registry.list_comuni({"q": "san", "ats": "bergamo", "per_page": 5, "page": 1})
    second = registry.list_comuni({"q": "san", "ats": "bergamo", "per_page": 5, "page": 2})
    assert first["total"] == second["total"] > 5
    assert not {c["istat_code"] for c in first["items"]} & {c["istat_code"] for c in second["items"]}
    assert registry.get_comune("016024")["province_abbr"] == "BG"
    with pytest.raises(NotFound):
        registry.get_comune("999999")
    with pytest.raises(Invalid) as invalid:
        registry.list_comuni({"per_page": 1000, "piccolo": "forse"})
    assert set(invalid.value.details) == {"per_page", "piccolo"}


def test_an_ambito_with_its_capofila_lists_its_comuni_population_and_piccoli(registry, unique):
    ambito_id = ambito(registry, unique, capofila="016001")
    assert registry.assign_comuni(ambito_id, {"istat_codes": ["016002", "016003"]})["assigned"] == ["016002", "016003"]

    shown = soon(lambda: (a := registry.get_ambito(ambito_id))["comuni_count"] == 3 and a)
    populations = [registry.get_comune(code)["population"] for code in ("016001", "016002", "016003")]
    assert shown["population"] == sum(populations)
    assert shown["piccoli_comuni"] == sum(p <= 5000 for p in populations)
    assert shown["ufficio_di_piano"]["capofila"]["istat_code"] == "016001"
    assert shown["ufficio_di_piano"]["name"].startswith("Ufficio di Piano")


def test_a_comune_already_in_an_ambito_cannot_join_a_second(registry, unique):
    first, second = ambito(registry, unique, label="A"), ambito(registry, unique, label="B")
    registry.assign_comuni(first, {"istat_codes": ["016011"]})
    with pytest.raises(Conflict) as refusal:
        registry.assign_comuni(second, {"istat_codes": ["016012", "016011"]})
    assert refusal.value.details["istat_code"] == "016011"
    assert soon(lambda: member_codes(registry, first) == ["016011"])
    assert member_codes(registry, second) == []  # all or none: 016012 did not join either


def test_a_comune_moves_only_when_asked_and_then_leaves_its_old_ambito(registry, unique):
    first, second = ambito(registry, unique, label="A"), ambito(registry, unique, label="B")
    registry.assign_comuni(first, {"istat_codes": ["016013"]})
    registry.assign_comuni(second, {"istat_codes": ["016013"], "move": True})
    soon(lambda: member_codes(registry, second) == ["016013"])
    assert member_codes(registry, first) == []


def test_a_comune_of_another_ats_or_a_closed_ambito_is_refused(registry, unique):
    bergamo = ambito(registry, unique)
    with pytest.raises(Refused) as refusal:
        registry.assign_comuni(bergamo, {"istat_codes": ["018001"]})
    assert refusal.value.details["reason"] == "ats_mismatch"
    registry.dissolve_ambito(bergamo)
    with pytest.raises(Refused) as refusal:
        registry.assign_comuni(bergamo, {"istat_codes": ["016014"]})
    assert refusal.value.details["reason"] == "ambito_closed"


def test_the_capofila_cannot_leave_its_ambito(registry, unique):
    ambito_id = ambito(registry, unique, capofila="016015")
    with pytest.raises(Refused):
        registry.unassign_comune(ambito_id, "016015")
    other = ambito(registry, unique, label="B")
    with pytest.raises(Refused):
        registry.assign_comuni(other, {"istat_codes": ["016015"], "move": True})


def test_merging_moves_every_comune_and_closes_the_absorbed_ambito(registry, unique):
    absorbed = ambito(registry, unique, capofila="016016", label="A")
    survivor = ambito(registry, unique, capofila="016017", label="B")
    registry.assign_comuni(absorbed, {"istat_codes": ["016018"]})
    merged = registry.merge_ambito(absorbed, {"into_ambito_id": survivor})
    assert sorted(merged["moved"]) == ["016016", "016018"]
    soon(lambda: member_codes(registry, survivor) == ["016016", "016017", "016018"])
    shown = registry.get_ambito(absorbed)
    assert (shown["status"], shown["merged_into"], shown["comuni"]) == ("merged", survivor, [])
    assert absorbed not in {a["id"] for a in registry.list_ambiti("bergamo")}


def test_dissolving_releases_the_comuni(registry, unique):
    ambito_id = ambito(registry, unique, capofila="016019")
    registry.assign_comuni(ambito_id, {"istat_codes": ["016020"]})
    assert sorted(registry.dissolve_ambito(ambito_id)["released"]) == ["016019", "016020"]
    soon(lambda: registry.get_comune("016020")["ambito_id"] is None)
    assert registry.get_ambito(ambito_id)["status"] == "dissolved"


def test_renaming_an_ambito_keeps_its_id(registry, unique):
    ambito_id = ambito(registry, unique)
    registry.rename_ambito(ambito_id, {"name": f"Ambito DEMO rinominato {unique}"})
    soon(lambda: registry.get_ambito(ambito_id)["name"] == f"Ambito DEMO rinominato {unique}")
    with pytest.raises(Invalid):
        registry.rename_ambito(ambito_id, {"name": ""})
    with pytest.raises(NotFound):
        registry.rename_ambito("not-an-id", {"name": "DEMO"})


def test_an_ambitos_membership_reads_as_of_any_moment(registry, unique):
    ambito_id = ambito(registry, unique)
    registry.assign_comuni(ambito_id, {"istat_codes": ["016021"]})
    with_one = datetime.now(UTC)
    registry.assign_comuni(ambito_id, {"istat_codes": ["016022"]})
    with_two = datetime.now(UTC)
    registry.unassign_comune(ambito_id, "016021")

    def as_of(moment):
        return [c["istat_code"] for c in registry.ambito_membership(ambito_id, {"as_of": moment.isoformat()})["comuni"]]

    soon(lambda: as_of(datetime.now(UTC)) == ["016022"])
    assert as_of(with_one) == ["016021"]
    assert sorted(as_of(with_two)) == ["016021", "016022"]
    assert as_of(datetime(2020, 1, 1, tzinfo=UTC)) == []


def test_an_import_applies_good_rows_reports_each_rejected_one_and_a_second_run_changes_nothing(registry, unique):
    name = f"Ambito DEMO Pavese {unique}"
    text = mapping(
        ("018002", "pavia", name, "1"),
        ("018003", "pavia", name, ""),
        ("999999", "pavia", name, ""),                            # unknown code
        ("018004", "pavia", name, ""), ("018004", "pavia", f"{name} bis", ""),  # in two Ambiti
        ("018005", "milano", name, ""),                           # wrong ATS for Pavia
        ("017005", "montagna", f"Ambito DEMO Camuno {unique}", "x"),  # Valle Camonica: allowed
    )
    report = registry.import_mapping(text)
    assert [(r["line"], r["reason"]) for r in report["rejected"]] == [
        (4, "unknown_code"), (5, "comune_in_two_ambiti"), (6, "comune_in_two_ambiti"), (7, "ats_mismatch")]
    assert report["applied"] == 3 and report["events"] > 0

    before = registry.events()
    again = registry.import_mapping(text)
    assert again["events"] == 0 and registry.events() == before
    assert again["rejected"] == report["rejected"]

    pavese = soon(lambda: ambito_named(registry, "pavia", name))
    soon(lambda: member_codes(registry, pavese["id"]) == ["018002", "018003"])
    assert registry.get_ambito(pavese["id"])["capofila_istat"] == "018002"
    camuno = soon(lambda: registry.get_comune("017005")["ats_provisional"] is False and registry.get_comune("017005"))
    assert camuno["ats"] == "montagna"


def test_an_import_finds_an_ambito_created_by_hand_by_its_name(registry, unique):
    ambito_id = ambito(registry, unique, ats="pavia", label="Lomellina")
    soon(lambda: any(a["id"] == ambito_id for a in registry.list_ambiti("pavia")))
    registry.import_mapping(mapping(("018006", "pavia", f"ambito demo lomellina {unique}", "")))
    soon(lambda: member_codes(registry, ambito_id) == ["018006"])


def test_a_mapping_without_its_columns_is_refused_as_a_whole(registry):
    with pytest.raises(Invalid):
        registry.import_mapping("codice;ambito\n")


def person(unique, role="operatore", **organisation):
    return {"name": "Persona DEMO", "email": f"demo.{unique}@example.org", "role": role, "organisation": organisation}


def test_a_comunes_person_carries_the_comune_its_ats_and_its_ambito(registry, unique):
    ambito_id = ambito(registry, unique, capofila="016023")
    registered = registry.register_person(person(unique, kind="comune", comune_istat="016023"))
    assert registered["organisation"] == {"kind": "comune", "name": f"Comune di {registry.get_comune('016023')['name']}",
                                          "ambito_id": ambito_id, "comune_istat": "016023", "ats": "bergamo"}
    assert registry.get_person(registered["id"])["email"] == f"demo.{unique}@example.org"


def test_an_email_belongs_to_one_person_whatever_its_case(registry, unique):
    registry.register_person(person(unique, kind="anci", role="staff_anci"))
    with pytest.raises(Conflict) as refusal:
        registry.register_person({**person(unique, kind="anci", role="staff_anci"),
                                  "email": f"DEMO.{unique}@Example.org"})
    assert "email" in refusal.value.details


def test_malformed_people_are_refused_field_by_field(registry):
    with pytest.raises(Invalid) as invalid:
        registry.register_person({"name": "", "email": "not-an-email", "role": "sindaco",
                                  "organisation": {"kind": "ufficio_di_piano"}})
    details = invalid.value.details
    assert set(details) == {"name", "email", "role", "organisation"}
    assert "ambito_id" in details["organisation"]


def test_a_role_must_fit_the_organisation(registry, unique):
    with pytest.raises(Refused) as refusal:
        registry.register_person(person(unique, role="referente_ats", kind="comune", comune_istat="016024"))
    assert refusal.value.details["reason"] == "role_not_in_organisation"
    with pytest.raises(NotFound):
        registry.register_person(person(unique, kind="comune", comune_istat="999999"))


def test_a_persons_role_and_organisation_read_as_of_any_moment(registry, unique):
    first = ambito(registry, unique, label="A")
    second = ambito(registry, unique, label="B")
    created = registry.register_person(person(unique, kind="ufficio_di_piano", ambito_id=first))
    as_operatore = datetime.now(UTC)
    registry.change_person(created["id"], {"role": "responsabile_ufficio_di_piano"})
    as_responsabile = datetime.now(UTC)
    moved = registry.change_person(created["id"], {"organisation": {"kind": "ufficio_di_piano", "ambito_id": second}})
    assert moved["organisation"]["ambito_id"] == second and len(moved["history"]) == 3

    then = registry.get_person(created["id"], {"as_of": as_operatore.isoformat()})
    assert (then["role"], then["organisation"]["ambito_id"]) == ("operatore", first)
    later = registry.get_person(created["id"], {"as_of": as_responsabile.isoformat()})
    assert (later["role"], later["organisation"]["ambito_id"]) == ("responsabile_ufficio_di_piano", first)
    with pytest.raises(NotFound):
        registry.get_person(created["id"], {"as_of": "2020-01-01"})


def test_an_ambitos_staff_change_only_their_own_ambitos_people(registry, unique):
    own, other = ambito(registry, unique, label="A"), ambito(registry, unique, label="B")
    ours = registry.register_person(person(unique, kind="ufficio_di_piano", ambito_id=own))
    theirs = registry.register_person(person(f"{unique}b", kind="ufficio_di_piano", ambito_id=other))
    assert registry.change_person(ours["id"], {"role": "responsabile_ufficio_di_piano"}, own)["role"] == "responsabile_ufficio_di_piano"
    with pytest.raises(Forbidden):
        registry.change_person(theirs["id"], {"role": "responsabile_ufficio_di_piano"}, own)
    with pytest.raises(Forbidden):
        registry.change_person(ours["id"], {"organisation": {"kind": "ufficio_di_piano", "ambito_id": other}}, own)
    assert registry.get_person(ours["id"])["organisation"]["ambito_id"] == own


def test_an_ambitos_staff_read_only_their_own_ambitos_people(registry, unique):
    own, other = ambito(registry, unique, label="A"), ambito(registry, unique, label="B")
    ours = registry.register_person(person(unique, kind="ufficio_di_piano", ambito_id=own))
    theirs = registry.register_person(person(f"{unique}b", kind="comune", comune_istat="016032"))
    everyone = {}
    assert registry.get_person(ours["id"], everyone, own)["id"] == ours["id"]
    assert registry.get_person(ours["id"], {"as_of": "2999-01-01"}, own)["id"] == ours["id"]
    with pytest.raises(Forbidden):
        registry.get_person(ours["id"], everyone, other)
    with pytest.raises(Forbidden):  # a Comune's person belongs to the Comune's Ambito, once it has one
        registry.get_person(theirs["id"], everyone, other)
    registry.assign_comuni(other, {"istat_codes": ["016032"]})
    assert registry.get_person(theirs["id"], everyone, other)["id"] == theirs["id"]
    assert registry.get_person(theirs["id"], everyone)["email"] == theirs["email"]  # no Ambito: staff, auditors
    with pytest.raises(NotFound):
        registry.get_person("3f1e6a39-0000-4000-8000-000000000000", everyone, own)


def test_a_token_is_revoked_once_and_listed_while_it_could_be_alive(registry, unique):
    revoked = registry.revoke_token({"jti": f"jti-{unique}", "reason": "laptop lost"}, "staff-member")
    assert (revoked["jti"], revoked["revoked_by"]) == (f"jti-{unique}", "staff-member")
    assert f"jti-{unique}" in registry.revoked_tokens()
    with pytest.raises(Conflict):
        registry.revoke_token({"jti": f"jti-{unique}", "reason": "again"}, "staff-member")
    with pytest.raises(Invalid):
        registry.revoke_token({"jti": "", "reason": "no id"}, "staff-member")
    listed = [r for r in registry.token_revocations() if r["jti"] == f"jti-{unique}"]
    assert listed == [{**revoked, "revoked_at": listed[0]["revoked_at"]}]
    assert listed[0]["reason"] == "laptop lost"


def test_every_event_others_consume_matches_its_published_contract(registry, unique):
    absorbed, survivor = ambito(registry, unique, capofila="016025", label="A"), ambito(registry, unique, label="B")
    registry.assign_comuni(survivor, {"istat_codes": ["016026", "016027"]})
    registry.change_capofila(survivor, {"istat_code": "016026"})
    registry.unassign_comune(survivor, "016027")
    registry.rename_ambito(survivor, {"name": f"Ambito DEMO C {unique}"})
    registry.merge_ambito(absorbed, {"into_ambito_id": survivor})
    registry.dissolve_ambito(survivor)
    registry.import_mapping(mapping(("017006", "brescia", f"Ambito DEMO Bresciano {unique}", "1")))
    someone = registry.register_person(person(unique, kind="comune", comune_istat="016027"))
    registry.change_person(someone["id"], {"role": "responsabile_servizi_sociali",
                                           "organisation": {"kind": "comune", "comune_istat": "016028"}})
    registry.revoke_token({"jti": f"contract-{unique}", "reason": "a test of the contract"}, "tester")

    seen = set()
    for envelope in registry.app.envelopes():
        if envelope["type"].split(".")[-3] == "email_claim":
            continue  # internal: keeps e-mail addresses unique
        path = CONTRACTS / envelope["dataschema"].lstrip("/")
        schema = json.loads(path.read_text())
        jsonschema.validate(envelope["data"], schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        seen.add(path.name)
    assert seen == {p.name for p in (CONTRACTS / "contracts/events/registry").glob("*.json")}


def outcomes(*commands):
    """Run commands at once; what each returned, or the Conflict it raised."""
    def attempt(command):
        try:
            return command()
        except Conflict as conflict:
            return conflict

    pool = eventlet.GreenPool()
    return list(pool.imap(attempt, commands))


@pytest.fixture
def other_instance(registry):
    """A second instance of the registry on the same event store, as a scaled-out deployment runs."""
    app = RegistryApplication()
    yield app
    app.close()


def test_two_instances_assigning_one_comune_at_once_leave_it_in_one_ambito(registry, other_instance, unique):
    first, second = ambito(registry, unique, label="A"), ambito(registry, unique, label="B")
    results = outcomes(lambda: registry.app.assign_comuni(first, ["016029"]),
                       lambda: other_instance.assign_comuni(second, ["016029"]))
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "dict"]
    winner = first if isinstance(results[0], dict) else second
    assert soon(lambda: registry.get_comune("016029")["ambito_id"] == winner)


def test_two_instances_registering_one_email_at_once_register_one_person(registry, other_instance, unique):
    organisation = {"kind": "anci", "name": None, "ambito_id": None, "comune_istat": None, "ats": None}
    results = outcomes(*(lambda app=app: app.register_person("Persona DEMO", f"race.{unique}@example.org", "staff_anci", organisation)
                         for app in (registry.app, other_instance)))
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "dict"]


def test_an_ambitos_staff_may_change_a_comunes_person_once_the_comune_has_joined_their_ambito(registry, unique):
    someone = registry.register_person(person(unique, kind="comune", comune_istat="016030"))
    assert someone["organisation"]["ambito_id"] is None
    ambito_id = ambito(registry, unique)
    with pytest.raises(Forbidden):
        registry.change_person(someone["id"], {"role": "responsabile_servizi_sociali"}, ambito_id)
    registry.assign_comuni(ambito_id, {"istat_codes": ["016030"]})
    changed = registry.change_person(someone["id"], {"role": "responsabile_servizi_sociali"}, ambito_id)
    assert changed["role"] == "responsabile_servizi_sociali"


def test_an_assignment_that_races_the_dissolution_of_its_ambito_cannot_be_saved(registry, unique):
    """What a second instance sees: its copy of the Ambito went stale while it decided."""
    ambito_id = ambito(registry, unique)
    stale = registry.app.repository.get(UUID(ambito_id))
    comune = registry.app.repository.get(comune_id("016031"))
    comune.assign(ambito_id)
    stale.take_in(["016031"])

    registry.dissolve_ambito(ambito_id)  # by another member of staff, at the same moment

    with pytest.raises(IntegrityError):
        registry.app.save(stale, comune)
    assert registry.app.repository.get(comune_id("016031")).ambito_id is None  # nothing half-written
    with pytest.raises(Refused):
        registry.assign_comuni(ambito_id, {"istat_codes": ["016031"]})  # decided again: refused
