"""The library through the toolkit application: search, versions, withdrawal, proposals, comments, stats, mail."""

import mailbox

import pytest

from rebuilding import config
from rebuilding.errors import Conflict, Forbidden, Invalid, NotFound
from rebuilding.rebuilds import rebuild, verify
from tests.labs.conftest import learn
from tests.labs.test_enrolment import new_lab
from tests.toolkit.conftest import follow, settle_toolkit

pytestmark = pytest.mark.integration


def file(n: int, name: str = "modello.pdf") -> dict:
    return {"sha256": f"{n:064x}", "size": 100 + n, "media_type": "application/pdf", "filename": name}


def fields(unique: str, **changes) -> dict:
    return {"kind": "template", "title": f"Modello DEMO {unique}", "description": "Convenzione per la co-progettazione",
            "themes": ["co-programmazione"], "legal_references": ["D.Lgs. 117/2017 art. 55"],
            "author": "Autrice DEMO", "organisation": f"Ufficio di Piano DEMO {unique}", **changes}


@pytest.fixture
def participant(toolkit, labs, registry, territory):
    person = territory.person(territory.ambito())
    learn(labs, registry)
    labs.enrol(new_lab(labs, capacity=5), person)
    follow(toolkit, labs, registry)
    return person


def test_documents_are_found_by_text_kind_theme_reference_and_organisation_and_sorted(toolkit, participant, unique):
    older = toolkit.publish_document(fields(unique), file(1), "staff-1")["id"]
    newer = toolkit.publish_document(fields(unique, kind="guideline", title=f"Linea guida DEMO {unique}",
                                            themes=["terzo-settore"], legal_references=["DM 72/2021"]),
                                     file(2), "staff-1")["id"]
    settle_toolkit(toolkit)

    def ids(**query):
        return [d["id"] for d in toolkit.search({"organisation": unique, **query}, reader=participant)["items"]]

    assert ids() == [newer, older]
    assert ids(kind="template") == [older]
    assert ids(theme="terzo-settore") == [newer]
    assert ids(legal_reference="117/2017") == [older]
    assert ids(q="linea GUIDA") == [newer] and ids(q="co-progettazione") == [newer, older]
    assert ids(q="100%_") == []
    toolkit.record_download(older, 1, participant, participant)
    settle_toolkit(toolkit)
    assert ids(sort="downloads") == [older, newer]
    page = toolkit.search({"organisation": unique, "per_page": 1, "page": 2}, reader=participant)
    assert (page["total"], [d["id"] for d in page["items"]]) == (2, [older])


def test_unknown_themes_are_refused(toolkit, participant, unique):
    with pytest.raises(Invalid):
        toolkit.publish_document(fields(unique, themes=["no-such-theme"]), file(3), "staff-1")


def test_a_withdrawn_document_stays_listed_with_its_reason_and_all_versions_but_is_not_current(toolkit, participant,
                                                                                              unique):
    doc = toolkit.publish_document(fields(unique), file(4), "staff-1")["id"]
    second = toolkit.add_version(doc, file(5, "modello-v2.pdf"), "aggiornato", "staff-2")["version"]
    assert (second["number"], second["uploaded_by"], second["reason"]) == (2, "staff-2", "aggiornato")
    toolkit.withdraw(doc, "norma abrogata (DEMO)", "staff-1")
    with pytest.raises(Conflict):
        toolkit.add_version(doc, file(6), "x", "staff-1")
    settle_toolkit(toolkit)
    shown = toolkit.get_document(doc, reader=participant)
    assert (shown["status"], shown["withdrawal_reason"], shown["current_version"]) == \
        ("withdrawn", "norma abrogata (DEMO)", None)
    assert [v["filename"] for v in shown["versions"]] == ["modello.pdf", "modello-v2.pdf"]
    assert toolkit.version_file(doc, 1, participant)["sha256"] == file(4)["sha256"]
    assert [d["id"] for d in toolkit.search({"organisation": unique}, reader=participant)["items"]] == [doc]


def test_a_proposal_is_seen_by_staff_alone_until_published_and_its_proposer_is_told(toolkit, participant, unique):
    proposed = toolkit.propose(participant, fields(unique), file(7), "dal nostro Ambito", None)
    settle_toolkit(toolkit)
    assert toolkit.search({"organisation": unique}, reader=participant)["total"] == 0
    assert proposed["id"] in [p["id"] for p in toolkit.list_proposals("pending")]
    published = toolkit.publish_proposal(proposed["id"], "staff-1")
    with pytest.raises(Conflict):
        toolkit.reject_proposal(proposed["id"], "too late", "staff-1")
    settle_toolkit(toolkit)
    document = toolkit.get_document(published["document_id"], reader=participant)
    assert document["versions"][0]["uploaded_by"] == participant
    mails = [m for m in mailbox.Maildir(config.state_dir() / "mail") if unique in m["Subject"]]
    assert [m["Subject"] for m in mails] == [f"Proposta pubblicata: Modello DEMO {unique}"]

    version = toolkit.propose(participant, {}, file(8), "versione ODT", published["document_id"])
    toolkit.reject_proposal(version["id"], "formato già presente", "staff-1")
    settle_toolkit(toolkit)
    mails = [m for m in mailbox.Maildir(config.state_dir() / "mail") if "non accolta" in m["Subject"]
             and unique in m["Subject"]]
    assert len(mails) == 1 and "formato già presente" in mails[0].get_payload(decode=True).decode()


def test_a_proposer_follows_their_proposals_newest_first_and_the_list_is_rebuilt_from_the_events_as_it_was(
        toolkit, labs, registry, territory, participant, unique):
    document = toolkit.publish_document(fields(unique), file(20), "staff-1")["id"]
    first = toolkit.propose(participant, fields(unique, title=f"Primo DEMO {unique}"), file(21), "uno", None)["id"]
    second = toolkit.propose(participant, {}, file(22, "modello-v2.pdf"), "due", document)["id"]
    third = toolkit.propose(participant, fields(unique, title=f"Terzo DEMO {unique}"), file(23), "tre", None)["id"]
    published = toolkit.publish_proposal(first, "staff-1")
    toolkit.reject_proposal(second, "formato già presente (DEMO)", "staff-1")
    settle_toolkit(toolkit)

    mine = toolkit.proposals_of(participant, {"page": 1, "per_page": 20}, reader=participant)
    assert mine["total"] == 3 and [p["id"] for p in mine["items"]] == [third, second, first]
    shown = {p["id"]: p for p in mine["items"]}
    assert (shown[first]["status"], shown[first]["document_id"], shown[first]["published_version"],
            shown[first]["new_version"]) == ("published", published["document_id"], 1, False)
    assert (shown[second]["status"], shown[second]["rejection_reason"], shown[second]["document_id"],
            shown[second]["title"], shown[second]["new_version"], shown[second]["filename"]) == \
        ("rejected", "formato già presente (DEMO)", document, f"Modello DEMO {unique}", True, "modello-v2.pdf")
    assert (shown[third]["status"], shown[third]["document_id"], shown[third]["decided_at"]) == ("pending", None, None)
    assert shown[first]["decided_at"] >= shown[first]["submitted_at"] and shown[second]["decided_at"]
    page = toolkit.proposals_of(participant, {"page": 2, "per_page": 2}, reader=participant)
    assert (page["total"], [p["id"] for p in page["items"]]) == (3, [first])

    other = territory.person(territory.ambito())
    learn(labs, registry)
    labs.enrol(new_lab(labs, capacity=5), other)
    follow(toolkit, labs, registry)
    assert toolkit.proposals_of(other, {}, reader=other) == {"items": [], "total": 0, "page": 1, "per_page": 20}
    with pytest.raises(Forbidden):
        toolkit.proposals_of(participant, {}, reader=other)

    assert [t.table for t in verify(toolkit, toolkit.library) if not t.same] == []
    rebuild(toolkit, toolkit.library)
    assert toolkit.proposals_of(participant, {"page": 1, "per_page": 20}, reader=participant) == mine


def test_only_participants_propose_and_comment(toolkit, registry, labs, territory, unique):
    outsider = territory.person(territory.ambito())
    with pytest.raises(Forbidden):
        toolkit.propose(outsider, fields(unique), file(9), "", None)
    doc = toolkit.publish_document(fields(unique), file(10), "staff-1")["id"]
    with pytest.raises(Forbidden):
        toolkit.comment(doc, outsider, "ciao", reader=outsider)


def test_a_hidden_comment_keeps_its_reason_for_staff_and_shows_participants_only_that_it_was_hidden(
        toolkit, participant, unique):
    doc = toolkit.publish_document(fields(unique), file(11), "staff-1")["id"]
    kept = toolkit.comment(doc, participant, "Utile, grazie", reader=participant)
    hidden = toolkit.comment(doc, participant, "Contiene un numero di telefono", reader=participant)
    toolkit.hide_comment(hidden["id"], "dati personali", "staff-1")
    with pytest.raises(NotFound):
        toolkit.hide_comment(doc, "not a comment", "staff-1")
    settle_toolkit(toolkit)
    for_staff = {c["id"]: c for c in toolkit.get_document(doc)["comments"]}
    assert (for_staff[hidden["id"]]["text"], for_staff[hidden["id"]]["hidden_reason"]) == \
        ("Contiene un numero di telefono", "dati personali")
    for_participant = {c["id"]: c for c in toolkit.get_document(doc, reader=participant)["comments"]}
    assert for_participant[hidden["id"]]["text"] == "" and for_participant[hidden["id"]]["hidden"] is True
    assert for_participant[kept["id"]]["text"] == "Utile, grazie"


def test_downloads_are_counted_per_document_per_ats_and_per_month(toolkit, participant, unique):
    doc = toolkit.publish_document(fields(unique), file(12), "staff-1")["id"]
    toolkit.record_download(doc, 1, participant, participant)
    toolkit.record_download(doc, 1, participant, participant)
    toolkit.record_download(doc, 1, "staff-1", None)
    settle_toolkit(toolkit)
    stats = toolkit.download_stats()
    assert {"document_id": doc, "title": f"Modello DEMO {unique}", "downloads": 3} in stats["by_document"]
    by_ats = {row["ats"]: row["downloads"] for row in stats["by_ats"]}
    assert by_ats["bergamo"] >= 2 and by_ats[None] >= 1
    assert sum(row["downloads"] for row in stats["by_month"]) == stats["total"]


def test_a_download_recorded_twice_under_one_id_counts_once(toolkit, participant, unique):
    doc = toolkit.publish_document(fields(unique), file(13), "staff-1")["id"]
    download_id = "6a1f0c52-7a43-4f55-9d0b-3c1f9e2a7b10".replace("7b10", unique[:4])
    first = toolkit.record_download(doc, 1, participant, participant, download_id)
    again = toolkit.record_download(doc, 1, participant, participant, download_id)
    assert first == again
    settle_toolkit(toolkit)
    row = next(r for r in toolkit.download_stats()["by_document"] if r["document_id"] == doc)
    assert row["downloads"] == 1
