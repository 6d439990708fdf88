"""A needs assessment end to end: answered by Ambito tokens through the gateway, closed, and its
ranking shown next to the labs of each ATS, on real RabbitMQ and PostgreSQL."""

import pytest

from services.gateway.service import GatewayService
from services.labs.service import LabsService
from services.registry.service import RegistryService
from services.surveys.service import SurveysService
from tests.labs.builders import SESSIONS
from tests.support import Gateway, RelayProcess, eventually
from tests.surveys.conftest import THEMES, needs_assessment

pytestmark = pytest.mark.integration


@pytest.fixture
def gateway(runner_factory, nameko_config):
    runner_factory(nameko_config, RegistryService, LabsService, SurveysService, GatewayService).start()
    relay = RelayProcess("registry", "labs", "surveys").start()
    yield f"http://{nameko_config['WEB_SERVER_ADDRESS']}"
    relay.stop()


def test_the_ambitis_ranking_reaches_the_labs_of_their_ats_and_the_kpis(gateway, registry, territory):
    staff = Gateway.as_role(gateway, "staff")
    heads = []
    for ats in ("bergamo", "bergamo", "brescia"):
        ambito = territory.ambito(ats)
        heads.append((ambito, territory.person(ambito)))
    a, b, c, d = THEMES
    covering = staff.post("/labs", {"title": "DEMO – Laboratorio sui contratti", "ats": "bergamo", "capacity": 5,
                                    "themes": [a], "modules": [{"title": "Modulo DEMO", "sessions": SESSIONS}]})
    elsewhere = staff.post("/labs", {"title": "DEMO – Laboratorio sulle reti", "ats": "bergamo", "capacity": 5,
                                     "themes": ["reti-inter-ambito"],
                                     "modules": [{"title": "Modulo DEMO", "sessions": SESSIONS}]})
    assert covering.status_code == elsewhere.status_code == 201, covering.text

    definition = needs_assessment()
    survey = staff.post("/surveys", definition)
    assert survey.status_code == 201, survey.text
    survey_id = survey.json()["id"]
    assert staff.request("PATCH", f"/surveys/{survey_id}", json={"title": "DEMO – Fabbisogni 2026"}).status_code == 200
    assert staff.post(f"/surveys/{survey_id}/open").json()["status"] == "open"
    assert staff.request("PATCH", f"/surveys/{survey_id}", json={"questions": []}).status_code == 409

    rankings = [[a, b, c, d], [a, c], [d, c, b, a]]
    for (ambito, head), ranking in zip(heads, rankings):
        token = Gateway.as_role(gateway, "ambito", sub=head, ambito=ambito)
        eventually(lambda: survey_id in {s["id"] for s in token.get("/surveys", params={"per_page": 200}).json()})

        def answered():
            response = token.request("PUT", f"/surveys/{survey_id}/responses/mine", json={"answers": {"priorita": ranking}})
            assert response.status_code == 200, response.text  # surveys may not yet have heard of the Ambito
            return response

        eventually(answered, timeout=30)
        assert token.get(f"/surveys/{survey_id}/responses/mine").json()["answers"] == {"priorita": ranking}
    impostor = Gateway.as_role(gateway, "ambito", sub=heads[1][1], ambito=heads[0][0])
    refused = impostor.request("PUT", f"/surveys/{survey_id}/responses/mine", json={"answers": {"priorita": [a]}})
    assert refused.status_code == 403 and refused.json()["error"]

    rate = staff.get(f"/surveys/{survey_id}/response-rate").json()
    for ambito, _ in heads:
        assert not any(m["respondent"] == ambito for g in rate["by_ambito"] for m in g["missing"])

    assert staff.post(f"/surveys/{survey_id}/close").json()["status"] == "closed"
    results = Gateway.as_role(gateway, "ambito", sub="x", ambito=heads[2][0]).get(
        f"/surveys/{survey_id}/results", params={"scope": "ats:bergamo"})
    assert results.status_code == 200
    assert results.json()["questions"][0]["ranking"]["schulze"]["order"] == [[a], [b, c], [d]]

    def priorities_beside_the_labs():
        labs = staff.get("/labs", params={"ats": "bergamo"}).json()
        assert labs and all(lab["ats_priorities"] and lab["ats_priorities"]["survey_id"] == survey_id
                            for lab in labs), labs
        return labs

    labs = eventually(priorities_beside_the_labs, timeout=30)
    assert labs[0]["ats_priorities"]["ranking"] == [[a], [b, c], [d]]
    assert labs[0]["ats_priorities"]["top_three"] == [a, b, c]
    coverage = staff.get("/programme/kpis").json()["priorities_coverage"]
    assert coverage["bergamo"]["top_three"] == [a, b, c]
    assert coverage["bergamo"]["covering"] >= 1 and coverage["bergamo"]["labs"] >= 2
    assert coverage["brescia"]["top_three"] == [d, c, b]
