"""The toolkit application: documents, versions, proposals, comments and downloads, in simple types.

``reader`` names the person a participant's request is for (their token's ``sub``); None is staff.
A reader must be a participant, as the toolkit learns from labs' events (``Participants``).
"""

from datetime import datetime, timezone
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from rebuilding.errors import Conflict, Forbidden, Invalid, NotFound
from rebuilding.eventstore import ServiceApplication, aggregate_id
from services.toolkit.domain import (
    DESCRIPTIVE_FIELDS, FILE_FIELDS, Comment, Document, Download, Proposal, StoredFile, stored_file_id,
    version_record,
)
from services.toolkit.mail import ProposalMail
from services.toolkit.projections import Library, Participants, People


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


class ToolkitApplication(ServiceApplication):
    name = "toolkit"
    projection_classes = (Participants, People, Library, ProposalMail)

    @property
    def participants(self) -> Participants:
        return self.projection(Participants)

    @property
    def library(self) -> Library:
        return self.projection(Library)

    # who may read

    def require_participant(self, reader: str | None) -> dict | None:
        """The participant ``reader``, or None for staff; ``Forbidden`` for anyone else."""
        if reader is None:
            return None
        participant = self.participants.participant(reader)
        if participant is None:
            raise Forbidden("the toolkit is open to the participants of the labs: a confirmed enrolment in a lab "
                            "gives access", {"reason": "not_a_participant"})
        return participant

    def access(self, person_id: str) -> dict:
        participant = self.participants.participant(person_id)
        return {"person_id": person_id, "participant": participant is not None,
                "ats": participant["ats"] if participant else None}

    # documents

    def _check_themes(self, themes: list) -> None:
        unknown = sorted(set(themes) - self.participants.themes())
        if unknown:
            raise Invalid("unknown macro training sections", {"themes": [f"no theme {code}" for code in unknown]})

    def publish_document(self, fields: dict, file: dict, published_by: str) -> dict:
        self._check_themes(fields["themes"])

        def create():
            first = version_record(1, file, published_by, now(), fields.get("reason") or "prima versione")
            document = Document(**{k: fields[k] for k in DESCRIPTIVE_FIELDS}, published_by=published_by,
                                first_version=first)
            return [document], {"id": str(document.id), "version": first}

        return self.decide(create)

    def add_version(self, document_id: str, file: dict, reason: str, uploaded_by: str) -> dict:
        version = self._change(Document, document_id, "document",
                               lambda document: document.add_version(file, uploaded_by, now(), reason))
        return {"id": document_id, "version": version}

    def withdraw(self, document_id: str, reason: str, withdrawn_by: str) -> dict:
        def command(document: Document):
            document.withdraw(reason, withdrawn_by)
            return {"id": document_id, "status": document.status, "withdrawal_reason": reason}

        return self._change(Document, document_id, "document", command)

    def search(self, query: dict, reader: str | None = None) -> dict:
        self.require_participant(reader)
        return self.library.search(**query)

    def get_document(self, document_id: str, reader: str | None = None) -> dict:
        self.require_participant(reader)
        document = self.library.document(aggregate_id(document_id, "document"))
        if document is None:
            raise NotFound(f"no document {document_id}")
        if reader is not None:  # a hidden comment shows participants only that it was hidden
            document["comments"] = [{**c, "text": "", "hidden_reason": None} if c["hidden"] else c
                                    for c in document["comments"]]
        return document

    def _load(self, cls: type, id_: str, what: str):
        """The ``cls`` aggregate ``id_``; ``NotFound`` if there is none, or it is of another kind."""
        try:
            aggregate = self.repository.get(aggregate_id(id_, what))
        except AggregateNotFoundError:
            aggregate = None
        if not isinstance(aggregate, cls):
            raise NotFound(f"no {what} {id_}")
        return aggregate

    def _change(self, cls: type, id_: str, what: str, command):
        def typed(aggregate):
            if not isinstance(aggregate, cls):
                raise NotFound(f"no {what} {id_}")
            return command(aggregate)

        try:
            return self.change(aggregate_id(id_, what), typed)
        except NotFound:
            raise NotFound(f"no {what} {id_}") from None

    def _document(self, document_id: str) -> Document:
        return self._load(Document, document_id, "document")

    # downloads

    def version_file(self, document_id: str, number: int, reader: str | None = None) -> dict:
        """What the gateway needs to serve one version's file: its hash, size, type and name."""
        self.require_participant(reader)
        version = self._document(document_id).find_version(number)
        if version is None:
            raise NotFound(f"document {document_id} has no version {number}")
        return {k: version[k] for k in ("number", *FILE_FIELDS)}

    def record_download(self, document_id: str, number: int, person_id: str, reader: str | None = None,
                        download_id: str | None = None) -> dict:
        """Record that ``person_id`` downloaded a version, with the ATS of a participant (None for staff).

        ``download_id`` (a UUID the caller makes for each download) makes a repeat of the request record nothing.
        """
        participant = self.require_participant(reader)
        if self._document(document_id).find_version(number) is None:
            raise NotFound(f"document {document_id} has no version {number}")
        download_id = str(aggregate_id(download_id or uuid4(), "download"))

        def record():
            try:
                self.repository.get(UUID(download_id))
                return [], {"download_id": download_id}  # recorded by an earlier run of this request
            except AggregateNotFoundError:
                pass
            download = Download(download_id=download_id, document_id=document_id, version=number,
                                person_id=person_id, ats=participant["ats"] if participant else None)
            return [download], {"download_id": download_id}

        return self.decide(record)

    def report_corrupt_file(self, sha256: str, found_sha256: str | None, document_id: str, version: int) -> dict:
        """Record that a stored file no longer matches its hash; the first report of a file is kept."""
        try:
            self.repository.get(stored_file_id(sha256))
            return {"sha256": sha256, "reported": False}
        except AggregateNotFoundError:
            pass

        def record():
            return [StoredFile(sha256=sha256, found_sha256=found_sha256, document_id=document_id,
                               version=version)], {"sha256": sha256, "reported": True}

        try:
            return self.decide(record, attempts=1)
        except Conflict:  # another instance reported it at once
            return {"sha256": sha256, "reported": False}

    def download_stats(self) -> dict:
        return self.library.download_stats()

    # proposals

    def propose(self, proposer: str, fields: dict, file: dict, reason: str, document_id: str | None) -> dict:
        self.require_participant(proposer)
        if document_id is None:
            missing = [k for k in ("kind", "title") if not fields.get(k)]
            if missing:
                raise Invalid("a proposed document needs a kind and a title",
                              {k: ["Missing data for required field."] for k in missing})
            self._check_themes(fields["themes"])
            fields = {k: fields[k] for k in DESCRIPTIVE_FIELDS}
        else:
            document = self._document(document_id)
            if document.status == "withdrawn":
                raise Invalid("a withdrawn document takes no new version", {"document_id": ["withdrawn"]})
            fields = {"title": document.title, "kind": document.kind}
        submitted = now()

        def submit():
            proposal = Proposal(proposer=proposer, document_id=document_id, fields=fields, file=file,
                                reason=reason, submitted_at=submitted)
            return [proposal], {"id": str(proposal.id), "status": "pending", "document_id": document_id}

        return self.decide(submit)

    def _proposal(self, proposal_id: str) -> Proposal:
        return self._load(Proposal, proposal_id, "proposal")

    def publish_proposal(self, proposal_id: str, published_by: str) -> dict:
        def decide_publication():
            proposal = self._proposal(proposal_id)
            document = self._document(proposal.document_id) if proposal.is_new_version else None
            document, version = proposal.publish(published_by, document, now())
            return [proposal, document], {"id": proposal_id, "status": "published", "document_id": str(document.id),
                                          "version": version["number"]}

        return self.decide(decide_publication)

    def reject_proposal(self, proposal_id: str, reason: str, rejected_by: str) -> dict:
        def command(proposal: Proposal):
            proposal.reject(reason, rejected_by)
            return {"id": proposal_id, "status": "rejected", "reason": reason}

        return self._change(Proposal, proposal_id, "proposal", command)

    def list_proposals(self, status: str | None = None) -> list[dict]:
        return self.library.proposals(status)

    def proposals_of(self, proposer: str, query: dict, reader: str | None = None) -> dict:
        """``proposer``'s proposals, newest first, with what staff decided; a participant reads only their own."""
        self.require_participant(reader)
        if reader is not None and reader != proposer:
            raise Forbidden("a participant reads only their own proposals")
        return self.library.proposals_of(proposer, **query)

    # comments

    def comment(self, document_id: str, author: str, text: str, reader: str | None) -> dict:
        self.require_participant(reader)
        document = self._document(document_id)
        if document.status == "withdrawn":
            raise Invalid("a withdrawn document takes no comment", {"document_id": ["withdrawn"]})

        def post():
            comment = Comment(document_id=document_id, author=author, text=text)
            return [comment], {"id": str(comment.id), "document_id": document_id, "author": author, "text": text,
                               "hidden": False}

        return self.decide(post)

    def hide_comment(self, comment_id: str, reason: str, hidden_by: str) -> dict:
        def command(comment: Comment):
            comment.hide(reason, hidden_by)
            return {"id": comment_id, "hidden": True, "hidden_reason": reason}

        return self._change(Comment, comment_id, "comment", command)

    # health

    def status(self) -> dict:
        """The platform's status, and the stored files found damaged: each makes the toolkit degraded."""
        status = super().status()
        if self.in_memory:
            return status
        corrupt = self.library.corrupt_files()
        status["files"] = {"corrupt": corrupt}
        if corrupt:
            status["status"] = "degraded"
        return status
