"""The pages: public (catalogue, a lab, certificate verification), and for ANCI staff, an Ambito's staff
and participants once signed in. Each does what its API operations allow the signed-in person
(``operations.perform``): a refusal of the API is a refusal of the page.
"""

import functools
import logging
import uuid
from datetime import datetime, timezone
from urllib.parse import quote

from nameko.exceptions import RemoteError
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from rebuilding import auth
from rebuilding.errors import DomainError, Invalid, NotFound
from services import labels
from services.gateway.api import call
from services.gateway.authorisation import Access
from services.gateway.pages import assets, charts, session
from services.gateway.pages.operations import may, perform
from services.gateway.pages.render import page
from services.gateway.pages.settings import dev_login
from services.gateway.web import http
from services.labs.domain import ATTENDANCE_STATUSES, PERSON_ROLES
from services.registry.domain import ATS_CODES

log = logging.getLogger(__name__)

STATUS_TITLES = {
    400: "Dati non validi",
    401: "Accesso richiesto",
    403: "Operazione non consentita",
    404: "Pagina non trovata",
    409: "Operazione non possibile nello stato attuale",
    413: "Richiesta troppo grande",
    422: "Richiesta non accolta",
    500: "Errore del sistema",
    503: "Servizio momentaneamente non disponibile",
    504: "Il servizio non ha risposto in tempo",
}
STATUS_TEXTS = {
    400: "Alcuni dati inseriti non sono validi: controlli i campi indicati e riprovi.",
    403: "Il Suo profilo non consente di vedere questa pagina o di svolgere questa operazione.",
    404: "Quanto cercato non esiste, o non è visibile con il Suo profilo.",
    409: "L'operazione non è possibile nello stato attuale (ad esempio la persona è già iscritta, "
         "oppure il laboratorio non è nella fase giusta).",
    413: "La richiesta supera le dimensioni consentite.",
    422: "La richiesta non è stata accolta.",
    500: "Si è verificato un errore: è stato registrato. Riprovi più tardi.",
    503: "Un servizio della piattaforma non è disponibile: nulla è stato modificato. Riprovi tra poco.",
    504: "Il servizio non ha risposto in tempo: l'operazione potrebbe essere stata eseguita. "
         "Controlli prima di ripeterla.",
}
FIELD_NAMES = {
    "title": "titolo", "description": "descrizione", "ats": "ATS", "themes": "temi", "capacity": "posti",
    "conductors": "conduttori", "eligible_roles": "destinatari", "enrolment_closes": "chiusura iscrizioni",
    "modules": "moduli e sessioni", "person_id": "persona", "records": "presenze", "code": "codice",
}


class Context:
    """What every page knows: who is signed in, the form token, and what they may reach."""

    def __init__(self, service, request):
        self.service, self.request = service, request
        self.principal = session.principal(service, request)
        self.csrf = session.Csrf(request)

    def may(self, key: str) -> bool:
        return may(key, self.principal)

    def require(self, key: str) -> Access:
        """The Access the person has on an operation the page leads to: refused as the API refuses it."""
        if self.principal is None and not self.may(key):
            raise auth.Unauthenticated("sign in first")
        return Access.grant(key, self.principal)

    def perform(self, key, **kwargs):
        return perform(self.service, self.request, self.principal, key, **kwargs)

    def render(self, template: str, status: int = 200, **values) -> Response:
        response = page(template, status, ctx=self, principal=self.principal, csrf=self.csrf.token,
                        dev_login=dev_login(), path=self.request.path, labels=labels, **values)
        if self.principal:
            response.headers["Cache-Control"] = "no-store"
        return response

    def catalogue(self, key: str) -> str:
        """``GET /labs…`` for whoever may call it (staff see drafts, participants their meeting links);
        the public catalogue's ``GET /catalogue/labs…`` for anyone else."""
        return key if self.may(key) else key.replace("/labs", "/catalogue/labs", 1)

    @property
    def roles(self) -> frozenset:
        return self.principal.roles if self.principal else frozenset()


def web_page(methods: str, rule: str, streamed: bool = False):
    """A page: its ``Context``; CSRF checked on POST; errors as Italian pages; 401 sends to the sign-in page.

    A ``streamed`` page takes a file upload, which ``request.form`` must not read: the page streams the body
    itself and checks the CSRF token in its fields before anything is kept (``uploads.received``)."""
    def decorator(handler):
        @functools.wraps(handler)
        def endpoint(self, request, **values):
            ctx = Context(self, request)
            try:
                if request.method == "POST" and not streamed:
                    session.Csrf.check(request)
                response = handler(self, ctx, **values)
            except DomainError as error:
                response = error_page(ctx, error)
            except RemoteError as error:
                log.error("page %s: remote %s: %s", request.path, error.exc_type, error.value)
                response = ctx.render("errore.html", 500, title=STATUS_TITLES[500], text=STATUS_TEXTS[500])
            except Exception:
                log.exception("page %s failed", request.path)
                response = ctx.render("errore.html", 500, title=STATUS_TITLES[500], text=STATUS_TEXTS[500])
            ctx.csrf.issue(response)
            return response

        return http(methods, rule)(endpoint)

    return decorator


def error_page(ctx: Context, error: DomainError) -> Response:
    log.info("page %s %s: %s %s", ctx.request.method, ctx.request.path, error.status, error.message)
    if error.status == 401:
        return redirect(f"/accesso?dopo={quote(ctx.request.full_path.rstrip('?'))}", 303)
    status = error.status if error.status in STATUS_TITLES else 400
    text = STATUS_TEXTS.get(status, STATUS_TEXTS[400])
    reason = (error.details or {}).get("reason") if isinstance(error.details, dict) else None
    if reason in labels.REFUSAL_REASONS:
        text = f"Richiesta non accolta: {labels.REFUSAL_REASONS[reason]}."
    fields = []
    if status == 400 and isinstance(error.details, dict):
        fields = sorted({FIELD_NAMES.get(name, name) for name in error.details})
    return ctx.render("errore.html", status, title=STATUS_TITLES[status], text=text, fields=fields)


def form_key(ctx: Context) -> str | None:
    """The form's one-time key, so that sending it twice applies it once (the API's Idempotency-Key)."""
    return ctx.request.form.get("chiave") or None


class PagesRoutes:
    """Every page's method is named page_…: the service class inherits the API's routes beside them."""

    # public

    @web_page("GET", "/")
    def page_home(self, ctx):
        return ctx.render("home.html")

    @http("GET", "/static/<path:path>")
    def page_static(self, request, path):
        return assets.static_file(path) or Response("Risorsa non trovata", status=404, mimetype="text/plain")

    @web_page("GET", "/laboratori")
    def page_catalogue(self, ctx):
        args = ctx.request.args
        ats = args.get("ats") if args.get("ats") in ATS_CODES else None
        themes = ctx.perform("GET /programme/themes")
        theme = args.get("tema") if args.get("tema") in {t["code"] for t in themes} else None
        labs = ctx.perform(ctx.catalogue("GET /labs"), query={"ats": ats, "theme": theme})
        return ctx.render("catalogo.html", labs=labs, themes={t["code"]: t["title"] for t in themes},
                          ats=ats, theme=theme, ats_codes=ATS_CODES)

    @web_page("GET", "/laboratori/<lab_id>")
    def page_lab(self, ctx, lab_id, outcome=None):
        lab = ctx.perform(ctx.catalogue("GET /labs/{lab_id}"), path={"lab_id": lab_id})
        themes = {t["code"]: t["title"] for t in ctx.perform("GET /programme/themes")}
        people, enrolments = [], []
        if "ambito" in ctx.roles or "staff" in ctx.roles:
            people = ctx.perform("GET /programme/people")
        if ctx.may("GET /programme/enrolments"):
            query = {"person_id": ctx.principal.sub} if ctx.roles == {"participant"} else {}
            enrolments = [e for e in ctx.perform("GET /programme/enrolments", query=query) if e["lab_id"] == lab_id]
        return ctx.render("laboratorio.html", lab=lab, themes=themes, people=people, enrolments=enrolments,
                          outcome=outcome, key=uuid.uuid4().hex, actions=next_actions(lab["status"]))

    @web_page("POST", "/laboratori/<lab_id>/iscrizioni")
    def page_enrol(self, ctx, lab_id):
        person_id = ctx.request.form.get("person_id") or None
        outcome = ctx.perform("POST /labs/{lab_id}/enrollments", path={"lab_id": lab_id},
                              body={"person_id": person_id} if person_id else {}, idempotency_key=form_key(ctx))
        return self.page_lab.__wrapped__(self, ctx, lab_id, outcome={**outcome, "name": self._name(ctx, outcome)})

    @web_page("POST", "/laboratori/<lab_id>/ritiro")
    def page_withdraw(self, ctx, lab_id):
        person_id = ctx.request.form.get("person_id") or (ctx.principal.sub if ctx.principal else "")
        outcome = ctx.perform("DELETE /labs/{lab_id}/enrollments/{person_id}",
                              path={"lab_id": lab_id, "person_id": person_id}, idempotency_key=form_key(ctx))
        outcome = {"status": "withdrawn", "person_id": person_id, **(outcome if isinstance(outcome, dict) else {})}
        outcome["status"] = "withdrawn"
        return self.page_lab.__wrapped__(self, ctx, lab_id, outcome={**outcome, "name": self._name(ctx, outcome)})

    @staticmethod
    def _name(ctx, outcome) -> str:
        if ctx.principal and outcome.get("person_id") == ctx.principal.sub and ctx.roles == {"participant"}:
            return "La Sua richiesta"
        if ctx.may("GET /programme/people"):
            for person in ctx.perform("GET /programme/people"):
                if person["person_id"] == outcome.get("person_id"):
                    return person["name"]
        return outcome.get("person_id", "")

    @web_page("POST", "/laboratori/<lab_id>/stato")
    def page_transition(self, ctx, lab_id):
        action = ctx.request.form.get("azione", "")
        if action not in TRANSITION_LABELS:
            raise Invalid("unknown action", {"azione": ["one of " + ", ".join(TRANSITION_LABELS)]})
        body = {"reason": ctx.request.form.get("motivo", "")} if action == "cancel" else None
        ctx.perform(f"POST /labs/{{lab_id}}/{action}", path={"lab_id": lab_id}, body=body,
                    idempotency_key=form_key(ctx))
        return redirect(f"/laboratori/{quote(lab_id)}?fatto={action}", 303)

    @web_page("GET,POST", "/laboratori/<lab_id>/presenze/<session_id>")
    def page_attendance(self, ctx, lab_id, session_id):
        ctx.require("PUT /labs/{lab_id}/sessions/{session_id}/attendance")
        lab = ctx.perform("GET /labs/{lab_id}", path={"lab_id": lab_id})
        sessions = {s["id"]: s for m in lab.get("modules", []) for s in m.get("sessions", [])}
        if session_id not in sessions:
            raise NotFound(f"no session {session_id}")
        saved = None
        if ctx.request.method == "POST":
            records = []
            for key, status in ctx.request.form.items():
                if key.startswith("stato-") and status in ATTENDANCE_STATUSES:
                    person_id = key[len("stato-"):]
                    late = ctx.request.form.get(f"ritardo-{person_id}", "").strip() if status == "late" else ""
                    try:
                        minutes = int(late or 0)
                    except ValueError:
                        raise Invalid("minutes late must be a number", {"records": ["minutes late"]}) from None
                    records.append({"person_id": person_id, "status": status, "minutes_late": minutes})
            saved = ctx.perform("PUT /labs/{lab_id}/sessions/{session_id}/attendance",
                                path={"lab_id": lab_id, "session_id": session_id}, body={"records": records},
                                idempotency_key=form_key(ctx))
        rows = self._register_rows(ctx, lab_id, sessions[session_id])
        return ctx.render("presenze.html", lab=lab, session=sessions[session_id], rows=rows, saved=saved,
                          statuses=ATTENDANCE_STATUSES, key=uuid.uuid4().hex)

    def _register_rows(self, ctx, lab_id, lab_session):
        """Who is expected at a session: its rows of the register, read with the register's own Access."""
        access = ctx.require("GET /labs/{lab_id}/register.csv")
        register = call(self.labs.register, lab_id, access.ambito)
        return [r for r in register["rows"] if r["date"] == lab_session["date"] and r["start"] == lab_session["start"]]

    @web_page("GET", "/laboratori/<lab_id>/registro.<fmt>")
    def page_register(self, ctx, lab_id, fmt):
        if fmt not in ("csv", "xlsx"):
            raise NotFound(f"no register as {fmt}")
        return ctx.perform(f"GET /labs/{{lab_id}}/register.{fmt}", path={"lab_id": lab_id})

    @web_page("GET", "/laboratori/<lab_id>/attestati/<person_id>")
    def page_certificate(self, ctx, lab_id, person_id):
        return ctx.perform("GET /labs/{lab_id}/certificates/{person_id}.pdf",
                           path={"lab_id": lab_id, "person_id": person_id})

    @web_page("GET,POST", "/laboratori/nuovo")
    def page_new_lab(self, ctx):
        ctx.require("POST /labs")
        themes = ctx.perform("GET /programme/themes")
        form = ctx.request.form if ctx.request.method == "POST" else {}
        if ctx.request.method == "POST":
            created = ctx.perform("POST /labs", body=lab_from_form(ctx.request.form), idempotency_key=form_key(ctx))
            return redirect(f"/laboratori/{created['id']}?fatto=creato", 303)
        return ctx.render("nuovo.html", themes=themes, ats_codes=ATS_CODES, roles=PERSON_ROLES, form=form,
                          key=uuid.uuid4().hex, sessions=range(1, 5))

    @web_page("GET", "/verifica")
    def page_verify_form(self, ctx):
        code = ctx.request.args.get("codice", "").strip()
        if code:
            return redirect(f"/verifica/{quote(code.upper())}", 303)
        return ctx.render("verifica.html", code=None, check=None)

    @web_page("GET", "/verifica/<code>")
    def page_verify(self, ctx, code):
        try:
            check = ctx.perform("GET /certificates/{code}", path={"code": code})
        except NotFound:
            return ctx.render("verifica.html", 404, code=code, check=None)
        return ctx.render("verifica.html", code=code, check=check)

    # signed in

    @web_page("GET", "/ambito")
    def page_ambito_area(self, ctx):
        people = ctx.perform("GET /programme/people")
        enrolments = ctx.perform("GET /programme/enrolments")
        return ctx.render("ambito.html", people=people, enrolments=enrolments)

    @web_page("GET", "/anci")
    def page_dashboard(self, ctx):
        kpis = ctx.perform("GET /programme/kpis")
        by_ats = {row["key"]: row for row in ctx.perform("GET /programme/reports/ats")}
        labs = ctx.perform("GET /labs")
        per_ats = kpis["labs"]["per_ats"]
        charts_ = {
            "labs": charts.bars("Laboratori pubblicati per ATS",
                                [(labels.label("ats", a), per_ats[a]["published"]) for a in ATS_CODES]),
            "participants": charts.bars("Partecipanti per ATS",
                                        [(labels.label("ats", a), by_ats.get(a, {}).get("participants", 0))
                                         for a in ATS_CODES]),
            "weeks": charts.bars("Richieste di iscrizione per settimana",
                                 [(f"sett. {w['week'][8:10]}/{w['week'][5:7]}", w["requests"])
                                  for w in kpis.get("enrolments_per_week", [])]),
        }
        return ctx.render("anci.html", kpis=kpis, by_ats=by_ats, labs=labs, charts=charts_, ats_codes=ATS_CODES)

    @web_page("GET", "/partecipante")
    def page_participant_area(self, ctx):
        if ctx.principal is None:
            raise auth.Unauthenticated("sign in")
        enrolments = ctx.perform("GET /programme/enrolments", query={"person_id": ctx.principal.sub})
        hours = sum(e["hours"] or 0 for e in enrolments)
        return ctx.render("partecipante.html", enrolments=enrolments, hours=hours)


TRANSITION_LABELS = {"publish": "Pubblica", "close": "Chiudi le iscrizioni", "start": "Avvia",
                     "complete": "Concludi e rilascia gli attestati", "cancel": "Annulla il laboratorio"}
NEXT = {"draft": ("publish", "cancel"), "published": ("close", "start", "cancel"),
        "enrolment_closed": ("start", "cancel"), "running": ("complete", "cancel")}


def next_actions(status: str) -> list[tuple[str, str]]:
    return [(action, TRANSITION_LABELS[action]) for action in NEXT.get(status, ())]


def lab_from_form(form) -> dict:
    """The API's LabCreate body from the new-lab form; the API's schema validates it."""
    sessions = []
    for i in range(1, 5):
        when = form.get(f"sessione-{i}-data", "").strip()
        if when:
            sessions.append({"date": when, "start": form.get(f"sessione-{i}-inizio", ""),
                             "end": form.get(f"sessione-{i}-fine", ""),
                             "place": form.get(f"sessione-{i}-luogo", "").strip() or None})
    closes = form.get("chiusura", "").strip()
    body = {
        "title": form.get("titolo", "").strip(), "description": form.get("descrizione", ""),
        "ats": form.get("ats", ""), "themes": form.getlist("temi"),
        "conductors": [c.strip() for c in form.get("conduttori", "").splitlines() if c.strip()],
        "eligible_roles": form.getlist("destinatari"),
        "modules": [{"title": form.get("modulo", "").strip() or "Modulo unico", "sessions": sessions}],
    }
    try:
        body["capacity"] = int(form.get("posti", ""))
    except ValueError:
        raise Invalid("capacity must be a number", {"capacity": ["a whole number"]}) from None
    if closes:
        try:
            body["enrolment_closes"] = datetime.fromisoformat(closes).replace(
                hour=23, minute=59, tzinfo=timezone.utc).isoformat()
        except ValueError:
            raise Invalid("not a date", {"enrolment_closes": ["a date"]}) from None
    return body
