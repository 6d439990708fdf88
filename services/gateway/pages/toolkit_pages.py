"""The toolkit's pages: participants (and staff) search it, read a document with its versions, download one,
comment on it, propose their own and follow what became of their proposals; staff publish a document or a new
version with its file, withdraw one, hide a comment, moderate the proposals and read the download statistics.
Each calls the toolkit's API operations through ``operations.perform``: who may see what is the API's table.

A form that carries a file is a ``streamed`` page: its body goes through ``uploads.received``, which
streams it as the API does and checks its CSRF token before the API's handler keeps anything. A form the
API refuses (400, 409, 413, 415) is shown again with each problem in Italian beside its field and what
was typed kept; the file must be chosen again, as a browser never fills a file field in.
"""

import math
import re
import uuid
from urllib.parse import quote, urlencode

from werkzeug.utils import redirect

from rebuilding import blobs
from rebuilding.errors import DomainError, Invalid, NotFound
from services import labels
from services.gateway.pages import charts, uploads
from services.gateway.pages.form_errors import field_problems
from services.gateway.pages.routes import STATUS_TEXTS, form_key, web_page
from services.toolkit.domain import KINDS
from services.toolkit.schemas import MAX_PAGE, SORTS

PER_PAGE = 20
PER_PAGE_CHOICES = (10, 20, 50)
FORM_ERRORS = (400, 409, 413, 415)
"""The refusals a form shows beside its fields; any other is the error page."""

DOCUMENT_FIELDS = {"tipo": "kind", "titolo": "title", "descrizione": "description", "temi": "themes",
                   "riferimenti": "legal_references", "autore": "author", "ente": "organisation", "motivo": "reason"}
"""The page's names of the document form's fields, and the API's."""
VERSION_FIELDS = {"motivo": "reason"}
PROPOSAL_FIELDS = {**DOCUMENT_FIELDS, "documento": "document_id"}
HIDDEN = ("documento",)
"""Fields the person does not see: their problems go at the top of the form."""
LINES = ("riferimenti",)
"""Fields of one value a line."""
CONFLICTS = {
    "versione": "Il documento è ritirato: non accetta nuove versioni.",
    "ritiro": "Il documento è già ritirato.",
    "nascondi": "Il commento è già nascosto.",
}
MONTHS = ("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre",
          "ottobre", "novembre", "dicembre")
DONE = {
    "pubblicato": "Documento pubblicato.",
    "versione": "Nuova versione caricata: compare nell'elenco delle versioni appena registrata.",
    "ritirato": "Documento ritirato: resta nell'elenco, con il motivo, e non è più in vigore.",
    "commento": "Commento inviato: compare qui sotto appena registrato.",
    "nascosto": "Commento nascosto: il motivo resta registrato.",
}


def refused(error: DomainError, names: dict[str, str], form: str | None = None) -> dict:
    """What a form shows of the API's refusal: each field's problem, and a line at the top."""
    problems = {} if error.status == 409 else field_problems(  # a conflict's details are codes, not fields'
        error, {api: page for page, api in names.items() if page not in HIDDEN} | {"file": "file"},
        ("themes", "legal_references"), limit_text())
    top = problems.pop("", None)
    if error.status == 409:
        alert = CONFLICTS.get(form, STATUS_TEXTS[409])
    elif error.status in (413, 415):
        alert = "Il file non è stato accolto: ne scelga un altro."
    else:
        alert = "Il modulo non è stato accolto: controlli i campi indicati."
    return {"problems": problems, "alert": f"{alert} {top}" if top else alert}


def month_name(month: str) -> str:
    """``2026-03`` → marzo 2026."""
    year, _, number = month.partition("-")
    return f"{MONTHS[int(number) - 1]} {year}" if number.isdigit() and 1 <= int(number) <= 12 else month


def limit_text() -> str:
    """The largest file an upload may carry, as a person reads it: 25 MB."""
    size = blobs.max_upload_bytes()
    return f"{size // (1024 * 1024)} MB" if size >= 1024 * 1024 else f"{max(size // 1024, 1)} KB"


def short_ats(name: str) -> str:
    """An ATS's name for a chart's narrow label: ATS della Val Padana → Val Padana."""
    return re.sub(r"^ATS (della |dell'|di )", "", name)


def whole(value: str | None, default: int) -> int:
    return int(value) if value and value.isascii() and value.isdigit() and len(value) < 6 else default


class ToolkitPages:
    """Every page's method is named page_…, as in ``PagesRoutes``."""

    # search

    @web_page("GET", "/strumenti")
    def page_toolkit(self, ctx):
        ctx.require("GET /toolkit/documents")
        args = ctx.request.args
        themes = {t["code"]: t["title"] for t in ctx.perform("GET /programme/themes")}
        per_page = whole(args.get("per"), PER_PAGE)
        filters = {
            "q": args.get("q", "").strip()[:100],
            "tipo": args.get("tipo") if args.get("tipo") in KINDS else "",
            "tema": args.get("tema") if args.get("tema") in themes else "",
            "riferimento": args.get("riferimento", "").strip()[:100],
            "ente": args.get("ente", "").strip()[:100],
            "ordine": args.get("ordine") if args.get("ordine") in SORTS else SORTS[0],
            "per": str(per_page if per_page in PER_PAGE_CHOICES else PER_PAGE),
        }
        page = min(whole(args.get("pagina"), 1) or 1, MAX_PAGE)
        query = {"q": filters["q"], "kind": filters["tipo"], "theme": filters["tema"],
                 "legal_reference": filters["riferimento"], "organisation": filters["ente"],
                 "sort": filters["ordine"], "per_page": int(filters["per"])}
        found = ctx.perform("GET /toolkit/documents", query={**query, "page": page})
        pages = max(1, math.ceil(found["total"] / int(filters["per"])))
        if page > pages and found["total"]:  # past the last page (a link from before some were withdrawn)
            page = pages
            found = ctx.perform("GET /toolkit/documents", query={**query, "page": page})
        kept = {k: v for k, v in filters.items() if v and not (k == "ordine" and v == SORTS[0])
                and not (k == "per" and v == str(PER_PAGE))}

        def page_link(n: int) -> str:
            return "/strumenti?" + urlencode({**kept, "pagina": n}) if n > 1 else \
                "/strumenti" + ("?" + urlencode(kept) if kept else "")

        return ctx.render("strumenti.html", found=found, filters=filters, themes=themes, page=page, pages=pages,
                          previous=page_link(page - 1) if page > 1 else None,
                          next=page_link(page + 1) if page < pages else None,
                          per_page_choices=PER_PAGE_CHOICES, sorts=SORTS, kinds=KINDS)

    # a document

    @web_page("GET", "/strumenti/documenti/<document_id>")
    def page_toolkit_document(self, ctx, document_id, forms=None, status=200):
        done = ctx.request.args.get("fatto")
        try:
            document = ctx.perform("GET /toolkit/documents/{document_id}", path={"document_id": document_id})
        except NotFound:
            if done != "pubblicato":
                raise
            return ctx.render("strumenti_esito.html", title="Documento pubblicato",
                              text="La scheda del documento sarà disponibile tra pochi istanti.",
                              links=[(f"/strumenti/documenti/{document_id}", "Apri la scheda del documento"),
                                     ("/strumenti", "Torna alla cassetta degli attrezzi")])
        themes = {t["code"]: t["title"] for t in ctx.perform("GET /programme/themes")}
        authors = {}
        if document["comments"] and ctx.may("GET /programme/people") and "staff" in ctx.roles:
            authors = {p["person_id"]: p["name"] for p in ctx.perform("GET /programme/people")}
        forms = forms or {}
        return ctx.render("documento.html", status, document=document, themes=themes, authors=authors,
                          done=DONE.get(done) if status == 200 else None, key=uuid.uuid4().hex,
                          version_form=forms.get("versione", {}), withdraw_form=forms.get("ritiro", {}),
                          comment_form=forms.get("commento", {}), hide_forms=forms.get("nascondi", {}),
                          limit=limit_text())

    @web_page("GET", "/strumenti/documenti/<document_id>/versioni/<n>")
    def page_toolkit_download(self, ctx, document_id, n):
        if not n.isdigit():
            raise NotFound(f"no version {n}")
        return ctx.perform("GET /toolkit/documents/{document_id}/versions/{n}/download",
                           path={"document_id": document_id, "n": n})

    @web_page("POST", "/strumenti/documenti/<document_id>/versioni", streamed=True)
    def page_toolkit_new_version(self, ctx, document_id):
        key = "POST /toolkit/documents/{document_id}/versions"
        ctx.require(key)
        try:
            with uploads.received(ctx) as upload:
                upload.hand_over(VERSION_FIELDS)
                ctx.perform(key, path={"document_id": document_id}, idempotency_key=form_key(ctx))
        except DomainError as error:
            if error.status not in FORM_ERRORS:
                raise
            form = {"typed": ctx.request.form, **refused(error, VERSION_FIELDS, "versione")}
            return self.page_toolkit_document.__wrapped__(self, ctx, document_id, forms={"versione": form},
                                                          status=error.status)
        return redirect(f"/strumenti/documenti/{quote(document_id)}?fatto=versione#versioni", 303)

    @web_page("POST", "/strumenti/documenti/<document_id>/ritiro")
    def page_toolkit_withdraw(self, ctx, document_id):
        reason = ctx.request.form.get("motivo", "").strip()
        try:
            ctx.perform("POST /toolkit/documents/{document_id}/withdraw", path={"document_id": document_id},
                        body={"reason": reason}, idempotency_key=form_key(ctx))
        except DomainError as error:
            if error.status not in FORM_ERRORS:
                raise
            form = {"typed": ctx.request.form, **refused(error, {"motivo": "reason"}, "ritiro")}
            return self.page_toolkit_document.__wrapped__(self, ctx, document_id, forms={"ritiro": form},
                                                          status=error.status)
        return redirect(f"/strumenti/documenti/{quote(document_id)}?fatto=ritirato", 303)

    @web_page("POST", "/strumenti/documenti/<document_id>/commenti")
    def page_toolkit_comment(self, ctx, document_id):
        text = ctx.request.form.get("testo", "").strip()
        try:
            ctx.perform("POST /toolkit/documents/{document_id}/comments", path={"document_id": document_id},
                        body={"text": text}, idempotency_key=form_key(ctx))
        except DomainError as error:
            if error.status not in FORM_ERRORS:
                raise
            names = {"testo": "text", "documento": "document_id"}
            form = {"typed": ctx.request.form, **refused(error, names, "commento")}
            return self.page_toolkit_document.__wrapped__(self, ctx, document_id, forms={"commento": form},
                                                          status=error.status)
        return redirect(f"/strumenti/documenti/{quote(document_id)}?fatto=commento#commenti", 303)

    @web_page("POST", "/strumenti/commenti/<comment_id>/nascondi")
    def page_toolkit_hide_comment(self, ctx, comment_id):
        document_id = ctx.request.form.get("documento", "")
        try:
            ctx.perform("POST /toolkit/comments/{comment_id}/hide", path={"comment_id": comment_id},
                        body={"reason": ctx.request.form.get("motivo", "").strip()}, idempotency_key=form_key(ctx))
        except DomainError as error:
            if error.status not in FORM_ERRORS or not document_id:
                raise
            form = {"typed": ctx.request.form, **refused(error, {"motivo": "reason"}, "nascondi")}
            return self.page_toolkit_document.__wrapped__(self, ctx, document_id,
                                                          forms={"nascondi": {comment_id: form}}, status=error.status)
        if not document_id:
            return redirect("/strumenti", 303)
        return redirect(f"/strumenti/documenti/{quote(document_id)}?fatto=nascosto#commenti", 303)

    # publishing and proposing

    @web_page("GET,POST", "/strumenti/nuovo", streamed=True)
    def page_toolkit_publish(self, ctx):
        key = "POST /toolkit/documents"
        ctx.require(key)
        form, status = {}, 200
        if ctx.request.method == "POST":
            try:
                with uploads.received(ctx) as upload:
                    upload.hand_over(DOCUMENT_FIELDS, LINES)
                    published = ctx.perform(key, idempotency_key=form_key(ctx))
                return redirect(f"/strumenti/documenti/{quote(published['id'])}?fatto=pubblicato", 303)
            except DomainError as error:
                if error.status not in FORM_ERRORS:
                    raise
                form, status = {"typed": ctx.request.form, **refused(error, DOCUMENT_FIELDS)}, error.status
        return ctx.render("strumenti_documento.html", status, form=form, themes=ctx.perform("GET /programme/themes"),
                          kinds=KINDS, key=uuid.uuid4().hex, action="/strumenti/nuovo", proposal=False, document=None,
                          limit=limit_text())

    @web_page("GET,POST", "/strumenti/proponi", streamed=True)
    def page_toolkit_propose(self, ctx):
        key = "POST /toolkit/proposals"
        ctx.require(key)
        ctx.perform("GET /toolkit/documents", query={"per_page": 1})  # refused, as the API would be, to a non-participant
        if ctx.request.args.get("fatto") == "inviata":
            return ctx.render("strumenti_esito.html", title="Proposta inviata",
                              text="Lo staff di ANCI Lombardia esaminerà la proposta: riceverà l'esito per posta "
                                   "elettronica. Fino ad allora la proposta non compare nella cassetta degli "
                                   "attrezzi: la trova, con il suo stato, tra le Sue proposte.",
                              links=[("/strumenti/mie-proposte", "Vedi le Sue proposte e il loro stato"),
                                     ("/strumenti/proponi", "Proponi un altro documento"),
                                     ("/strumenti", "Torna alla cassetta degli attrezzi")])
        form, status = {}, 200
        if ctx.request.method == "POST":
            try:
                with uploads.received(ctx) as upload:
                    upload.hand_over(PROPOSAL_FIELDS, LINES)
                    ctx.perform(key, idempotency_key=form_key(ctx))
                return redirect("/strumenti/proponi?fatto=inviata", 303)
            except DomainError as error:
                if error.status not in FORM_ERRORS:
                    raise
                form, status = {"typed": ctx.request.form, **refused(error, PROPOSAL_FIELDS)}, error.status
        document_id = (form.get("typed") or ctx.request.args).get("documento", "").strip()
        document = None
        if document_id:
            document = ctx.perform("GET /toolkit/documents/{document_id}", path={"document_id": document_id})
        return ctx.render("strumenti_documento.html", status, form=form, themes=ctx.perform("GET /programme/themes"),
                          kinds=KINDS, key=uuid.uuid4().hex, action="/strumenti/proponi", proposal=True,
                          document=document, limit=limit_text())

    @web_page("GET", "/strumenti/mie-proposte")
    def page_toolkit_my_proposals(self, ctx):
        key = "GET /toolkit/proposals/mine"
        page = min(whole(ctx.request.args.get("pagina"), 1) or 1, MAX_PAGE)
        found = ctx.perform(key, query={"page": page, "per_page": PER_PAGE})
        pages = max(1, math.ceil(found["total"] / PER_PAGE))
        if page > pages and found["total"]:  # past the last page: show the last one
            page = pages
            found = ctx.perform(key, query={"page": page, "per_page": PER_PAGE})

        def page_link(n: int) -> str:
            return f"/strumenti/mie-proposte?pagina={n}" if n > 1 else "/strumenti/mie-proposte"

        return ctx.render("mie_proposte.html", found=found, page=page, pages=pages,
                          previous=page_link(page - 1) if page > 1 else None,
                          next=page_link(page + 1) if page < pages else None)

    # moderation and statistics

    @web_page("GET", "/strumenti/proposte")
    def page_toolkit_proposals(self, ctx):
        done = ctx.request.args.get("fatto")
        proposals = ctx.perform("GET /toolkit/proposals", query={"status": "pending"})
        return ctx.render("proposte.html", proposals=proposals, done=done, key=uuid.uuid4().hex)

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

    @web_page("GET", "/strumenti/statistiche")
    def page_toolkit_stats(self, ctx):
        stats = ctx.perform("GET /toolkit/stats/downloads")
        counts = {row["ats"]: row["downloads"] for row in stats["by_ats"]}
        by_ats = [(labels.label("ats", code), counts.pop(code, 0)) for code in labels.ATS]
        by_ats += [(labels.label("ats", code) if code else "Staff (nessuna ATS)", n) for code, n in counts.items()]
        by_month = [(month_name(row["month"]), row["downloads"]) for row in stats["by_month"]]
        return ctx.render("strumenti_statistiche.html", stats=stats, by_ats=by_ats, by_month=by_month,
                          charts={"ats": charts.bars("Scaricamenti per ATS", [(short_ats(name), n) for name, n in by_ats]),
                                  "months": charts.bars("Scaricamenti per mese", by_month)})
