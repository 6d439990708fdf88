"""The toolkit's pages: participants (and staff) search it, read a document with its versions and download
one; staff moderate the participants' proposals (publish, or reject with the reason). Each calls the
toolkit's API operations through ``operations.perform``: who may see what is the API's table."""

import uuid
from urllib.parse import quote

from werkzeug.utils import redirect

from rebuilding.errors import Invalid, NotFound
from services.gateway.pages.routes import form_key, web_page
from services.toolkit.domain import KIND_NAMES, KINDS

PER_PAGE = 20


class ToolkitPages:
    """Every page's method is named page_…, as in ``PagesRoutes``."""

    @web_page("GET", "/strumenti")
    def page_toolkit(self, ctx):
        ctx.require("GET /toolkit/documents")
        args = ctx.request.args
        words = args.get("q", "").strip()[:100]
        kind = args.get("tipo") if args.get("tipo") in KINDS else None
        found = ctx.perform("GET /toolkit/documents", query={"q": words, "kind": kind, "per_page": PER_PAGE})
        return ctx.render("strumenti.html", found=found, words=words, kind=kind, kinds=KIND_NAMES)

    @web_page("GET", "/strumenti/documenti/<document_id>")
    def page_toolkit_document(self, ctx, document_id):
        document = ctx.perform("GET /toolkit/documents/{document_id}", path={"document_id": document_id})
        return ctx.render("documento.html", document=document, kinds=KIND_NAMES)

    @web_page("GET", "/strumenti/documenti/<document_id>/versioni/<n>")
    def page_toolkit_download(self, ctx, document_id, n):
        if not n.isdigit():
            raise NotFound(f"no version {n}")
        return ctx.perform("GET /toolkit/documents/{document_id}/versions/{n}/download",
                           path={"document_id": document_id, "n": n})

    @web_page("GET", "/strumenti/proposte")
    def page_toolkit_proposals(self, ctx):
        done = ctx.request.args.get("fatto")
        proposals = ctx.perform("GET /toolkit/proposals", query={"status": "pending"})
        return ctx.render("proposte.html", proposals=proposals, kinds=KIND_NAMES, done=done, key=uuid.uuid4().hex)

    @web_page("POST", "/strumenti/proposte/<proposal_id>")
    def page_toolkit_moderate(self, ctx, proposal_id):
        action = ctx.request.form.get("azione")
        path = {"proposal_id": proposal_id}
        if action == "pubblica":
            ctx.perform("POST /toolkit/proposals/{proposal_id}/publish", path=path, idempotency_key=form_key(ctx))
        elif action == "rifiuta":
            ctx.perform("POST /toolkit/proposals/{proposal_id}/reject", path=path,
                        body={"reason": ctx.request.form.get("motivo", "").strip()}, idempotency_key=form_key(ctx))
        else:
            raise Invalid("unknown action", {"azione": ["pubblica or rifiuta"]})
        return redirect(f"/strumenti/proposte?fatto={quote(action)}", 303)
