"""The toolkit's rules, on its aggregates alone: versions, withdrawal, proposals, comments."""

import pytest

from rebuilding.errors import Conflict
from services.toolkit.domain import Comment, Document, Proposal, version_record

PDF = {"sha256": "a" * 64, "size": 1200, "media_type": "application/pdf", "filename": "modello.pdf"}
ODT = {"sha256": "b" * 64, "size": 900, "media_type": "application/vnd.oasis.opendocument.text",
       "filename": "modello.odt"}
FIELDS = {"kind": "template", "title": "DEMO – Modello di convenzione", "description": "Per la co-progettazione.",
          "themes": ["co-programmazione"], "legal_references": ["D.Lgs. 117/2017 art. 55"],
          "author": "Autore DEMO", "organisation": "Ufficio di Piano DEMO"}


def document() -> Document:
    return Document(**FIELDS, published_by="staff-1",
                    first_version=version_record(1, PDF, "staff-1", "2026-12-01T10:00:00+00:00", "prima versione"))


def test_a_new_version_keeps_every_earlier_one_with_who_uploaded_it_when_and_why():
    doc = document()
    second = doc.add_version(ODT, "staff-2", "2026-12-02T10:00:00+00:00", "aggiornato al nuovo codice")
    assert second["number"] == 2 and [v["sha256"] for v in doc.versions] == [PDF["sha256"], ODT["sha256"]]
    assert doc.find_version(1) == {"number": 1, **PDF, "uploaded_by": "staff-1",
                              "uploaded_at": "2026-12-01T10:00:00+00:00", "reason": "prima versione"}
    assert doc.find_version(2)["uploaded_by"] == "staff-2" and doc.find_version(2)["reason"] == "aggiornato al nuovo codice"
    assert doc.find_version(3) is None and doc.find_version(0) is None


def test_a_withdrawn_document_keeps_its_reason_and_versions_but_takes_no_new_version():
    doc = document()
    doc.withdraw("abrogata dalla L. 1/2026 (DEMO)", "staff-1")
    assert (doc.status, doc.withdrawal_reason, len(doc.versions)) == ("withdrawn", "abrogata dalla L. 1/2026 (DEMO)", 1)
    with pytest.raises(Conflict):
        doc.add_version(ODT, "staff-1", "2026-12-03T10:00:00+00:00", "x")
    with pytest.raises(Conflict):
        doc.withdraw("again", "staff-1")


def test_a_published_proposal_becomes_a_document_uploaded_by_its_proposer():
    proposal = Proposal(proposer="person-1", document_id=None, fields=FIELDS, file=PDF, reason="dal nostro Ambito",
                        submitted_at="2026-12-01T09:00:00+00:00")
    doc, version = proposal.publish("staff-1", None, "2026-12-01T10:00:00+00:00")
    assert proposal.status == "published" and proposal.document_id == str(doc.id)
    assert doc.title == FIELDS["title"] and version["uploaded_by"] == "person-1" and version["number"] == 1
    with pytest.raises(Conflict):
        proposal.reject("too late", "staff-1")


def test_a_proposed_version_is_added_to_its_document_when_published():
    doc = document()
    proposal = Proposal(proposer="person-2", document_id=str(doc.id), fields={}, file=ODT, reason="versione ODT",
                        submitted_at="2026-12-01T09:00:00+00:00")
    same, version = proposal.publish("staff-1", doc, "2026-12-02T10:00:00+00:00")
    assert same is doc and version["number"] == 2 and doc.versions[-1]["uploaded_by"] == "person-2"


def test_a_rejected_proposal_keeps_its_reason_and_cannot_then_be_published():
    proposal = Proposal(proposer="person-1", document_id=None, fields=FIELDS, file=PDF, reason="",
                        submitted_at="2026-12-01T09:00:00+00:00")
    proposal.reject("duplicato di un modello esistente", "staff-1")
    assert proposal.status == "rejected"
    assert proposal.collect_events()[-1].reason == "duplicato di un modello esistente"
    with pytest.raises(Conflict):
        proposal.publish("staff-1", None, "2026-12-01T10:00:00+00:00")


def test_a_hidden_comment_keeps_the_reason_and_is_hidden_once():
    comment = Comment(document_id="d", author="person-1", text="Ottimo modello")
    comment.hide("dati personali nel testo", "staff-1")
    assert (comment.hidden, comment.hidden_reason) == (True, "dati personali nel testo")
    with pytest.raises(Conflict):
        comment.hide("again", "staff-1")
