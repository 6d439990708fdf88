"""The container deployment: docker-compose.yml and the image it builds (read, not run)."""

import importlib
import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from rebuilding import config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
CONTAINERS = COMPOSE["services"]
INFRASTRUCTURE = {"rabbitmq", "postgres"}
PLATFORM = {name: spec for name, spec in CONTAINERS.items() if name not in INFRASTRUCTURE}
NAMEKO_TARGET = re.compile(r"^[\w.]+:\w+$")


def interpolated(value: str) -> str:
    """``value`` with each ``${VARIABLE…}`` replaced, as compose does, by a value without URL syntax."""
    return re.sub(r"\$\{[^}]*\}", "value", value)


LOOPS = {"relay", "mail"}
"""The entrypoint's commands that run ``rebuilding <command>``: anything else is a nameko service."""


def loops(command: str) -> dict[str, list[str]]:
    return {name: spec["command"][1:] for name, spec in PLATFORM.items() if spec["command"][0] == command}


def relays() -> dict[str, list[str]]:
    return loops("relay")


def nameko_targets() -> dict[str, str]:
    return {name: spec["command"][0] for name, spec in PLATFORM.items() if spec["command"][0] not in LOOPS}


def test_compose_runs_every_domain_service_the_gateway_one_relay_each_and_the_brokers():
    expected = {*config.SERVICES, "gateway", *(f"relay-{s}" for s in config.SERVICES), *INFRASTRUCTURE}
    assert expected <= set(CONTAINERS)


def test_each_relay_container_relays_the_service_it_is_named_after():
    assert relays() == {f"relay-{service}": [service] for service in config.SERVICES}


def test_each_service_that_sends_mail_has_a_mail_sender_container_named_after_it():
    from rebuilding.services import application_class

    senders = [s for s in config.SERVICES if any(c.runs_in == "mail" for c in application_class(s).projection_classes)]
    assert senders == ["labs", "surveys", "toolkit"]
    assert loops("mail") == {f"mail-{service}": [service] for service in senders}
    for service in senders:
        assert CONTAINERS[f"mail-{service}"]["depends_on"][service]["condition"] == "service_started"


@pytest.mark.parametrize("name", sorted(PLATFORM))
def test_platform_container_reaches_postgres_and_rabbitmq_by_their_compose_hostnames(name):
    environment = PLATFORM[name]["environment"]
    assert urlsplit(interpolated(environment["REBUILDING_DATABASE_URL"])).hostname == "postgres"
    assert urlsplit(interpolated(environment["REBUILDING_AMQP_URI"])).hostname == "rabbitmq"


@pytest.mark.parametrize("name", sorted(PLATFORM))
def test_platform_container_is_built_from_the_one_dockerfile_and_waits_for_healthy_brokers(name):
    spec = PLATFORM[name]
    assert spec["build"]["dockerfile"] == "deploy/Dockerfile"
    for dependency in INFRASTRUCTURE:
        assert spec["depends_on"][dependency]["condition"] == "service_healthy"


def test_rabbitmq_and_postgres_have_healthchecks():
    for name in INFRASTRUCTURE:
        assert CONTAINERS[name]["healthcheck"]["test"]


@pytest.mark.parametrize("name", sorted(PLATFORM))
def test_the_signing_key_must_come_from_the_host(name):
    assert PLATFORM[name]["environment"]["REBUILDING_JWT_SECRET"].startswith("${REBUILDING_JWT_SECRET:?")


def test_gateway_listens_in_its_container_and_is_published_on_the_hosts_loopback_unless_told_otherwise():
    gateway = CONTAINERS["gateway"]
    assert gateway["environment"]["REBUILDING_GATEWAY_ADDRESS"] == "0.0.0.0:8000"
    assert [str(port) for port in gateway["ports"]] == ["${REBUILDING_PUBLISH_ADDRESS:-127.0.0.1}:8000:8000"]
    text = (ROOT / "docker-compose.yml").read_text()
    assert "REBUILDING_PUBLISH_ADDRESS=0.0.0.0" in text and "plain HTTP" in text  # saying so, where it is changed


def test_no_password_or_key_falls_back_to_a_default():
    text = (ROOT / "docker-compose.yml").read_text()
    secrets = re.findall(r"\$\{(\w*(?:PASSWORD|SECRET|PASS)\w*)(:?[-?=+]?)", text)
    assert {name for name, _ in secrets} == {"POSTGRES_PASSWORD", "RABBITMQ_PASSWORD", "REBUILDING_JWT_SECRET"}
    assert {operator for _, operator in secrets} == {":?"}, secrets  # required: compose refuses to start without
    assert "guest" not in text


def test_every_platform_container_reaches_the_brokers_with_the_required_passwords():
    for name, spec in PLATFORM.items():
        environment = spec["environment"]
        assert "${POSTGRES_PASSWORD:?" in environment["REBUILDING_DATABASE_URL"], name
        assert "${RABBITMQ_PASSWORD:?" in environment["REBUILDING_AMQP_URI"], name
    assert CONTAINERS["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert CONTAINERS["rabbitmq"]["environment"]["RABBITMQ_DEFAULT_PASS"].startswith("${RABBITMQ_PASSWORD:?")


def test_the_registry_reads_the_reference_data_its_image_carries():
    registry = CONTAINERS["registry"]
    assert "REBUILDING_DATA_DIR" not in registry.get("environment", {})
    assert not any("shared" in str(volume) for volume in registry.get("volumes", []))
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "data/comuni_istat_2020.csv" in package_data["services.registry"]


@pytest.mark.parametrize("name", sorted(nameko_targets()))
def test_nameko_target_is_an_importable_service_named_after_its_container(name):
    module, _, class_name = nameko_targets()[name].partition(":")
    assert NAMEKO_TARGET.match(nameko_targets()[name])
    service_class = getattr(importlib.import_module(module), class_name)
    assert service_class.name == name


def test_entrypoint_execs_nameko_the_relay_and_the_mail_sender_so_sigterm_reaches_them():
    script = (ROOT / "deploy" / "docker-entrypoint.sh").read_text()
    assert re.search(r"^\s*exec nameko run --config deploy/nameko\.yaml \"\$@\"$", script, re.M)
    assert re.search(r"^\s*relay\|mail\) exec rebuilding \"\$@\" ;;$", script, re.M)


def test_image_runs_the_entrypoint_as_a_non_root_user_from_app():
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.M)
    assert re.search(r"^WORKDIR /app$", dockerfile, re.M)
    user = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r'^ENTRYPOINT \[.*"/app/deploy/docker-entrypoint\.sh"\]$', dockerfile, re.M)
