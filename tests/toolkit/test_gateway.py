"""The toolkit end to end: through the gateway, to the registry, labs and the toolkit on real RabbitMQ and PostgreSQL."""

import hashlib
import mailbox
import tracemalloc

import pytest

from rebuilding import config
from rebuilding.blobs import LocalBlobStore
from services.gateway.service import GatewayService
from services.labs.service import LabsService
from services.registry.service import RegistryService
from services.toolkit.service import ToolkitService
from tests.labs.builders import SESSIONS
from tests.labs.conftest import learn
from tests.support import Gateway, MailProcess, RelayProcess, eventually
from tests.toolkit import samples
from tests.toolkit.multipart import post_form, write_form

pytestmark = pytest.mark.integration

MB = 1024 * 1024


@pytest.fixture
def gateway(runner_factory, nameko_config):
    relay = RelayProcess("registry", "labs").start()
    mail = MailProcess("toolkit").start()  # the proposers' e-mail: the toolkit's process sends none
    runner_factory(nameko_config, RegistryService, LabsService, ToolkitService, GatewayService).start()
    yield f"http://{nameko_config['WEB_SERVER_ADDRESS']}"
    mail.stop()
    relay.stop()


@pytest.fixture
def cast(gateway, labs, registry, territory):
    ambito = territory.ambito()
    people = [territory.person(ambito) for _ in range(2)]
    learn(labs, registry)
    return {"people": people, "staff": Gateway.as_role(gateway, "staff"),
            "as": lambda person: Gateway.as_role(gateway, "participant", sub=person),
            "auditor": Gateway.as_role(gateway, "auditor"), "url": gateway, "ambito": ambito}


def enrolled(cast, person) -> None:
    staff = cast["staff"]
    lab = staff.post("/labs", {"title": "DEMO – Laboratorio", "ats": "bergamo", "capacity": 5,
                               "modules": [{"title": "Modulo DEMO", "sessions": SESSIONS}]}).json()["id"]
    assert staff.post(f"/labs/{lab}/publish").status_code == 200
    assert cast["as"](person).post(f"/labs/{lab}/enrollments", {}).status_code == 201


def published(cast, tmp_path, unique, content=samples.PDF, filename="convenzione.pdf", **changes) -> dict:
    fields = {"kind": "template", "title": f"Convenzione DEMO {unique}", "description": "Modello di convenzione",
              "themes": ["co-programmazione", "terzo-settore"], "legal_references": ["D.Lgs. 117/2017 art. 55"],
              "author": "Autrice DEMO", "organisation": f"Ufficio di Piano DEMO {unique}", **changes}
    answer = post_form(cast["staff"], "/toolkit/documents", write_form(tmp_path / "body", fields, filename, content))
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_person_reads_the_toolkit_from_the_moment_labs_confirms_their_enrolment(cast):
    person = cast["people"][0]
    refused = cast["as"](person).get("/toolkit/documents")
    assert refused.status_code == 403 and refused.json()["details"]["reason"] == "not_a_participant", refused.text
    enrolled(cast, person)  # labs decides, publishes lab.enrolment_confirmed; the toolkit follows labs' log
    listed = eventually(lambda: cast["as"](person).get("/toolkit/documents").status_code == 200)
    assert listed
    assert cast["auditor"].get("/toolkit/documents").status_code == 403  # neither participant nor staff


def test_a_document_is_uploaded_downloaded_by_a_participant_and_counted(cast, tmp_path, unique):
    person = cast["people"][1]
    enrolled(cast, person)
    document = published(cast, tmp_path, unique)
    assert document["version"]["sha256"] == hashlib.sha256(samples.PDF).hexdigest()
    assert document["version"]["media_type"] == "application/pdf" and document["version"]["size"] == len(samples.PDF)
    reader = cast["as"](person)
    url = f"/toolkit/documents/{document['id']}/versions/1/download"
    download = eventually(lambda: reader.get(url).status_code == 200 and reader.get(url))
    assert download.content == samples.PDF and download.headers["Content-Type"] == "application/pdf"
    assert 'filename=convenzione.pdf' in download.headers["Content-Disposition"]

    shown = eventually(lambda: reader.get(f"/toolkit/documents/{document['id']}").json())
    assert shown["themes"] == ["co-programmazione", "terzo-settore"] and shown["versions"][0]["number"] == 1
    odt = post_form(cast["staff"], f"/toolkit/documents/{document['id']}/versions",
                    write_form(tmp_path / "v2", {"reason": "versione in formato aperto"}, "convenzione.odt",
                               samples.odt()))
    assert odt.status_code == 201 and odt.json()["version"]["number"] == 2, odt.text
    assert reader.get(url).content == samples.PDF  # the first version stays downloadable

    def counted():
        stats = cast["staff"].get("/toolkit/stats/downloads").json()
        row = next(r for r in stats["by_document"] if r["document_id"] == document["id"])
        assert row["downloads"] >= 2 and any(r["ats"] == "bergamo" for r in stats["by_ats"]), stats
        return stats
    eventually(counted)
    assert reader.get("/toolkit/stats/downloads").status_code == 403


def test_an_executable_named_pdf_is_refused_and_nothing_of_it_is_stored(cast, tmp_path, unique):
    store = LocalBlobStore()
    before = store.stored()
    answer = post_form(cast["staff"], "/toolkit/documents",
                       write_form(tmp_path / "body", {"kind": "template", "title": f"DEMO {unique}"}, "modello.pdf",
                                  samples.EXECUTABLE))
    assert answer.status_code == 415 and answer.json()["error"] == "unsupported_type", answer.text
    assert store.stored() == before and store.pending() == []
    assert hashlib.sha256(samples.EXECUTABLE).hexdigest() not in store.stored()


def test_hostile_fields_are_refused_before_the_file_is_kept(cast, tmp_path, unique):
    store = LocalBlobStore()
    content = samples.TEXT + unique.encode()
    for fields in ({"kind": "template", "title": "DEMO\x00nul"}, {"kind": "nonsense", "title": "DEMO valid"},
                   {"title": "DEMO senza tipo"}, {"kind": "template", "title": "DEMO", "unknown": "x"}):
        answer = post_form(cast["staff"], "/toolkit/documents", write_form(tmp_path / "body", fields, "a.txt", content))
        assert answer.status_code == 400, (fields, answer.text)
    assert hashlib.sha256(content).hexdigest() not in store.stored() and store.pending() == []
    assert cast["staff"].post("/toolkit/documents", {"kind": "template"}).status_code == 400  # JSON, not a form


def test_a_stored_file_altered_on_disk_is_refused_on_download_and_reported(cast, tmp_path, unique):
    document = published(cast, tmp_path, unique, content=samples.TEXT + unique.encode(), filename="nota.txt")
    sha256 = document["version"]["sha256"]
    LocalBlobStore().path(sha256).write_bytes(samples.TEXT + b"altered")
    answer = cast["staff"].get(f"/toolkit/documents/{document['id']}/versions/1/download")
    assert answer.status_code == 500 and answer.json()["error"] == "corrupt_file", answer.text
    assert b"altered" not in answer.content

    def reported():
        health = cast["staff"].get("/health").json()["services"]["toolkit"]
        assert health["status"] == "degraded" and sha256 in [f["sha256"] for f in health["files"]["corrupt"]], health
        return health
    eventually(reported)


def test_a_26_mb_upload_is_refused_with_413_and_no_memory_spike(cast, tmp_path, monkeypatch):
    monkeypatch.delenv("REBUILDING_MAX_UPLOAD_BYTES", raising=False)  # the default: 25 MB
    form = write_form(tmp_path / "body", {"kind": "template", "title": "DEMO grande"}, "grande.txt", filler=26 * MB)
    store = LocalBlobStore()
    before = store.stored()
    tracemalloc.start()
    try:
        answer = post_form(cast["staff"], "/toolkit/documents", form)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.status_code == 413 and answer.json()["error"] == "too_large", answer.text
    assert peak < 4 * MB, f"{peak / MB:.1f} MB allocated at the peak"
    assert store.stored() == before and store.pending() == []


def test_a_file_past_the_limit_is_refused_while_it_streams_in_without_a_memory_spike(cast, tmp_path):
    # the Content-Length is within the allowance for the form's fields: only counting the file's bytes catches it
    form = write_form(tmp_path / "body", {"kind": "template", "title": "DEMO al limite"}, "limite.txt",
                      filler=25 * MB + 20 * 1024)
    store = LocalBlobStore()
    before = store.stored()
    tracemalloc.start()
    try:
        answer = post_form(cast["staff"], "/toolkit/documents", form)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.status_code == 413 and answer.json()["error"] == "too_large", answer.text
    assert peak < 4 * MB, f"{peak / MB:.1f} MB allocated at the peak"
    assert store.stored() == before and store.pending() == []


def test_a_participants_proposal_is_seen_by_staff_alone_until_published_and_the_proposer_is_told(
        cast, tmp_path, unique):
    person = cast["people"][0]
    enrolled(cast, person)
    proposer = cast["as"](person)
    fields = {"kind": "guideline", "title": f"Linea guida DEMO {unique}", "organisation": f"Comune DEMO {unique}",
              "reason": "la usiamo nel nostro Ambito"}
    proposal = eventually(lambda: post_form(proposer, "/toolkit/proposals",
                                            write_form(tmp_path / "body", fields, "linee.docx", samples.docx())))
    assert proposal.status_code == 201, proposal.text
    pending = eventually(lambda: [p for p in cast["staff"].get("/toolkit/proposals").json()
                                  if p["id"] == proposal.json()["id"]])
    assert pending[0]["file"]["media_type"].endswith("wordprocessingml.document")
    assert proposer.get(f"/toolkit/documents?organisation={unique}").json()["total"] == 0
    assert proposer.get("/toolkit/proposals").status_code == 403

    published_ = cast["staff"].post(f"/toolkit/proposals/{proposal.json()['id']}/publish")
    assert published_.status_code == 200, published_.text
    listed = eventually(lambda: proposer.get(f"/toolkit/documents?organisation={unique}").json()["items"])
    assert listed[0]["title"] == f"Linea guida DEMO {unique}" and listed[0]["kind"] == "guideline"

    def told():
        mails = [m for m in mailbox.Maildir(config.state_dir() / "mail") if unique in (m["Subject"] or "")]
        assert mails and mails[0]["Subject"] == f"Proposta pubblicata: Linea guida DEMO {unique}"
        return mails
    eventually(told)

    comment = proposer.post(f"/toolkit/documents/{listed[0]['id']}/comments", {"text": "Molto utile"})
    assert comment.status_code == 201, comment.text
    hidden = cast["staff"].post(f"/toolkit/comments/{comment.json()['id']}/hide", {"reason": "DEMO"})
    assert hidden.status_code == 200 and hidden.json()["hidden_reason"] == "DEMO"


def test_a_participant_follows_their_own_proposals_until_staff_publish_or_reject_them_and_sees_no_one_elses(
        cast, tmp_path, unique):
    person, neighbour = cast["people"]
    for someone in (person, neighbour):
        enrolled(cast, someone)
    proposer = cast["as"](person)
    ids = []
    for n, title in enumerate((f"Linea guida DEMO {unique}", f"Atto DEMO {unique}")):
        fields = {"kind": "guideline", "title": title, "reason": f"motivo DEMO {n}"}
        answer = eventually(lambda: post_form(proposer, "/toolkit/proposals",
                                              write_form(tmp_path / "body", fields, f"proposta-{n}.txt",
                                                         f"Proposta DEMO {n}\n".encode())))
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    first, second = ids

    def mine(client=proposer, query="", total=2):
        answer = client.get(f"/toolkit/proposals/mine{query}")
        assert answer.status_code == 200, answer.text
        assert answer.json()["total"] == total, answer.text
        return answer

    pending = eventually(mine).json()
    assert [p["id"] for p in pending["items"]] == [second, first]  # newest first
    assert [(p["status"], p["decided_at"], p["document_id"]) for p in pending["items"]] == [("pending", None, None)] * 2
    assert pending["items"][1]["title"] == f"Linea guida DEMO {unique}" and pending["items"][1]["reason"] == \
        "motivo DEMO 0" and pending["items"][1]["filename"] == "proposta-0.txt"
    assert "no-store" in mine().headers["Cache-Control"]
    assert mine(query="?per_page=1&page=2").json()["items"][0]["id"] == first
    assert proposer.get("/toolkit/proposals/mine?per_page=0").status_code == 400

    assert mine(cast["as"](neighbour), total=0).json()["items"] == []
    refused = {
        "ambito": Gateway.as_role(cast["url"], "ambito", sub=person, ambito=cast["ambito"]),
        "staff": cast["staff"], "auditor": cast["auditor"],
        "subscriber": Gateway.as_role(cast["url"], "subscriber", sub=person),
        "outsider": cast["as"]("3f1e6a39-0000-4000-8000-00000000beef"),  # a participant token of no participant
    }
    for who, client in refused.items():
        answer = client.get("/toolkit/proposals/mine")
        assert answer.status_code == 403 and person not in answer.text, (who, answer.text)
    assert Gateway(cast["url"]).get("/toolkit/proposals/mine").status_code == 401

    published_ = cast["staff"].post(f"/toolkit/proposals/{first}/publish")
    assert published_.status_code == 200, published_.text
    rejected = cast["staff"].post(f"/toolkit/proposals/{second}/reject", {"reason": "Duplica un atto DEMO"})
    assert rejected.status_code == 200, rejected.text

    def decided():
        items = {p["id"]: p for p in mine().json()["items"]}
        assert items[first]["status"] == "published" and items[second]["status"] == "rejected"
        return items

    items = eventually(decided)
    assert (items[first]["document_id"], items[first]["published_version"], items[first]["rejection_reason"]) == \
        (published_.json()["document_id"], 1, None)
    assert items[second]["rejection_reason"] == "Duplica un atto DEMO" and items[second]["document_id"] is None
    assert all(p["decided_at"] >= p["submitted_at"] for p in items.values())
    document = proposer.get(f"/toolkit/documents/{items[first]['document_id']}")
    assert document.status_code == 200 and document.json()["title"] == f"Linea guida DEMO {unique}"
    assert mine(cast["as"](neighbour), total=0).json()["items"] == []
