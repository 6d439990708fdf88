"""``rebuilding audit rebuild`` and ``verify`` on a service's read models, from the command line."""

import subprocess
import sys

import pytest

from rebuilding.cli import application_class
from rebuilding.views import catch_up

pytestmark = pytest.mark.integration


def rebuilding(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rebuilding.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def registry(database, unique):
    app = application_class("registry")()
    app.create_ambito(name=f"Ambito DEMO verify {unique}", ats="pavia")
    for projection in app.projections:
        while catch_up(app, projection):
            pass
    yield app
    app.close()


def test_audit_verify_says_same_for_faithful_read_models_and_exits_0(registry):
    result = rebuilding("audit", "verify", "registry")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "registry.directory_ambiti: same; live " in result.stdout


def test_audit_verify_names_a_damaged_row_and_a_rebuild_repairs_it(registry, unique):
    directory = next(p for p in registry.projections if p.name == "directory")
    with directory.step("registry") as step:
        directory.execute(step.cursor, "UPDATE {schema}.directory_ambiti SET name = 'DEMO guasto' WHERE name = %s",
                          (f"Ambito DEMO verify {unique}",))
    result = rebuilding("audit", "verify", "registry", "--projection", "directory")
    assert result.returncode == 1
    assert "registry.directory_ambiti: DIFFERENT" in result.stdout
    assert f'name: live "DEMO guasto", rebuilt "Ambito DEMO verify {unique}"' in result.stdout

    rebuilt = rebuilding("audit", "rebuild", "registry", "--projection", "directory", "--progress")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "events/s" in rebuilt.stdout and "/s" in rebuilt.stderr  # the rate, and the progress bar
    assert rebuilding("audit", "verify", "registry", "--projection", "directory").returncode == 0


def test_a_follower_that_sends_mail_is_never_rebuilt(database):
    result = rebuilding("audit", "rebuild", "labs", "--projection", "enrolment_mail")
    assert result.returncode == 0 and "enrolment_mail: not rebuilt" in result.stderr
    assert "rebuilt from" not in result.stdout
