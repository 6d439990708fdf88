"""The toolkit's aggregates: documents with their versions, proposals from participants, comments, downloads.

A file is named by the SHA-256 of its content; the aggregates hold only that and what
the gateway learnt of the file while storing it (size, type, name). The bytes live in
the blob store (``rebuilding/blobs.py``), never in an event.
"""

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from rebuilding.errors import Conflict

KINDS = ("template", "administrative_act", "guideline")
"""Modello, atto amministrativo, linea guida."""
KIND_NAMES = {"template": "modello", "administrative_act": "atto amministrativo", "guideline": "linea guida"}
DESCRIPTIVE_FIELDS = ("kind", "title", "description", "themes", "legal_references", "author", "organisation")
FILE_FIELDS = ("sha256", "size", "media_type", "filename")


def version_record(number: int, file: dict, uploaded_by: str, uploaded_at: str, reason: str) -> dict:
    return {"number": number, **{k: file[k] for k in FILE_FIELDS}, "uploaded_by": uploaded_by,
            "uploaded_at": uploaded_at, "reason": reason}


class Document(Aggregate):
    """A document of the toolkit; every version it ever had stays downloadable."""

    @event("Published")
    def __init__(self, kind: str, title: str, description: str, themes: list, legal_references: list, author: str,
                 organisation: str, published_by: str, first_version: dict, proposal_id: str | None = None):
        self.kind = kind
        self.title = title
        self.status = "current"
        self.withdrawal_reason = None
        self.versions = [first_version]

    def add_version(self, file: dict, uploaded_by: str, uploaded_at: str, reason: str) -> dict:
        if self.status == "withdrawn":
            raise Conflict("a withdrawn document takes no new version", {"reason": "withdrawn"})
        version = version_record(len(self.versions) + 1, file, uploaded_by, uploaded_at, reason)
        self._version_added(version=version)
        return version

    @event("VersionAdded")
    def _version_added(self, version: dict) -> None:
        self.versions.append(version)

    def withdraw(self, reason: str, withdrawn_by: str) -> None:
        if self.status == "withdrawn":
            raise Conflict("this document is already withdrawn", {"reason": "withdrawn"})
        self._withdrawn(reason=reason, withdrawn_by=withdrawn_by)

    @event("Withdrawn")
    def _withdrawn(self, reason: str, withdrawn_by: str) -> None:
        self.status = "withdrawn"
        self.withdrawal_reason = reason

    def find_version(self, number: int) -> dict | None:
        return self.versions[number - 1] if 1 <= number <= len(self.versions) else None


class Proposal(Aggregate):
    """A participant's document, or new version of one, that only staff see until they publish or reject it."""

    @event("Submitted")
    def __init__(self, proposer: str, document_id: str | None, fields: dict, file: dict, reason: str,
                 submitted_at: str):
        self.proposer = proposer
        self.document_id = document_id
        self.fields = fields
        self.file = file
        self.reason = reason
        self.submitted_at = submitted_at
        self.status = "pending"

    @property
    def is_new_version(self) -> bool:
        return self.document_id is not None

    def _require_pending(self, action: str) -> None:
        if self.status != "pending":
            raise Conflict(f"a {self.status} proposal cannot be {action}", {"reason": "wrong_status",
                                                                            "status": self.status})

    def publish(self, published_by: str, document: Document | None, now: str) -> tuple[Document, dict]:
        """The document it becomes, or the new version of ``document`` it adds; and that version."""
        self._require_pending("published")
        if self.is_new_version:
            version = document.add_version(self.file, self.proposer, now, self.reason)
        else:
            first = version_record(1, self.file, self.proposer, now, self.reason)
            document = Document(**self.fields, published_by=published_by, first_version=first,
                                proposal_id=str(self.id))
            version = first
        self._published(document_id=str(document.id), version=version["number"], published_by=published_by)
        return document, version

    @event("Published")
    def _published(self, document_id: str, version: int, published_by: str) -> None:
        self.status = "published"
        self.document_id = document_id

    def reject(self, reason: str, rejected_by: str) -> None:
        self._require_pending("rejected")
        self._rejected(reason=reason, rejected_by=rejected_by)

    @event("Rejected")
    def _rejected(self, reason: str, rejected_by: str) -> None:
        self.status = "rejected"


class Comment(Aggregate):
    @event("Posted")
    def __init__(self, document_id: str, author: str, text: str):
        self.document_id = document_id
        self.hidden = False
        self.hidden_reason = None

    def hide(self, reason: str, hidden_by: str) -> None:
        if self.hidden:
            raise Conflict("this comment is already hidden", {"reason": "hidden"})
        self._hidden(reason=reason, hidden_by=hidden_by)

    @event("Hidden")
    def _hidden(self, reason: str, hidden_by: str) -> None:
        self.hidden = True
        self.hidden_reason = reason


class Download(Aggregate):
    """One download: who, which version of which document, when (the event's time), and their ATS.

    Its id is the one the gateway gave the request, so a request run twice records one download.
    """

    @staticmethod
    def create_id(download_id: str):
        return UUID(download_id)

    @event("Recorded")
    def __init__(self, download_id: str, document_id: str, version: int, person_id: str, ats: str | None):
        pass


def stored_file_id(sha256: str):
    return uuid5(NAMESPACE_URL, f"https://rebuilding.anci.lombardia.it/toolkit/files/{sha256}")


class StoredFile(Aggregate):
    """What the toolkit learnt of a stored file's integrity: the first time it no longer matched its hash."""

    @staticmethod
    def create_id(sha256: str):
        return stored_file_id(sha256)

    @event("CorruptionFound")
    def __init__(self, sha256: str, found_sha256: str | None, document_id: str, version: int):
        self.sha256 = sha256
