"""The registry through the gateway, as clients and other services see it: HTTP, tokens and published events."""

import json

import pytest

from services.gateway.service import GatewayService
from services.registry.application import RegistryApplication
from services.registry.service import RegistryService
from tests.support import Gateway, RelayProcess, eventually, outside_queue

pytestmark = pytest.mark.integration


@pytest.fixture
def gateway(runner_factory, nameko_config):
    RegistryApplication().seed()
    relay = RelayProcess("registry").start()
    runner = runner_factory(nameko_config, RegistryService, GatewayService)
    runner.start()
    yield f"http://{nameko_config['WEB_SERVER_ADDRESS']}"
    relay.stop()


@pytest.fixture
def staff(gateway):
    return Gateway.as_role(gateway, "staff")


@pytest.fixture
def listener(broker, unique):
    """A queue bound to the registry's exchange, as the labs service or any outside project binds one."""
    with outside_queue(broker, "registry", "registry.person.*", f"registry-listener-{unique}") as bound:
        yield bound


def patch(client, path, body):
    return client.request("PATCH", path, json=body)


def create_ambito(staff, unique, label="A", **extra):
    response = staff.post("/registry/ambiti", {"name": f"Ambito DEMO {label} {unique}", "ats": "insubria", **extra})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def shown(client, path, check):
    def attempt():
        response = client.get(path)
        assert response.status_code == 200, response.text
        assert check(response.json()), response.json()
        return response.json()
    return eventually(attempt)


def test_ats_and_comuni_are_browsable_by_any_role(gateway):
    auditor = Gateway.as_role(gateway, "auditor")
    ats = auditor.get("/registry/ats").json()
    assert [a["code"] for a in ats] == ["milano", "insubria", "brianza", "bergamo", "brescia", "val-padana", "pavia", "montagna"]
    insubria = shown(auditor, "/registry/ats/insubria", lambda a: a["comuni"] == 138 + 148)
    assert insubria["comuni_provisional"] == 148  # Como, until Medio Alto Lario is mapped
    page = auditor.get("/registry/comuni", params={"province": "VA", "piccolo": "true", "per_page": 10, "page": 2}).json()
    assert len(page["items"]) == 10 and page["page"] == 2
    assert all(c["province_abbr"] == "VA" and c["piccolo"] for c in page["items"])
    assert auditor.get("/registry/comuni/012133").json()["name"] == "Varese"
    assert auditor.get("/registry/ats/lazio").status_code == 404


def test_an_ambito_is_built_and_a_second_ambito_for_a_comune_is_a_clear_409(staff, unique):
    first = create_ambito(staff, unique, capofila_istat="012001")
    assert staff.post(f"/registry/ambiti/{first}/comuni", {"istat_codes": ["012002"]}).status_code == 200
    detail = shown(staff, f"/registry/ambiti/{first}", lambda a: a["comuni_count"] == 2)
    assert detail["ufficio_di_piano"]["capofila"]["istat_code"] == "012001"

    second = create_ambito(staff, unique, label="B")
    refused = staff.post(f"/registry/ambiti/{second}/comuni", {"istat_codes": ["012002"]})
    assert refused.status_code == 409
    body = refused.json()
    assert body["error"] == "conflict" and "012002" in body["message"]
    assert body["details"]["ambito_id"] == first
    assert "Traceback" not in refused.text


def test_only_staff_change_the_map_and_bad_input_is_a_400_per_field(gateway, staff, unique):
    ambito_id = create_ambito(staff, unique)
    ambito_token = Gateway.as_role(gateway, "ambito", ambito=ambito_id)
    assert ambito_token.post("/registry/ambiti", {"name": "Ambito DEMO", "ats": "pavia"}).status_code == 403
    assert ambito_token.post(f"/registry/ambiti/{ambito_id}/dissolve").status_code == 403
    bad = staff.post("/registry/ambiti", {"name": "", "ats": "lazio", "capofila_istat": "12"})
    assert bad.status_code == 400
    assert set(bad.json()["details"]) == {"name", "ats", "capofila_istat"}
    assert staff.get("/registry/ambiti/not-a-uuid").status_code == 404


def test_an_ambitos_membership_reads_as_of_a_date(staff, unique):
    ambito_id = create_ambito(staff, unique, capofila_istat="012003")
    today = shown(staff, f"/registry/ambiti/{ambito_id}/membership?as_of=2999-01-01", lambda m: m["comuni"])
    assert [c["istat_code"] for c in today["comuni"]] == ["012003"]
    assert staff.get(f"/registry/ambiti/{ambito_id}/membership?as_of=2020-01-01").json()["comuni"] == []
    assert staff.get(f"/registry/ambiti/{ambito_id}/membership?as_of=ieri").status_code == 400


def test_people_are_registered_read_and_changed_and_labs_hears_of_them_by_id(gateway, staff, listener, unique):
    own = create_ambito(staff, unique, label="A")
    other = create_ambito(staff, unique, label="B")
    body = {"name": "Giulia DEMO", "email": f"giulia.{unique}@example.org", "role": "operatore",
            "organisation": {"kind": "ufficio_di_piano", "ambito_id": own}}
    created = staff.post("/registry/people", body)
    assert created.status_code == 201, created.text
    person_id = created.json()["id"]
    assert created.json()["organisation"]["ats"] == "insubria"
    assert staff.post("/registry/people", body).status_code == 409

    ambito_staff = Gateway.as_role(gateway, "ambito", ambito=own)
    promoted = patch(ambito_staff, f"/registry/people/{person_id}", {"role": "responsabile_ufficio_di_piano"})
    assert promoted.status_code == 200, promoted.text
    assert patch(Gateway.as_role(gateway, "ambito", ambito=other), f"/registry/people/{person_id}",
                 {"role": "operatore"}).status_code == 403
    assert patch(staff, f"/registry/people/{person_id}", {"role": "referente_ats"}).status_code == 422
    assert patch(staff, f"/registry/people/{person_id}", {}).status_code == 400
    assert Gateway.as_role(gateway, "participant").post("/registry/people", body).status_code == 403
    assert staff.get(f"/registry/people/{person_id}").json()["role"] == "responsabile_ufficio_di_piano"

    channel, queue = listener

    def published():
        """The next event of this person: the relay may first publish earlier tests' people."""
        while True:
            method, _, payload = channel.basic_get(queue, auto_ack=True)
            assert method is not None
            event = json.loads(payload)
            if event["subject"] == person_id:
                return event

    registered = eventually(published)
    assert registered["type"] == "it.anci.rebuilding.registry.person.registered.v1"
    assert registered["subject"] == person_id
    assert registered["data"]["organisation"]["ambito_id"] == own
    assert eventually(published)["data"] == {"role": "responsabile_ufficio_di_piano"}


def test_a_mapping_file_is_imported_once_and_its_rejections_reported(staff, unique):
    text = ("istat_code,ats,ambito,capofila\n"
            f"013003,montagna,Ambito DEMO Medio Alto Lario {unique},1\n"
            f"013004,insubria,Ambito DEMO Comasco {unique},\n"
            "013005,bergamo,Ambito DEMO Sbagliato,\n"
            "000000,insubria,Ambito DEMO Inesistente,\n")
    headers = {"Content-Type": "text/csv"}
    first = staff.request("POST", "/registry/imports/ambiti", data=text.encode(), headers=headers)
    assert first.status_code == 200, first.text
    assert [r["reason"] for r in first.json()["rejected"]] == ["ats_mismatch", "unknown_code"]
    assert first.json()["events"] > 0
    again = staff.request("POST", "/registry/imports/ambiti", data=text.encode(), headers=headers).json()
    assert again["events"] == 0
    lario = shown(staff, "/registry/comuni/013003", lambda c: c["ats"] == "montagna")
    assert lario["ats_provisional"] is False


def test_whatever_comes_from_the_istat_file_credits_istat(staff, unique):
    ambito_id = create_ambito(staff, unique, capofila_istat="012004")
    assert staff.get("/registry/comuni?q=varese").json()["credit"] == "Fonte: ISTAT"
    assert staff.get("/registry/comuni/012133").json()["credit"] == "Fonte: ISTAT"
    assert staff.get("/registry/ats/insubria").json()["credit"] == "Fonte: ISTAT"
    assert shown(staff, f"/registry/ambiti/{ambito_id}", lambda a: a["comuni"])["credit"] == "Fonte: ISTAT"


def test_a_registration_sent_again_with_its_key_is_the_same_person_not_an_email_conflict(staff, unique):
    ambito = create_ambito(staff, unique, "Idem")
    person = {"name": f"Persona DEMO {unique}", "email": f"idem-{unique}@example.org",
              "role": "operatore", "organisation": {"kind": "ufficio_di_piano", "ambito_id": ambito}}
    key = {"Idempotency-Key": f"register-{unique}"}
    first = staff.post("/registry/people", person, headers=key)
    assert first.status_code == 201, first.text
    again = staff.post("/registry/people", person, headers=key)
    assert (again.status_code, again.json()) == (201, first.json())
    assert staff.post("/registry/people", person).status_code == 409  # without the key: a second registration
    moved = patch(staff, f"/registry/people/{first.json()['id']}", {"role": "responsabile_servizi_sociali"})
    assert moved.status_code == 200
    other = staff.request("PATCH", f"/registry/people/{first.json()['id']}", json={"role": "operatore"},
                          headers=key)
    assert other.status_code == 422 and other.json()["error"] == "idempotency_key_reused"


def test_a_mapping_line_with_nul_is_a_400_naming_the_column_and_stores_nothing(staff, unique):
    registry = RegistryApplication()
    before = registry.last_position()
    text = ("istat_code,ats,ambito,capofila\n"
            f"013006,insubria,Ambito DEMO Lario {unique},1\n"
            f"013007,insubria,Ambito DEMO\x00 Lario {unique},\n")
    refused = staff.request("POST", "/registry/imports/ambiti", data=text.encode(), headers={"Content-Type": "text/csv"})
    assert refused.status_code == 400, refused.text
    assert refused.json()["details"] == {"ambito": ["line 3: contains a control character (U+0000), which is not allowed here"]}
    assert registry.last_position() == before
    registry.close()


def test_an_ambito_name_with_nul_is_a_400_and_a_404_has_no_details(staff):
    refused = staff.post("/registry/ambiti", {"name": "Ambito DEMO\x00", "ats": "insubria"})
    assert refused.status_code == 400 and list(refused.json()["details"]) == ["name"]
    missing = staff.get("/registry/ambiti/3f1e6a39-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert set(missing.json()) == {"error", "message"}


def test_a_page_past_any_number_is_a_400(staff):
    refused = staff.get("/registry/comuni", params={"page": 10**30})
    assert refused.status_code == 400 and list(refused.json()["details"]) == ["page"]


def test_as_of_the_last_day_of_9999_is_read_and_one_beyond_is_a_400(gateway, staff, unique):
    ambito_id = create_ambito(staff, unique, capofila_istat="012005")
    far = shown(staff, f"/registry/ambiti/{ambito_id}/membership?as_of=9999-12-31", lambda m: m["comuni"])
    assert far["as_of"] == "9999-12-31T23:59:59.999999+00:00"
    assert [c["istat_code"] for c in far["comuni"]] == ["012005"]
    beyond = staff.get(f"/registry/ambiti/{ambito_id}/membership", params={"as_of": "9999-12-31T23:00:00-05:00"})
    assert beyond.status_code == 400 and list(beyond.json()["details"]) == ["as_of"]

    person = staff.post("/registry/people", {"name": "Persona DEMO", "email": f"far.{unique}@example.org",
                                             "role": "staff_anci", "organisation": {"kind": "anci"}})
    assert person.status_code == 201, person.text
    read = staff.get(f"/registry/people/{person.json()['id']}", params={"as_of": "9999-12-31"})
    assert read.status_code == 200 and read.json()["as_of"] == "9999-12-31T23:59:59.999999+00:00"
