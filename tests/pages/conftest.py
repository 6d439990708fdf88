"""The pages in a real browser: Debian's chromium driven by Playwright, over a running registry, labs and gateway.

One browser for the whole run (the machine is small), in a process of its own (``browser_driver.py``);
a context of its own per person signed in.
Every page a test opens is screenshot, checked by axe-core (no serious or critical violation),
and no request may leave 127.0.0.1.
"""

import json
import os
import sys
import re
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from nameko.runners import ServiceRunner

from rebuilding.blobs import blob_store_from_config
from services.gateway.pages.settings import node_modules
from services.gateway.service import GatewayService
from services.labs.application import LabsApplication
from services.labs.schemas import LabCreate
from services.labs.service import LabsService
from services.registry.application import RegistryApplication
from services.registry.service import RegistryService
from services.surveys.application import SurveysApplication
from services.toolkit.application import ToolkitApplication
from services.toolkit.service import ToolkitService
from services.surveys.service import SurveysService
from tests.conftest import free_port
from tests.labs.conftest import learn, settle
from tests.support import RelayProcess
from tests.surveys.conftest import settle_surveys
from tests.toolkit.conftest import follow, settle_toolkit

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]
SERIOUS = ("serious", "critical")
AXE = node_modules() / "axe-core" / "axe.min.js"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/pages/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.integration)


@dataclass
class Site:
    url: str
    tag: str
    ambito: str
    people: dict            # key -> {"id", "name"}: staff, resp1, resp2 (Ambito), other (another Ambito)
    labs: dict = field(default_factory=dict)   # key -> lab id: open, small, draft
    sessions: dict = field(default_factory=dict)
    surveys: dict = field(default_factory=dict)  # key -> survey id: needs (open, addressed to the Ambiti)
    toolkit: dict = field(default_factory=dict)  # key -> id: document, proposal (by the participant "other")


def lab_payload(title: str, capacity: int, tag: str) -> dict:
    return {"title": f"DEMO – {title} {tag}", "ats": "bergamo", "capacity": capacity,
            "themes": ["terzo-settore"], "conductors": ["Conduttrice DEMO"],
            "description": "Laboratorio dimostrativo per le prove delle pagine.",
            "modules": [{"title": "Modulo DEMO", "sessions": [
                {"id": "s1", "date": "2026-12-10", "start": "09:30", "end": "13:00", "place": "Sala DEMO"},
                {"id": "s2", "date": "2026-12-17", "start": "09:30", "end": "13:00", "place": "Sala DEMO"}]}]}


NEEDS_ITEMS = (("contratti-pubblici", "DEMO Contratti pubblici"), ("terzo-settore", "DEMO Terzo settore"),
               ("co-programmazione", "DEMO Co-programmazione"), ("fonti-finanziamento", "DEMO Fonti di finanziamento"))


def needs_assessment(tag: str) -> dict:
    return {"title": f"DEMO – Rilevazione dei fabbisogni {tag}", "kind": "needs_assessment",
            "audience": {"type": "ambiti", "labs": []}, "anonymous": False, "opens": "2026-01-10",
            "closes": "2027-12-31",
            "questions": [{"id": "priorita", "type": "ranking", "text": "Ordini le sezioni dalla più utile alla meno utile",
                           "items": [{"id": code, "label": label} for code, label in NEEDS_ITEMS]}]}


def toolkit_fields(title: str) -> dict:
    return {"kind": "template", "title": title, "description": "Convenzione DEMO per la co-progettazione",
            "themes": ["terzo-settore"], "legal_references": ["D.Lgs. 117/2017 art. 55"],
            "author": "Autrice DEMO", "organisation": "Ufficio di Piano DEMO"}


def toolkit_file(n: int, name: str = "convenzione.pdf") -> dict:
    """A small PDF kept in the blob store, as an upload would keep it."""
    incoming = blob_store_from_config().incoming(1 << 20)
    incoming.write(b"%PDF-1.4\n% DEMO " + str(n).encode() + b"\n%%EOF\n")
    stored = incoming.commit()
    return {"sha256": stored.sha256, "size": stored.size, "media_type": "application/pdf", "filename": name}


@pytest.fixture(scope="module")
def site(database, broker, state_dir):
    """A registry, labs and gateway with an Ambito, its people and three labs, made straight through the applications."""
    registry, labs = RegistryApplication(), LabsApplication()
    registry.seed()
    tag = uuid.uuid4().hex[:6]
    ambito = registry.create_ambito(f"Ambito DEMO Pagine {tag}", "bergamo")["id"]
    elsewhere = registry.create_ambito(f"Ambito DEMO Altrove {tag}", "bergamo")["id"]
    people = {}
    for key, name, role, organisation in (
        ("staff", "Staff DEMO ANCI", "staff_anci", {"kind": "anci"}),
        ("resp1", "Responsabile DEMO Uno", "responsabile_ufficio_di_piano", {"kind": "ufficio_di_piano", "ambito_id": ambito}),
        ("resp2", "Responsabile DEMO Due", "responsabile_ufficio_di_piano", {"kind": "ufficio_di_piano", "ambito_id": ambito}),
        ("other", "Responsabile DEMO Altrove", "responsabile_ufficio_di_piano",
         {"kind": "ufficio_di_piano", "ambito_id": elsewhere}),
    ):
        person = registry.register_person(f"{name} {tag}", f"pagine-{key}-{tag}@demo.invalid", role, organisation)
        people[key] = {"id": person["id"], "name": person["name"]}
    learn(labs, registry)
    created = {}
    for key, title, capacity, publish in (("open", "Laboratorio aperto", 30, True), ("small", "Un posto solo", 1, True),
                                          ("draft", "Bozza", 10, False)):
        created[key] = labs.create_lab(LabCreate().load(lab_payload(title, capacity, tag)))["id"]
        if publish:
            labs.transition(created[key], "publish")
    labs.enrol(created["open"], people["other"]["id"])
    settle(labs)
    surveys = SurveysApplication()
    needs = surveys.create_survey(needs_assessment(tag))["id"]
    surveys.transition(needs, "open")
    settle_surveys(surveys, registry, labs)
    toolkit = ToolkitApplication()
    follow(toolkit, labs, registry)
    document = toolkit.publish_document(toolkit_fields(f"Modello DEMO di convenzione {tag}"), toolkit_file(1),
                                        people["staff"]["id"])["id"]
    toolkit.add_version(document, toolkit_file(2, "convenzione-v2.pdf"), "Aggiornata alla norma DEMO",
                        people["staff"]["id"])
    proposals = {key: toolkit.propose(people["other"]["id"], toolkit_fields(f"Proposta DEMO {key} {tag}"),
                                      toolkit_file(n), "Un modello usato nel nostro Ambito", None)["id"]
                 for n, key in ((3, "publish"), (4, "reject"))}
    settle_toolkit(toolkit)
    registry.close()
    labs.close()
    surveys.close()
    toolkit.close()

    port = free_port()
    environment = {"REBUILDING_DEV_LOGIN": "1", "REBUILDING_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    relay = RelayProcess("registry", "labs", "surveys", "toolkit").start()
    runner = ServiceRunner({"AMQP_URI": broker, "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}", "max_workers": 20})
    for service in (RegistryService, LabsService, SurveysService, ToolkitService, GatewayService):
        runner.add_service(service)
    runner.start()
    yield Site(f"http://127.0.0.1:{port}", tag, ambito, people, created, surveys={"needs": needs},
               toolkit={"document": document, **proposals})
    runner.kill()
    relay.stop()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


class Browser:
    """The browser process (``browser_driver.py``): each call is one command, answered in order."""

    def __init__(self):
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("browser_driver.py"))],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        assert json.loads(self.process.stdout.readline()) == {"ready": True}

    def __getattr__(self, op):
        def command(*args):
            self.process.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
            assert line, f"the browser process ended (exit {self.process.poll()})"
            answer = json.loads(line)
            if "error" in answer:
                raise AssertionError(f"browser: {op}{args}: {answer['error']}")
            return answer["ok"]

        return command

    def quit(self):
        self.process.stdin.write(json.dumps({"op": "quit", "args": []}) + "\n")
        self.process.stdin.close()
        self.process.wait(timeout=60)


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium: installed through make when missing (never skipped), never downloaded by Playwright."""
    if not Path(CHROMIUM).exists():
        subprocess.run(["make", "-C", str(REPO), "browser"], check=True)
    assert Path(CHROMIUM).exists(), "make browser did not install chromium"
    assert AXE.exists(), "run make install: axe-core is missing"
    browser = Browser()
    yield browser
    browser.quit()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory):
    folder = Path(os.environ.get("REBUILDING_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Visitor:
    """Someone browsing the site in a browser context of their own; every page they open is checked."""

    def __init__(self, browser: Browser, site: Site, screenshots: Path, name: str):
        self.browser, self.site, self.screenshots, self.name = browser, site, screenshots, name
        self.context = f"{name}-{uuid.uuid4().hex[:6]}"
        browser.new_context(self.context)
        self.checked: list[str] = []
        self.url = None

    def open(self, path: str, status: int = 200, check: bool = True) -> dict:
        """Open a page; ``check=False`` while waiting for the read models to catch up (it is checked after)."""
        answer = self.browser.goto(self.context, self.site.url + path)
        assert answer["status"] == status, (self.name, path, answer)
        self.url = answer["url"]
        if check:
            self.check(path)
        return answer

    def submit(self, selector: str, status: int = 200) -> dict:
        answer = self.browser.submit(self.context, selector)
        assert answer["status"] == status, (self.name, selector, answer)
        self.url = answer["url"]
        self.check(answer["url"].replace(self.site.url, ""))
        return answer

    def check(self, label: str):
        """Screenshot the page, run axe-core on it, and find no request that left 127.0.0.1."""
        slug = re.sub(r"[^a-z0-9]+", "-", f"{self.name}-{label}".lower()).strip("-")[:120]
        self.browser.screenshot(self.context, str(self.screenshots / f"{slug}-{len(self.checked)}.png"))
        violations = self.browser.axe(self.context, str(AXE))
        serious = [v for v in violations if v["impact"] in SERIOUS]
        assert not serious, (self.name, label, serious)
        assert not self.browser.requests_outside(self.context), (self.name, label)
        self.checked.append(label)

    def text(self, selector: str) -> str:
        return self.browser.text(self.context, selector)

    def title(self) -> str:
        return self.browser.title(self.context)

    def choose(self, selector: str, value: str | None = None):
        if value is None:
            self.browser.check(self.context, selector)
        else:
            self.browser.select(self.context, selector, value)

    def fill(self, selector: str, value: str):
        self.browser.fill(self.context, selector, value)

    def cookies(self) -> list[dict]:
        return self.browser.cookies(self.context)

    def post(self, path: str, form: dict) -> dict:
        return self.browser.post(self.context, self.site.url + path, form)

    def click(self, selector: str):
        """Click without leaving the page (a button the page's script handles)."""
        self.browser.click(self.context, selector)

    def focused(self) -> str:
        return self.browser.focused(self.context)

    def download(self, selector: str, path: Path) -> str:
        return self.browser.download(self.context, selector, str(path))

    def sign_in(self, role: str, person: str):
        self.open("/accesso")
        self.choose(f"#ruolo-{role}")
        self.choose("#persona", self.site.people[person]["id"])
        self.submit("form[action='/accesso'] button[type=submit]")

    def close(self):
        self.browser.close(self.context)


@pytest.fixture
def visit(browser, site, screenshots):
    visitors = []

    def make(name: str, role: str | None = None, person: str | None = None) -> Visitor:
        visitor = Visitor(browser, site, screenshots, name)
        visitors.append(visitor)
        if role:
            visitor.sign_in(role, person)
        return visitor

    yield make
    for visitor in visitors:
        visitor.close()
