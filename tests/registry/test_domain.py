"""The registry's aggregates and its reading of the ISTAT file, without a database."""

from pathlib import Path
from uuid import uuid4

import pytest

from rebuilding.errors import Conflict, Refused
from services.registry.domain import Ambito, Comune, Person, email_claim_id, require_ats_match
from services.registry.territory import istat_file, possible_ats, read_istat


def comune(istat_code="016024", province="BG", ats="bergamo", provisional=False):
    return Comune(istat_code=istat_code, name=f"Comune {istat_code}", province_abbr=province, province_name=province,
                  population=1000, piccolo=True, ats=ats, ats_provisional=provisional)


def ambito(ats="bergamo", capofila=None):
    return Ambito(id=uuid4(), name="Ambito DEMO", ats=ats, capofila_istat=capofila)


def organisation(kind, ambito_id=None):
    return {"kind": kind, "name": "DEMO", "ambito_id": ambito_id, "comune_istat": None, "ats": "bergamo"}


def test_the_istat_file_gives_lombardy_1506_comuni_1042_of_them_piccoli():
    comuni = read_istat()
    assert len(comuni) == 1506
    assert sum(c.piccolo for c in comuni) == 1042


def test_all_italy_has_7904_comuni_and_only_lombard_ones_have_an_ats():
    comuni = read_istat(all_italy=True)
    assert len(comuni) == 7904
    assert sum(c.ats is not None for c in comuni) == 1506


def test_only_comuni_of_brescia_and_como_have_a_provisional_ats():
    provisional = {c.province_abbr for c in read_istat() if c.ats_provisional}
    assert provisional == {"BS", "CO"}
    assert possible_ats("BS") == {"brescia", "montagna"}
    assert possible_ats("BG") == {"bergamo"}


def test_a_comune_already_in_an_ambito_cannot_join_a_second():
    c = comune()
    c.assign("ambito-1")
    with pytest.raises(Conflict) as refusal:
        c.assign("ambito-2")
    assert refusal.value.details["reason"] == "comune_in_another_ambito"
    assert c.ambito_id == "ambito-1"


def test_a_move_is_one_assigned_event_that_names_the_ambito_left():
    c = comune()
    c.assign("ambito-1")
    c.collect_events()
    assert c.assign("ambito-2", move=True)
    (moved,) = c.collect_events()
    assert type(moved).__qualname__ == "Comune.Assigned"
    assert (moved.ambito_id, moved.previous_ambito_id) == ("ambito-2", "ambito-1")


def test_assigning_a_comune_to_its_own_ambito_again_records_nothing():
    c = comune()
    c.assign("ambito-1")
    c.collect_events()
    assert c.assign("ambito-1") is False
    assert c.collect_events() == []


def test_a_comune_in_no_ambito_cannot_be_unassigned():
    with pytest.raises(Refused):
        comune().unassign()


def test_a_mapping_may_move_a_brescia_comune_to_ats_della_montagna_and_it_stops_being_provisional():
    c = comune("017001", "BS", "brescia", provisional=True)
    assert c.confirm_ats("montagna")
    assert (c.ats, c.ats_provisional) == ("montagna", False)
    assert c.confirm_ats("montagna") is False


def test_a_mapping_cannot_put_a_bergamo_comune_in_ats_di_pavia():
    with pytest.raises(Refused) as refusal:
        comune().confirm_ats("pavia")
    assert refusal.value.details["reason"] == "ats_mismatch"


def test_a_comune_joins_only_an_ambito_of_its_own_ats():
    with pytest.raises(Refused):
        require_ats_match(comune(), ambito("pavia"))


def test_the_capofila_must_be_a_comune_of_the_ambito():
    a, c = ambito(), comune()
    with pytest.raises(Refused):
        a.change_capofila(c)
    c.assign(str(a.id))
    assert a.change_capofila(c)
    assert a.capofila_istat == c.istat_code


def test_a_dissolved_ambito_refuses_every_further_command():
    a = ambito()
    a.dissolve()
    for command in (lambda: a.rename("Altro"), a.dissolve, lambda: a.merge_into(ambito()),
                    lambda: a.take_in(["016001"])):
        with pytest.raises(Refused) as refusal:
            command()
        assert refusal.value.details["reason"] == "ambito_closed"


def test_an_ambito_records_the_comuni_that_join_it_and_nothing_when_none_do():
    a = ambito()
    a.take_in([])
    a.take_in(["016001", "016002"])
    joined = [e for e in a.collect_events() if type(e).__name__ == "ComuniJoined"]
    assert [e.istat_codes for e in joined] == [["016001", "016002"]]


def test_ambiti_merge_only_within_one_ats_and_never_into_themselves():
    a = ambito()
    with pytest.raises(Refused):
        a.merge_into(ambito("pavia"))
    with pytest.raises(Refused):
        a.merge_into(a)
    survivor = ambito()
    a.merge_into(survivor)
    assert a.merged_into == str(survivor.id) and not a.active


def test_a_role_must_fit_its_organisation():
    with pytest.raises(Refused) as refusal:
        Person.register(name="DEMO", email="demo@example.org", role="referente_ats", organisation=organisation("comune"))
    assert refusal.value.details["reason"] == "role_not_in_organisation"


def test_a_change_of_role_and_organisation_together_is_judged_as_a_pair():
    person = Person.register(name="DEMO", email="d@example.org", role="operatore", organisation=organisation("comune"))
    with pytest.raises(Refused):
        person.change(role="referente_ats")
    person.change(role="referente_ats", organisation=organisation("ats"))
    kinds = [type(e).__qualname__ for e in person.collect_events()]
    assert kinds == ["Person.Registered", "Person.RoleChanged", "Person.OrganisationChanged"]


def test_an_email_claim_ignores_case_and_surrounding_spaces():
    assert email_claim_id(" Maria.Demo@Example.org ") == email_claim_id("maria.demo@example.org")


def test_a_clone_reads_the_istat_file_it_carries_unless_told_otherwise(monkeypatch, tmp_path):
    monkeypatch.delenv("REBUILDING_DATA_DIR", raising=False)
    shipped = istat_file()
    assert shipped.is_file() and Path(__file__).resolve().parents[2] in shipped.resolve().parents
    assert "Fonte: ISTAT" in (shipped.parent / "README.md").read_text()
    monkeypatch.setenv("REBUILDING_DATA_DIR", str(tmp_path))
    assert istat_file() == tmp_path / "comuni_istat_2020.csv"
