"""The gateway's own behaviour: tokens, errors as JSON, health, and the API description."""

import inspect
import io
import re

import pytest
import requests
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from nameko.web.handlers import HttpRequestHandler
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from rebuilding import auth
from services.gateway.api import MAX_JSON_BYTES, Api, TooLarge
from services.gateway.service import GatewayService
from services.registry.application import RegistryApplication
from services.labs.service import LabsService
from services.registry.service import RegistryService
from services.surveys.service import SurveysService

pytestmark = pytest.mark.integration


@pytest.fixture
def gateway(runner_factory, nameko_config):
    """Every service but toolkit, which is 'down'."""
    runner = runner_factory(nameko_config, RegistryService, LabsService, SurveysService, GatewayService)
    runner.start()
    return f"http://{nameko_config['WEB_SERVER_ADDRESS']}"


def bearer(role, **claims):
    return {"Authorization": "Bearer " + auth.mint("tester", [role], **claims)}


def test_an_endpoint_without_a_token_answers_401_in_json(gateway):
    response = requests.get(f"{gateway}/labs")
    assert response.status_code == 401
    assert response.json() == {"error": "unauthenticated", "message": "a bearer token is required"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_token_without_the_needed_role_answers_403(gateway):
    response = requests.post(f"{gateway}/labs", json={}, headers=bearer("participant"))
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_a_body_that_is_not_json_answers_400_without_a_stack_trace(gateway):
    response = requests.post(f"{gateway}/registry/ambiti", data="{nope", headers=bearer("staff"))
    assert response.status_code == 400
    assert response.json() == {"error": "invalid", "message": "the body is not valid JSON"}


def test_invalid_fields_are_named_one_by_one(gateway):
    response = requests.post(f"{gateway}/registry/ambiti", json={"name": "", "ats": "lazio"}, headers=bearer("staff"))
    assert response.status_code == 400
    details = response.json()["details"]
    assert set(details) >= {"name", "ats"}


def test_an_unknown_route_answers_404_in_json(gateway):
    response = requests.get(f"{gateway}/no/such/thing", headers=bearer("staff"))
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_health_names_the_service_that_is_down_and_reports_relay_lag_to_staff(gateway):
    response = requests.get(f"{gateway}/health", headers=bearer("staff"), timeout=30)
    assert response.status_code == 503
    health = response.json()
    assert health["status"] == "degraded" and health["gateway"] == "ok"
    assert health["services"]["toolkit"]["status"] == "down"
    labs = health["services"]["labs"]
    assert labs["relay"]["lag"] == labs["events"] - labs["relay"]["position"]
    # labs answered: ok, or degraded only because no relay publishes its events (nor sends its mail) in this test
    assert labs["status"] == "ok" or (labs["relay"]["problem"] and not labs["relay"]["alive"]) \
        or (labs["mail"]["problem"] and not labs["mail"]["alive"])


def served_routes() -> set[tuple[str, str]]:
    """What nameko's web server routes to the gateway's methods, read from their entrypoints,
    not from the list the document is made from; the JSON 404 for every other path and the pages aside."""
    routes = set()
    for _, method in inspect.getmembers(GatewayService, inspect.isfunction):
        if method.__module__.startswith("services.gateway.pages"):
            continue  # the web pages for people (their paths are Italian), not the API
        for entrypoint in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if isinstance(entrypoint, HttpRequestHandler) and entrypoint.url != "/<path:path>":
                path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", entrypoint.url)
                routes |= {(m.strip().upper(), path) for m in entrypoint.method.split(",")}
    return routes


def test_the_openapi_document_describes_every_route_the_gateway_serves_and_no_other(gateway):
    spec = requests.get(f"{gateway}/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    described = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    served = served_routes()
    assert len(served) > 40 and ("POST", "/labs/{lab_id}/enrollments") in served
    assert served == described
    assert spec["paths"]["/labs"]["post"]["security"] == [{"bearer": []}]
    assert "security" not in spec["paths"]["/health"]["get"]


def test_every_error_the_document_lists_is_an_error_object_whose_details_are_an_object(gateway):
    spec = requests.get(f"{gateway}/openapi.json").json()
    error = spec["components"]["schemas"]["Error"]
    assert error["properties"]["details"] == {"type": "object"} and error["required"] == ["error", "message"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                if (path, status) == ("/health", "503"):  # a health report, degraded, is the one exception
                    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Health"}
                elif int(status) >= 400:
                    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, \
                        (method, path, status)
                else:
                    assert answer.get("content", {}).get("application/json", {}).get("schema") != \
                        {"$ref": "#/components/schemas/Error"}, (method, path, status)


def test_a_body_nested_too_deep_for_python_is_a_400(gateway):
    deep = "[" * 100_000 + "]" * 100_000
    response = requests.post(f"{gateway}/registry/ambiti", data=deep, headers=bearer("staff"))
    assert response.status_code == 400
    assert response.json() == {"error": "invalid", "message": "the body is nested too deeply"}


def test_a_lone_surrogate_echoed_back_in_an_answer_is_escaped_not_a_500(gateway):
    body = b'{"name": "Ambito DEMO", "ats": "pavia", "\\ud800": 1}'
    response = requests.post(f"{gateway}/registry/ambiti", data=body, headers=bearer("staff"))
    assert response.status_code == 400
    assert response.json()["details"] == {"\ud800": ["Unknown field."]}
    assert b"\\ud800" in response.content  # ASCII JSON: UTF-8 cannot carry a lone surrogate


def test_a_path_parameter_with_a_control_character_is_a_400_naming_it(gateway):
    response = requests.get(f"{gateway}/registry/comuni/01%002133", headers=bearer("staff"))
    assert response.status_code == 400
    assert list(response.json()["details"]) == ["istat_code"]
    clean = requests.get(f"{gateway}/registry/comuni/0102133", headers=bearer("staff"))
    assert clean.status_code == 404 and "details" not in clean.json()  # reaches the registry, which knows no such code


def test_the_api_page_is_swagger_ui_served_by_the_gateway_over_a_document_whose_operations_all_have_ids(gateway):
    response = requests.get(f"{gateway}/docs")
    assert response.headers["Content-Type"].startswith("text/html")
    assert "/static/swagger-ui/swagger-ui-bundle.js" in response.text and "/openapi.json" in response.text
    assert "http://" not in response.text and "https://" not in response.text  # nothing from another host
    bundle = requests.get(f"{gateway}/static/swagger-ui/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and "javascript" in bundle.headers["Content-Type"]
    spec = requests.get(f"{gateway}/openapi.json").json()
    ids = [op["operationId"] for ops in spec["paths"].values() for op in ops.values()]
    assert "getRegistryAmbiti" in ids and len(ids) == len(set(ids))


def test_a_subscriber_reads_a_services_event_feed_page_by_page_and_nothing_else(gateway):
    staff = bearer("staff")
    for n in range(3):
        created = requests.post(f"{gateway}/registry/ambiti", json={"name": f"Ambito DEMO feed {n}", "ats": "pavia"},
                                headers=staff)
        assert created.status_code == 201, created.text
    subscriber = bearer("subscriber")
    first = requests.get(f"{gateway}/events/registry", params={"limit": 2}, headers=subscriber)
    assert first.status_code == 200, first.text
    page = first.json()
    registry = RegistryApplication()
    log = registry.envelopes()
    assert page["events"] == [next(log), next(log)]
    after = page["events"][-1]["position"]
    following = requests.get(f"{gateway}/events/registry", params={"after": after, "limit": 1}, headers=subscriber)
    assert following.json()["events"] == [next(log)]
    beyond = requests.get(f"{gateway}/events/registry", params={"after": page["head"]}, headers=subscriber).json()
    assert beyond["events"] == []
    registry.close()

    assert requests.get(f"{gateway}/events/nowhere", headers=subscriber).status_code == 404
    assert requests.get(f"{gateway}/events/registry", params={"limit": 0}, headers=subscriber).status_code == 400
    assert requests.get(f"{gateway}/events/registry", params={"after": 10**30}, headers=subscriber).status_code == 400
    assert requests.get(f"{gateway}/events/regi%00stry", headers=subscriber).status_code == 400
    assert requests.get(f"{gateway}/events/registry", headers=bearer("participant")).status_code == 403
    assert requests.get(f"{gateway}/labs", headers=subscriber).status_code == 403


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-jwt"}, bearer("participant"),
                                     bearer("ambito", ambito="a-1"), bearer("subscriber")],
                         ids=["no token", "a bad token", "participant", "ambito", "subscriber"])
def test_health_tells_anyone_but_staff_and_auditors_only_ok_or_degraded(gateway, headers):
    response = requests.get(f"{gateway}/health", headers=headers, timeout=30)
    assert response.status_code == 503  # toolkit is down: the status code says so to anyone
    assert response.json() == {"status": "degraded"}
    detail = requests.get(f"{gateway}/health", headers=bearer("auditor"), timeout=30)
    assert detail.status_code == 503 and set(detail.json()) == {"status", "gateway", "services", "catalogue"}


def test_every_answer_says_nosniff_and_personal_data_says_no_store(gateway):
    staff = bearer("staff")
    answers = [requests.get(f"{gateway}/health"), requests.get(f"{gateway}/docs"),
               requests.get(f"{gateway}/labs"), requests.get(f"{gateway}/labs", headers=staff),
               requests.get(f"{gateway}/no/such/thing", headers=staff), requests.get(f"{gateway}/"),
               requests.options(f"{gateway}/labs"), requests.request("TRACE", f"{gateway}/labs"),
               requests.post(f"{gateway}/registry/ambiti", data="{nope", headers=staff),
               requests.get(f"{gateway}/registry/people/3f1e6a39-0000-4000-8000-000000000000", headers=staff),
               requests.get(f"{gateway}/programme/reports/ats", headers=staff)]
    for answer in answers:
        assert answer.headers["X-Content-Type-Options"] == "nosniff", (answer.request.method, answer.url)
    for personal in answers[-2:]:
        assert personal.headers["Cache-Control"] == "no-store", personal.url
    assert "no-store" not in answers[3].headers.get("Cache-Control", "")  # the catalogue may be kept


@pytest.mark.parametrize("method", ["OPTIONS", "TRACE", "PROPFIND"])
def test_a_method_no_route_takes_is_answered_in_json_with_the_methods_that_are(gateway, method):
    response = requests.request(method, f"{gateway}/labs/some-lab/enrollments", headers=bearer("staff"))
    assert response.status_code == 405 and response.headers["Content-Type"] == "application/json"
    assert response.json()["error"] == "method_not_allowed" and "<html" not in response.text.lower()
    assert response.headers["Allow"] == "POST"
    nowhere = requests.request(method, f"{gateway}/no/such/thing")
    assert nowhere.status_code == 404 and nowhere.json()["error"] == "not_found"


def test_a_json_body_larger_than_the_limit_is_refused_with_413_unread(gateway):
    large = b'{"name": "' + b"x" * 2_000_000 + b'", "ats": "pavia"}'
    response = requests.post(f"{gateway}/registry/ambiti", data=large, headers=bearer("staff"))
    assert response.status_code == 413
    assert response.json()["error"] == "too_large" and "details" in response.json()
    just_under = requests.post(f"{gateway}/registry/ambiti", data=b" " * (MAX_JSON_BYTES - 2) + b"{}",
                               headers=bearer("staff"))
    assert just_under.status_code == 400  # read and parsed: {} lacks the fields
    chunked = requests.post(f"{gateway}/registry/ambiti", data=iter([b'{"name": "Ambito DEMO", ', b'"ats": "pavia"}']),
                            headers=bearer("staff"))
    assert chunked.status_code == 411 and chunked.json()["error"] == "length_required"


def test_the_json_body_is_not_read_when_its_length_is_over_the_limit():
    class Unreadable(io.RawIOBase):
        def readinto(self, buffer):
            raise AssertionError("the body was read")

    environ = EnvironBuilder(method="POST").get_environ()
    environ.update({"CONTENT_LENGTH": str(MAX_JSON_BYTES + 1), "wsgi.input": Unreadable()})
    with pytest.raises(TooLarge):
        Api._json_body(Request(environ))


def test_every_operation_with_a_json_body_or_an_upload_documents_411_and_413(gateway):
    spec = requests.get(f"{gateway}/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {})
            streamed = "application/json" in body or "multipart/form-data" in body
            assert ({"411", "413"} <= set(operation["responses"])) == streamed, (method, path)
