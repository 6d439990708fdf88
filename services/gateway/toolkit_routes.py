"""Routes under /toolkit: the cassetta degli attrezzi, open to the labs' participants and to staff.

Files never travel over RPC. An upload is streamed from the multipart body into the blob
store (``rebuilding/blobs.py``) while its size is counted against the limit, then its type
is read from its content (``rebuilding/filetypes.py``); only then is it kept, and the toolkit
service is sent its hash, size, type and name. A download is served from the blob store after
its bytes are hashed again; a file that no longer matches is refused and reported.
"""

import os
from uuid import uuid4

from marshmallow import fields

from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.formparser import MultiPartParser
from werkzeug.http import parse_options_header
from werkzeug.utils import send_file

from rebuilding import blobs, filetypes
from rebuilding.errors import DomainError, Forbidden, Invalid, NotFound
from rebuilding.rpc import RpcProxy
from rebuilding.schemas import validated
from services.gateway.api import LengthRequired, api, call
from services.toolkit import schemas

FORM_FIELDS_BYTES = 256 * 1024
"""The most a multipart form's fields (all but the file) may take, as they are kept in memory; more than the
parser's 64 KB reads, which werkzeug counts against it too."""
FORM_PARTS = 100
UPLOAD_ANSWERS = {
    404: "No such document",
    411: "An upload without a Content-Length",
    413: "The file is larger than the limit (REBUILDING_MAX_UPLOAD_BYTES, 25 MB by default)",
    415: "The file is not a PDF, DOCX, ODT, XLSX, ODS or plain text, whatever its name says",
}
RECEIVED = "rebuilding.toolkit.received_upload"
"""Where a page that streamed the body itself, through ``receive_upload``, leaves what it received for the
handler: the page must read its CSRF token from the form's fields before anything is kept (``pages/uploads.py``)."""


class UnsupportedType(DomainError):
    status = 415
    code = "unsupported_type"


def receive_upload(request, store: blobs.BlobStore, limit: int):
    """The form's fields, the file's name and its bytes as received (not yet kept), from a streamed body."""
    if RECEIVED in request.environ:  # a page received it already, and checked its CSRF token
        return request.environ.pop(RECEIVED)
    mimetype, options = parse_options_header(request.headers.get("Content-Type", ""))
    if mimetype != "multipart/form-data" or not options.get("boundary"):
        raise Invalid("send the document as multipart/form-data, the file in the field 'file'",
                      {"file": ["Missing data for required field."]})
    if request.content_length is None:  # the server would hand a chunked body over as an empty one
        raise LengthRequired("an upload needs a Content-Length")
    if request.content_length > limit + FORM_FIELDS_BYTES * 2:
        raise blobs.TooLarge(f"the body is larger than the limit of {limit} bytes for a file",
                             {"file": [f"at most {limit} bytes"]})
    sinks = []

    def sink(total_content_length=None, content_type=None, filename=None, content_length=None):
        if sinks:
            raise Invalid("send one file, in the field 'file'", {"file": ["one file only"]})
        sinks.append(store.incoming(limit))
        return sinks[0]

    parser = MultiPartParser(stream_factory=sink, max_form_memory_size=FORM_FIELDS_BYTES, max_form_parts=FORM_PARTS)
    try:
        try:
            form, files = parser.parse(request.stream, options["boundary"].encode("latin-1"), request.content_length)
        except RequestEntityTooLarge:
            raise Invalid("the form's fields are too long", {"_schema": [f"at most {FORM_FIELDS_BYTES} bytes"]}) \
                from None
        except (ValueError, UnicodeError) as error:
            raise Invalid(f"the multipart body is malformed: {error}", {"file": ["not a valid form"]}) from None
        except BadRequest:  # the body ended before its Content-Length
            raise Invalid("the body ended before its Content-Length", {"file": ["incomplete"]}) from None
        if list(files.keys()) != ["file"] or not sinks:
            raise Invalid("send the document in the field 'file'", {"file": ["Missing data for required field."]})
        return form, files["file"].filename, sinks[0]
    except BaseException:
        for incoming in sinks:
            incoming.discard()
        raise


def form_values(form, schema_class) -> dict:
    """The form as the schema reads it: its list fields from repeated fields, the others from their first."""
    lists = {name for name, field in schema_class().fields.items() if isinstance(field, fields.List)}
    return {key: form.getlist(key) if key in lists else form.get(key) for key in form.keys()}


def file_name(given: str | None, media_type: str) -> str:
    """The name the file is offered under: the sender's, without its folders, or a plain one."""
    name = os.path.basename((given or "").replace("\\", "/")).strip()
    return name[-255:] or f"documento.{filetypes.EXTENSIONS[media_type]}"


class ToolkitRoutes:
    toolkit = RpcProxy("toolkit")
    blob_store = None

    @property
    def blobs(self) -> blobs.BlobStore:
        if ToolkitRoutes.blob_store is None:
            ToolkitRoutes.blob_store = blobs.blob_store_from_config()
        return ToolkitRoutes.blob_store

    def _upload(self, request, form_schema) -> tuple[dict, dict]:
        """Validate the form, read the file's type from its content and keep it; its fields and metadata."""
        form, given_name, incoming = receive_upload(request, self.blobs, blobs.max_upload_bytes())
        try:
            values = validated(form_schema(), form_values(form, form_schema))
            if incoming.size == 0:
                raise Invalid("the file is empty", {"file": ["an empty file"]})
            with incoming.reader() as content:
                media_type = filetypes.detect(content)
            if media_type is None:
                raise UnsupportedType("the file is not a PDF, DOCX, ODT, XLSX, ODS or plain text: it is refused "
                                      "and nothing of it is kept", {"file": ["type not allowed"]})
            meta = {"size": incoming.size, "media_type": media_type, "filename": file_name(given_name, media_type)}
            validated(schemas.FileMeta(partial=("sha256",)), meta)
            stored = incoming.commit()
        finally:
            incoming.discard()
        return form_schema().dump(values), {**meta, "sha256": stored.sha256}

    # documents

    @api.route("GET", "/toolkit/documents",
               summary="Search the toolkit: text in title and description, kind, theme, legal reference, "
                       "organisation; newest or most downloaded first, a page at a time",
               tag="toolkit", query=schemas.DocumentsQuery, response=schemas.DocumentPage)
    def search_documents(self, request, access, body, query):
        return call(self.toolkit.search, schemas.DocumentsQuery().dump(query), access.toolkit_reader)

    @api.route("POST", "/toolkit/documents", summary="Publish a document, with its file (multipart)",
               tag="toolkit", form=schemas.DocumentFields, response=schemas.Published, status=201,
               responses=UPLOAD_ANSWERS)
    def publish_document(self, request, access, body, query):
        values, file = self._upload(request, schemas.DocumentFields)
        return call(self.toolkit.publish_document, values, file, access.principal.sub)

    @api.route("GET", "/toolkit/documents/{document_id}",
               summary="A document with every version and its comments (a hidden comment's text: staff only)",
               tag="toolkit", response=schemas.Document, responses={404: "No such document"})
    def get_document(self, request, access, body, query, document_id):
        return call(self.toolkit.get_document, document_id, access.toolkit_reader)

    @api.route("POST", "/toolkit/documents/{document_id}/versions",
               summary="Add a version, with its file and why (multipart); every earlier one stays downloadable",
               tag="toolkit", form=schemas.VersionFields, response=schemas.Published, status=201,
               responses={**UPLOAD_ANSWERS, 409: "The document is withdrawn"})
    def add_version(self, request, access, body, query, document_id):
        values, file = self._upload(request, schemas.VersionFields)
        return call(self.toolkit.add_version, document_id, values, file, access.principal.sub)

    @api.route("POST", "/toolkit/documents/{document_id}/withdraw",
               summary="Withdraw a document, with the reason: it stays listed, no longer current",
               tag="toolkit", body=schemas.Reason, response=schemas.Withdrawn,
               responses={404: "No such document", 409: "Already withdrawn"})
    def withdraw_document(self, request, access, body, query, document_id):
        return call(self.toolkit.withdraw, document_id, body, access.principal.sub)

    @api.route("GET", "/toolkit/documents/{document_id}/versions/{n}/download",
               summary="Download a version's file, checked against its SHA-256 first; the download is recorded",
               tag="toolkit", produces=tuple(filetypes.ALLOWED),
               responses={404: "No such document or version",
                          500: "The stored file no longer matches its SHA-256 (corrupt_file) or is missing: "
                               "it is not served, and the toolkit reports it"})
    def download(self, request, access, body, query, document_id, n):
        number = int(n) if n.isascii() and n.isdigit() and len(n) < 10 else 0
        if number < 1:
            raise NotFound(f"no version {n}")
        reader = access.toolkit_reader
        meta = call(self.toolkit.version_file, document_id, number, reader)
        try:
            content = self.blobs.open_verified(meta["sha256"])
        except (blobs.Corrupt, blobs.Missing) as error:
            found = (error.details or {}).get("found")
            call(self.toolkit.report_corrupt_file, meta["sha256"], found, document_id, number)
            raise
        try:
            call(self.toolkit.record_download, document_id, number, access.principal.sub, reader, str(uuid4()))
        except BaseException:
            content.close()
            raise
        response = send_file(content, request.environ, mimetype=meta["media_type"], as_attachment=True,
                             download_name=meta["filename"], conditional=False, etag=meta["sha256"])
        response.headers["Content-Length"] = str(meta["size"])
        return response

    # comments

    @api.route("POST", "/toolkit/documents/{document_id}/comments", summary="Comment on a published document",
               tag="toolkit", body=schemas.CommentInput, response=schemas.Comment, status=201,
               responses={404: "No such document"})
    def comment(self, request, access, body, query, document_id):
        return call(self.toolkit.comment, document_id, body, access.principal.sub, access.toolkit_reader)

    @api.route("POST", "/toolkit/comments/{comment_id}/hide", summary="Hide a comment, with the reason, which is kept",
               tag="toolkit", body=schemas.Reason, response=schemas.CommentHidden,
               responses={404: "No such comment", 409: "Already hidden"})
    def hide_comment(self, request, access, body, query, comment_id):
        return call(self.toolkit.hide_comment, comment_id, body, access.principal.sub)

    # proposals

    @api.route("POST", "/toolkit/proposals",
               summary="Propose a document, or with document_id a new version of one (multipart); "
                       "only staff see it until they publish or reject it",
               tag="toolkit", form=schemas.ProposalFields, response=schemas.ProposalOutcome, status=201,
               responses=UPLOAD_ANSWERS)
    def propose(self, request, access, body, query):
        if not call(self.toolkit.access, access.principal.sub)["participant"]:  # before their file is kept
            raise Forbidden("the toolkit is open to the participants of the labs: a confirmed enrolment in a lab "
                            "gives access", {"reason": "not_a_participant"})
        values, file = self._upload(request, schemas.ProposalFields)
        return call(self.toolkit.propose, access.principal.sub, values, file)

    @api.route("GET", "/toolkit/proposals", summary="The proposals, oldest first; only staff see them",
               tag="toolkit", query=schemas.ProposalsQuery, response=schemas.Proposal(many=True))
    def list_proposals(self, request, access, body, query):
        return call(self.toolkit.list_proposals, query)

    @api.route("GET", "/toolkit/proposals/mine",
               summary="Your own proposals, newest first, a page at a time: pending, published (with the "
                       "document) or rejected (with the reason)",
               tag="toolkit", query=schemas.MyProposalsQuery, response=schemas.MyProposalPage)
    def my_proposals(self, request, access, body, query):
        return call(self.toolkit.proposals_of, access.principal.sub, schemas.MyProposalsQuery().dump(query),
                    access.toolkit_reader)

    @api.route("POST", "/toolkit/proposals/{proposal_id}/publish",
               summary="Publish a proposal: a new document, or a new version; the proposer is told by e-mail",
               tag="toolkit", response=schemas.ProposalOutcome,
               responses={404: "No such proposal", 409: "Already published or rejected, or its document withdrawn"})
    def publish_proposal(self, request, access, body, query, proposal_id):
        return call(self.toolkit.publish_proposal, proposal_id, access.principal.sub)

    @api.route("POST", "/toolkit/proposals/{proposal_id}/reject",
               summary="Reject a proposal, with the reason; the proposer is told by e-mail",
               tag="toolkit", body=schemas.Reason, response=schemas.ProposalOutcome,
               responses={404: "No such proposal", 409: "Already published or rejected"})
    def reject_proposal(self, request, access, body, query, proposal_id):
        return call(self.toolkit.reject_proposal, proposal_id, body, access.principal.sub)

    # statistics

    @api.route("GET", "/toolkit/stats/downloads", summary="Downloads per document, per ATS and per month",
               tag="toolkit", response=schemas.DownloadStats)
    def download_stats(self, request, access, body, query):
        return call(self.toolkit.download_stats)
