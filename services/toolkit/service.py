"""The toolkit's nameko entrypoints.

Files never travel over RPC: the gateway stores them (``rebuilding/blobs.py``) and passes
their hash, size, type and name (``file``). ``reader`` is the person a participant's request
is for; the toolkit refuses one who is not a participant. Staff's requests name no reader.
"""

from rebuilding.contracts import accepts
from rebuilding.errors import Invalid
from rebuilding.nameko_ext import EventStore, ServiceBase, rpc
from services.toolkit import schemas
from services.toolkit.application import ToolkitApplication


def version_number(number) -> int:
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise Invalid("a version is a whole number from 1", {"n": ["Not a valid version."]})
    return number


class ToolkitService(ServiceBase):
    """The toolkit follows labs' log (``Participants``) and the registry's (``People``)."""

    name = "toolkit"
    app = EventStore(ToolkitApplication)

    @rpc
    @accepts(payload=schemas.DocumentFields, file=schemas.FileMeta)
    def publish_document(self, payload, file, published_by):
        """Publish a document (staff), with its first version."""
        return self.app.publish_document(payload, file, published_by)

    @rpc
    @accepts(payload=schemas.VersionFields, file=schemas.FileMeta)
    def add_version(self, document_id, payload, file, uploaded_by):
        return self.app.add_version(document_id, file, payload["reason"], uploaded_by)

    @rpc
    @accepts(payload=schemas.Reason)
    def withdraw(self, document_id, payload, withdrawn_by):
        return self.app.withdraw(document_id, payload["reason"], withdrawn_by)

    @rpc
    @accepts(query=schemas.DocumentsQuery)
    def search(self, query, reader=None):
        """A page of documents, current and withdrawn, found by text, kind, theme, legal reference, organisation."""
        return self.app.search(query, reader)

    @rpc
    def get_document(self, document_id, reader=None):
        """A document with its versions and comments; a hidden comment's text only for staff."""
        return self.app.get_document(document_id, reader)

    @rpc
    def version_file(self, document_id, number, reader=None):
        """The hash, size, type and name of one version's file, for the gateway to serve."""
        return self.app.version_file(document_id, version_number(number), reader)

    @rpc
    def record_download(self, document_id, number, person_id, reader=None, download_id=None):
        """Record a download; ``download_id``, a UUID the gateway makes per request, makes a repeat record nothing."""
        return self.app.record_download(document_id, version_number(number), person_id, reader, download_id)

    @rpc
    def report_corrupt_file(self, sha256, found_sha256, document_id, number):
        """A stored file no longer matches its hash: recorded once, and the toolkit's health is degraded."""
        return self.app.report_corrupt_file(sha256, found_sha256, document_id, number)

    @rpc
    def download_stats(self):
        return self.app.download_stats()

    @rpc
    def access(self, person_id):
        """Whether a person is a participant (has access to the toolkit), and their ATS."""
        return self.app.access(person_id)

    @rpc
    @accepts(payload=schemas.ProposalFields, file=schemas.FileMeta)
    def propose(self, proposer, payload, file):
        """A participant proposes a document, or (``document_id``) a new version of one."""
        document_id = str(payload["document_id"]) if payload.get("document_id") else None
        fields = {k: v for k, v in payload.items() if k not in ("document_id", "reason")}
        return self.app.propose(proposer, fields, file, payload["reason"], document_id)

    @rpc
    @accepts(query=schemas.ProposalsQuery)
    def list_proposals(self, query=None):
        return self.app.list_proposals(query.get("status"))

    @rpc
    @accepts(query=schemas.MyProposalsQuery)
    def proposals_of(self, proposer, query=None, reader=None):
        """One person's proposals, newest first, a page at a time: status, rejection reason, the document it
        became and its version, when it was sent and decided. ``reader`` (a participant) must be ``proposer``."""
        return self.app.proposals_of(proposer, query, reader)

    @rpc
    def publish_proposal(self, proposal_id, published_by):
        return self.app.publish_proposal(proposal_id, published_by)

    @rpc
    @accepts(payload=schemas.Reason)
    def reject_proposal(self, proposal_id, payload, rejected_by):
        return self.app.reject_proposal(proposal_id, payload["reason"], rejected_by)

    @rpc
    @accepts(payload=schemas.CommentInput)
    def comment(self, document_id, payload, author, reader=None):
        return self.app.comment(document_id, author, payload["text"], reader)

    @rpc
    @accepts(payload=schemas.Reason)
    def hide_comment(self, comment_id, payload, hidden_by):
        return self.app.hide_comment(comment_id, payload["reason"], hidden_by)
