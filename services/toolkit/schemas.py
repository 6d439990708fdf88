"""The toolkit's RPC inputs and answers, validated in the service and documented by the gateway.

Every text field of an input is a ``rebuilding.schemas.Text``: the platform's one rule for text.
The gateway reads the descriptive fields from a multipart form, beside the file (``file``).
"""

from marshmallow import Schema, fields, validate

from rebuilding.filetypes import ALLOWED
from rebuilding.schemas import Text
from services.toolkit.domain import KINDS

SORTS = ("newest", "downloads")
MAX_PAGE = 10_000

REASON = {"multiline": True, "max_length": 2000}


class FileMeta(Schema):
    """What the gateway learnt of a file while storing it; the bytes stay in the blob store."""

    sha256 = Text(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$", error="a SHA-256 in lowercase hex"))
    size = fields.Integer(required=True, validate=validate.Range(min=1))
    media_type = Text(required=True, validate=validate.OneOf(ALLOWED))
    filename = Text(required=True, min_length=1, max_length=255)


class DocumentFields(Schema):
    kind = Text(required=True, validate=validate.OneOf(KINDS),
                metadata={"description": "template (modello), administrative_act (atto amministrativo), "
                                         "guideline (linea guida)"})
    title = Text(required=True, min_length=3, max_length=300)
    description = Text(load_default="", multiline=True)
    themes = fields.List(Text(min_length=1, max_length=100), load_default=list, validate=validate.Length(max=20),
                         metadata={"description": "codes of the labs' macro training sections"})
    legal_references = fields.List(Text(min_length=1, max_length=300), load_default=list,
                                   validate=validate.Length(max=20),
                                   metadata={"description": "free text, such as D.Lgs. 117/2017 art. 55"})
    author = Text(load_default="", max_length=200)
    organisation = Text(load_default="", max_length=300)
    reason = Text(load_default="", **REASON, metadata={"description": "why this first version"})


class VersionFields(Schema):
    reason = Text(required=True, min_length=1, **REASON, metadata={"description": "why a new version"})


class ProposalFields(Schema):
    """A new document (kind and title required), or with ``document_id`` a new version of one."""

    document_id = fields.UUID(load_default=None, metadata={"description": "propose a new version of this document"})
    kind = Text(validate=validate.OneOf(KINDS))
    title = Text(min_length=3, max_length=300)
    description = Text(load_default="", multiline=True)
    themes = fields.List(Text(min_length=1, max_length=100), load_default=list, validate=validate.Length(max=20))
    legal_references = fields.List(Text(min_length=1, max_length=300), load_default=list,
                                   validate=validate.Length(max=20))
    author = Text(load_default="", max_length=200)
    organisation = Text(load_default="", max_length=300)
    reason = Text(load_default="", **REASON, metadata={"description": "what the proposal brings"})


class Reason(Schema):
    reason = Text(required=True, min_length=1, **REASON)


class CommentInput(Schema):
    text = Text(required=True, min_length=1, multiline=True, max_length=2000)


class DocumentsQuery(Schema):
    q = Text(min_length=1, max_length=100, metadata={"description": "words in the title or description"})
    kind = Text(validate=validate.OneOf(KINDS))
    theme = Text(max_length=100)
    legal_reference = Text(min_length=1, max_length=100)
    organisation = Text(min_length=1, max_length=100)
    sort = Text(load_default="newest", validate=validate.OneOf(SORTS),
                metadata={"description": "newest first, or most downloaded first"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class ProposalsQuery(Schema):
    status = Text(validate=validate.OneOf(("pending", "published", "rejected")))


class MyProposalsQuery(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


# answers


class Version(Schema):
    number = fields.Integer()
    sha256 = fields.String()
    size = fields.Integer()
    media_type = fields.String()
    filename = fields.String()
    uploaded_by = fields.String()
    uploaded_at = fields.String()
    reason = fields.String()


class Comment(Schema):
    id = fields.String()
    author = fields.String()
    text = fields.String(metadata={"description": "empty for a hidden comment, but to staff"})
    posted_at = fields.String()
    hidden = fields.Boolean()
    hidden_reason = fields.String(allow_none=True)


class DocumentSummary(Schema):
    id = fields.String(required=True)
    kind = fields.String()
    title = fields.String()
    description = fields.String()
    themes = fields.List(fields.String())
    legal_references = fields.List(fields.String())
    author = fields.String()
    organisation = fields.String()
    status = fields.String(metadata={"description": "current or withdrawn"})
    withdrawal_reason = fields.String(allow_none=True)
    published_at = fields.String()
    current_version = fields.Integer(allow_none=True, metadata={"description": "none for a withdrawn document"})
    downloads = fields.Integer()


class Document(DocumentSummary):
    versions = fields.List(fields.Nested(Version))
    comments = fields.List(fields.Nested(Comment))


class DocumentPage(Schema):
    items = fields.List(fields.Nested(DocumentSummary))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class Published(Schema):
    id = fields.String()
    version = fields.Nested(Version)


class Withdrawn(Schema):
    id = fields.String()
    status = fields.String()
    withdrawal_reason = fields.String()


class Proposal(Schema):
    id = fields.String()
    proposer = fields.String()
    document_id = fields.String(allow_none=True)
    fields_ = fields.Dict(data_key="fields")
    file = fields.Dict()
    reason = fields.String()
    status = fields.String(metadata={"description": "pending, published or rejected"})
    rejection_reason = fields.String(allow_none=True)
    submitted_at = fields.String()
    published_version = fields.Integer(allow_none=True)


class MyProposal(Schema):
    """A proposal as its proposer follows it."""

    id = fields.String()
    title = fields.String()
    kind = fields.String(metadata={"description": "template, administrative_act or guideline"})
    new_version = fields.Boolean(metadata={"description": "a new version of a document, not a new document"})
    status = fields.String(metadata={"description": "pending, published or rejected"})
    reason = fields.String(metadata={"description": "what the proposer said the proposal brings"})
    rejection_reason = fields.String(allow_none=True, metadata={"description": "staff's reason, once rejected"})
    document_id = fields.String(allow_none=True, metadata={
        "description": "the document: once published, the one it became or added a version to; before, for a new "
                       "version, the one it is for; none for a new document not yet published"})
    published_version = fields.Integer(allow_none=True, metadata={"description": "the version it became"})
    filename = fields.String()
    submitted_at = fields.String()
    decided_at = fields.String(allow_none=True, metadata={
        "description": "when staff published or rejected it; none while pending"})


class MyProposalPage(Schema):
    items = fields.List(fields.Nested(MyProposal))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class ProposalOutcome(Schema):
    id = fields.String()
    status = fields.String()
    document_id = fields.String(allow_none=True)
    version = fields.Integer()
    reason = fields.String()


class CommentHidden(Schema):
    id = fields.String()
    hidden = fields.Boolean()
    hidden_reason = fields.String()


class Count(Schema):
    downloads = fields.Integer()


class DocumentCount(Count):
    document_id = fields.String()
    title = fields.String()


class AtsCount(Count):
    ats = fields.String(allow_none=True, metadata={"description": "none for staff's downloads"})


class MonthCount(Count):
    month = fields.String(metadata={"description": "YYYY-MM, Italian time"})


class DownloadStats(Schema):
    total = fields.Integer()
    by_document = fields.List(fields.Nested(DocumentCount))
    by_ats = fields.List(fields.Nested(AtsCount))
    by_month = fields.List(fields.Nested(MonthCount))
