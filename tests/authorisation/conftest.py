"""Two Ambiti, their people, labs in every state that matters, and a caller of every kind.

The world is made once per test run, straight through the applications (as
``tests/labs`` does); each test runs the registry, labs and the gateway over it.
"""

import time
import uuid
from dataclasses import dataclass, field

import jwt
import pytest

from rebuilding import auth, config
from services.gateway.service import GatewayService
from services.labs.application import LabsApplication
from services.labs.schemas import LabCreate
from services.labs.service import LabsService
from services.registry.application import RegistryApplication
from services.registry.service import RegistryService
from rebuilding import filetypes
from rebuilding.blobs import LocalBlobStore
from rebuilding.views import catch_up
from services.surveys.application import SurveysApplication
from services.surveys.service import SurveysService
from services.toolkit.application import ToolkitApplication
from services.toolkit.service import ToolkitService
from tests.labs.conftest import learn, settle
from tests.support import Gateway


@dataclass
class World:
    ambito_a: str
    ambito_b: str
    people: dict          # a1, a2 (of Ambito A), b1 (of Ambito B): {"id", "name", "email"}
    waiting: str          # published, one seat: a1 confirmed; a2 then b1 waiting
    completed: str        # completed by a1 and b1, who have certificates
    draft: str            # a draft, with a meeting link
    open: str             # published, many seats, nobody enrolled: for enrolling and withdrawing
    codes: dict           # person key -> certificate code of ``completed``
    links: dict = field(default_factory=dict)  # lab -> its meeting link
    document: str = ""    # a toolkit document, with its file stored
    survey: str = ""      # an open needs assessment, answered for Ambiti A (by a1) and B (by b1)

    def person(self, key: str) -> str:
        return self.people[key]["id"]


def sessions(link: str | None) -> list[dict]:
    return [{"id": "s1", "date": "2026-04-01", "start": "09:00", "end": "13:00", "place": "Sala DEMO",
             "online_link": None},
            {"id": "s2", "date": "2026-04-08", "start": "09:00", "end": "13:00", "place": None,
             "online_link": link}]


@pytest.fixture(scope="session")
def world(database) -> World:
    registry, labs = RegistryApplication(), LabsApplication()
    registry.seed()  # the Comuni, which every role may read
    tag = uuid.uuid4().hex[:8]
    ambito_a = registry.create_ambito(f"Ambito DEMO Scope A {tag}", "bergamo")["id"]
    ambito_b = registry.create_ambito(f"Ambito DEMO Scope B {tag}", "bergamo")["id"]
    people = {}
    for key, ambito in (("a1", ambito_a), ("a2", ambito_a), ("b1", ambito_b)):
        person = registry.register_person(f"Persona DEMO Scope {key} {tag}", f"scope-{key}-{tag}@demo.invalid",
                                          "responsabile_ufficio_di_piano",
                                          {"kind": "ufficio_di_piano", "ambito_id": ambito})
        people[key] = {"id": person["id"], "name": person["name"], "email": person["email"]}
    learn(labs, registry)

    links = {}

    def lab(name: str, capacity: int, publish: bool = True) -> str:
        links[name] = f"https://example.org/riunione-{name}-{tag}" if name in ("waiting", "draft") else None
        payload = {"title": f"DEMO – Laboratorio {name} {tag}", "ats": "bergamo", "capacity": capacity,
                   "themes": ["terzo-settore"],
                   "modules": [{"title": "Modulo DEMO", "sessions": sessions(links[name])}]}
        lab_id = labs.create_lab(LabCreate().load(payload))["id"]
        if publish:
            labs.transition(lab_id, "publish")
        return lab_id

    waiting = lab("waiting", capacity=1)
    for key in ("a1", "a2", "b1"):
        labs.enrol(waiting, people[key]["id"])
    completed = lab("completed", capacity=5)
    for key in ("a1", "b1"):
        labs.enrol(completed, people[key]["id"])
    labs.transition(completed, "start")
    for session in ("s1", "s2"):
        labs.record_attendance(completed, session, [{"person_id": people[k]["id"], "status": "present"}
                                                    for k in ("a1", "b1")])
    labs.transition(completed, "complete")
    draft = lab("draft", capacity=5, publish=False)
    open_lab = lab("open", capacity=50)
    settle(labs)
    codes = {key: labs.certificate(completed, people[key]["id"])["code"] for key in ("a1", "b1")}
    world = World(ambito_a, ambito_b, people, waiting, completed, draft, open_lab, codes,
                  {lab_id: links[name] for lab_id, name in ((waiting, "waiting"), (draft, "draft"))},
                  toolkit_document(labs, tag))
    world.survey = needs_assessment(registry, people, {"a1": ambito_a, "b1": ambito_b})
    registry.close()
    labs.close()
    return world


def needs_assessment(registry, people: dict, heads: dict) -> str:
    surveys = SurveysApplication()
    survey_id = surveys.create_survey({
        "title": "DEMO – Fabbisogni", "kind": "needs_assessment", "audience": {"type": "ambiti", "labs": []},
        "anonymous": False, "opens": "2026-01-10", "closes": "2026-02-10",
        "questions": [{"id": "priorita", "type": "ranking", "text": "Priorità",
                       "items": [{"id": "terzo-settore", "label": "Terzo settore"},
                                 {"id": "co-programmazione", "label": "Co-programmazione"}]}]})["id"]
    surveys.transition(survey_id, "open")
    while catch_up(registry, surveys.registry):
        pass
    for key, ambito in heads.items():
        surveys.respond(survey_id, {"priorita": ["terzo-settore"]}, ambito=ambito, person=people[key]["id"])
    surveys.close()
    return survey_id


def toolkit_document(labs: LabsApplication, tag: str) -> str:
    """A document in the toolkit, its file in the blob store; the toolkit knows labs' participants."""
    content = f"Modello DEMO {tag}\n".encode()
    incoming = LocalBlobStore().incoming(len(content))
    incoming.write(content)
    blob = incoming.commit()
    toolkit = ToolkitApplication()
    try:
        while catch_up(labs, toolkit.participants):
            pass
        file = {"sha256": blob.sha256, "size": blob.size, "media_type": filetypes.TEXT, "filename": "modello.txt"}
        fields = {"kind": "template", "title": f"Modello DEMO {tag}", "description": "", "themes": [],
                  "legal_references": [], "author": "", "organisation": ""}
        document = toolkit.publish_document(fields, file, "staff")["id"]
        while catch_up(toolkit, toolkit.library):
            pass
        return document
    finally:
        toolkit.close()


@pytest.fixture
def platform(runner_factory, nameko_config, world) -> str:
    runner_factory(nameko_config, RegistryService, LabsService, SurveysService, ToolkitService,
                   GatewayService).start()
    return f"http://{nameko_config['WEB_SERVER_ADDRESS']}"


def forged(**changes) -> str:
    """A token signed with the platform's key whose claims are a minted one's with ``changes``;
    a change to ``...`` leaves the claim out. It is what a careless identity provider could issue."""
    claims = jwt.decode(auth.mint("forger", ["staff"]), options={"verify_signature": False})
    claims = {k: v for k, v in {**claims, **changes}.items() if v is not ...}
    return jwt.encode(claims, config.jwt_secret(), algorithm="HS256")


@dataclass(frozen=True)
class Caller:
    """Someone calling the API: a token of some role, for some person or Ambito, or none."""

    name: str
    token: str | None
    roles: tuple = ()
    sub: str | None = None
    ambito: str | None = None

    def client(self, base_url: str) -> Gateway:
        return Gateway(base_url, self.token)


def callers(world: World) -> list[Caller]:
    def minted(name, role, sub="someone", ambito=None):
        return Caller(name, auth.mint(sub, [role], ambito=ambito), (role,), sub, ambito)

    return [
        Caller("no token", None),
        Caller("a bad token", jwt.encode({"sub": "x", "roles": ["staff"], "exp": int(time.time()) + 600},
                                         "another-key", algorithm="HS256")),
        minted("staff", "staff"),
        minted("auditor", "auditor"),
        minted("subscriber", "subscriber"),
        minted("ambito A", "ambito", ambito=world.ambito_a),
        minted("ambito B", "ambito", ambito=world.ambito_b),
        Caller("ambito without its claim", forged(roles=["ambito"], ambito=...)),
        minted("participant a1", "participant", sub=world.person("a1")),
        minted("participant b1", "participant", sub=world.person("b1")),
    ]
