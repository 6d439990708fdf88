"""Who may call each operation of the gateway, and on what: the platform's one table of roles.

``MATRIX`` maps each operation, ``"METHOD /path"`` as /openapi.json names it, to the scope
each role has on it. A role that is not in an operation's row may not call it (403). A
caller without a token, or whose token does not verify, may call only the operations whose
row has ``ANYONE``; a role missing from such a row has what anyone has. A token with
several roles gets, on each operation, the widest scope among them.

The route decorator (``services/gateway/api.py``) looks every route up here: a route
without a row does not load. The OpenAPI document, the API page and the table in
docs/operating.md (``rebuilding roles --write``) are written from this module.

How the scopes are enforced, all from ``Access``:

- the decorator grants the caller's scope (``Access.grant``) before anything else, and refuses
  a path or body whose ``person_id`` is not the caller's own, or whose ``ambito_id`` is not
  the caller's Ambito (``Access.check``);
- ``Access.person`` gives a handler the person a request is about and the Ambito the service
  must find them in: where a person is, only the service that keeps them knows, so the
  registry and labs refuse (403) a person outside it (``within_ambito``, ``for_ambito``);
- reads of many rows are limited by the service to ``Access.ambito`` and by ``Access.own``
  to the caller's own person; the labs' catalogue by ``Access.catalogue``; /health by the
  handler, to its status alone, for the ``summary`` scope.
"""

from dataclasses import dataclass
from pathlib import Path

from rebuilding.auth import PROGRAMME_ROLES, Principal
from rebuilding.errors import Forbidden, Invalid

ANYONE = "anyone"
"""A caller without a valid token."""
COLUMNS = ("staff", "ambito", "participant", "auditor", "subscriber", ANYONE)

ANY = "any"
OWN_AMBITO = "own Ambito"
OWN_PERSON = "own person"
PUBLISHED = "published"
ENROLLED = "enrolled"
SUMMARY = "summary"
ADDRESSED = "addressed"
SCOPES = {
    ANY: "everything the operation reaches",
    OWN_AMBITO: "only the people (and their enrolments, registers, certificates and report rows) of the Ambito "
                "the token names in its `ambito` claim; a token of the role `ambito` without one is refused",
    OWN_PERSON: "only the person the token is for (its `sub` is their person id)",
    PUBLISHED: "the published catalogue: no draft lab, and a session's `online_link` only in the labs the "
               "token's person (a `participant`) is enrolled in",
    ADDRESSED: "only the surveys open or closed for the token's kind of respondent: those of the Ambiti for an "
               "`ambito` token, those of labs' participants for a `participant`; no draft",
    ENROLLED: "only if the token's person (its `sub`) has a confirmed enrolment in a lab, as the toolkit "
              "learns from labs' events: from the confirmation on, also after the lab ends; and acting as themselves",
    SUMMARY: "only `{\"status\": \"ok\"}` or `{\"status\": \"degraded\"}`",
}
"""Each scope, widest first, and what it lets a caller reach."""

OPERATING_DOC = Path(__file__).resolve().parents[2] / "docs" / "operating.md"
TABLE_BEGINS = ("<!-- the table of roles: written by `rebuilding roles --write` "
                "from services/gateway/authorisation.py -->")
TABLE_ENDS = "<!-- end of the table of roles -->"

PERSON = "person_id"
"""The path or body parameter that names the person a request is about."""
AMBITO = "ambito_id"
"""The path parameter that names the Ambito a request is about."""


def everyone(scope: str = ANY) -> dict[str, str]:
    """Every role of the programme, with one scope: not ``subscriber``, which reads only the feeds."""
    return {role: scope for role in PROGRAMME_ROLES}


STAFF = {"staff": ANY}
READERS = {"staff": ANY, "auditor": ANY}
FOR_PEOPLE = {"staff": ANY, "ambito": OWN_AMBITO, "participant": OWN_PERSON}
READ_PEOPLE = {**READERS, "ambito": OWN_AMBITO, "participant": OWN_PERSON}
READ_AMBITO = {**READERS, "ambito": OWN_AMBITO}
CATALOGUE = {**READERS, "ambito": PUBLISHED, "participant": PUBLISHED}
PUBLIC = {ANYONE: ANY}
TOOLKIT = {"staff": ANY, "participant": ENROLLED}

MATRIX: dict[str, dict[str, str]] = {
    # the platform
    "GET /health": {ANYONE: SUMMARY, **READERS},
    "GET /openapi.json": PUBLIC,
    "GET /docs": PUBLIC,
    "GET /events/{source}": {**READERS, "subscriber": ANY},
    "POST /auth/revocations": STAFF,
    "GET /auth/revocations": READERS,
    # the registry: the map is everyone's to read, staff's to change
    "GET /registry/ats": everyone(),
    "GET /registry/ats/{code}": everyone(),
    "POST /registry/ambiti": STAFF,
    "GET /registry/ambiti": everyone(),
    "GET /registry/ambiti/{ambito_id}": everyone(),
    "GET /registry/ambiti/{ambito_id}/membership": everyone(),
    "PATCH /registry/ambiti/{ambito_id}": STAFF,
    "PUT /registry/ambiti/{ambito_id}/capofila": STAFF,
    "POST /registry/ambiti/{ambito_id}/comuni": STAFF,
    "DELETE /registry/ambiti/{ambito_id}/comuni/{istat_code}": STAFF,
    "POST /registry/ambiti/{ambito_id}/merge": STAFF,
    "POST /registry/ambiti/{ambito_id}/dissolve": STAFF,
    "GET /registry/comuni": everyone(),
    "GET /registry/comuni/{istat_code}": everyone(),
    "POST /registry/imports/ambiti": STAFF,
    # the registry's people: personal data
    "POST /registry/people": STAFF,
    "GET /registry/people/{person_id}": READ_PEOPLE,
    "PATCH /registry/people/{person_id}": {"staff": ANY, "ambito": OWN_AMBITO},
    # labs
    "POST /labs": STAFF,
    "GET /labs": CATALOGUE,
    "GET /labs/{lab_id}": CATALOGUE,
    "GET /catalogue/labs": {ANYONE: PUBLISHED},
    "GET /catalogue/labs/{lab_id}": {ANYONE: PUBLISHED},
    "POST /labs/{lab_id}/publish": STAFF,
    "POST /labs/{lab_id}/close": STAFF,
    "POST /labs/{lab_id}/start": STAFF,
    "POST /labs/{lab_id}/complete": STAFF,
    "POST /labs/{lab_id}/cancel": STAFF,
    "POST /labs/{lab_id}/enrollments": FOR_PEOPLE,
    "DELETE /labs/{lab_id}/enrollments/{person_id}": FOR_PEOPLE,
    "GET /labs/{lab_id}/waitlist": READ_PEOPLE,
    "PUT /labs/{lab_id}/sessions/{session_id}/attendance": STAFF,
    "GET /labs/{lab_id}/register.csv": READ_AMBITO,
    "GET /labs/{lab_id}/register.xlsx": READ_AMBITO,
    "GET /labs/{lab_id}/certificates/{person_id}.pdf": READ_PEOPLE,
    "GET /certificates/{code}": PUBLIC,
    "GET /programme/themes": {**everyone(), ANYONE: ANY},
    "POST /programme/themes": STAFF,
    # surveys: staff define and read them; an Ambito answers for itself, a participant for themselves
    "POST /surveys": STAFF,
    "GET /surveys": {**READERS, "ambito": ADDRESSED, "participant": ADDRESSED},
    "GET /surveys/{survey_id}": {**READERS, "ambito": ADDRESSED, "participant": ADDRESSED},
    "PATCH /surveys/{survey_id}": STAFF,
    "POST /surveys/{survey_id}/open": STAFF,
    "POST /surveys/{survey_id}/close": STAFF,
    "PUT /surveys/{survey_id}/responses/mine": {"ambito": OWN_AMBITO, "participant": OWN_PERSON},
    "GET /surveys/{survey_id}/responses/mine": {"ambito": OWN_AMBITO, "participant": OWN_PERSON},
    "GET /surveys/{survey_id}/results": {**READERS, "ambito": ANY},
    "GET /surveys/{survey_id}/text-answers": READERS,
    "GET /surveys/{survey_id}/response-rate": READERS,
    "GET /surveys/{survey_id}/export.csv": READERS,
    "GET /surveys/{survey_id}/export.xlsx": READERS,
    # the toolkit: its participants' and staff's alone
    "GET /toolkit/documents": TOOLKIT,
    "POST /toolkit/documents": STAFF,
    "GET /toolkit/documents/{document_id}": TOOLKIT,
    "POST /toolkit/documents/{document_id}/versions": STAFF,
    "POST /toolkit/documents/{document_id}/withdraw": STAFF,
    "GET /toolkit/documents/{document_id}/versions/{n}/download": TOOLKIT,
    "POST /toolkit/documents/{document_id}/comments": TOOLKIT,
    "POST /toolkit/comments/{comment_id}/hide": STAFF,
    "POST /toolkit/proposals": {"participant": ENROLLED},
    "GET /toolkit/proposals": STAFF,
    "GET /toolkit/proposals/mine": {"participant": ENROLLED},
    "POST /toolkit/proposals/{proposal_id}/publish": STAFF,
    "POST /toolkit/proposals/{proposal_id}/reject": STAFF,
    "GET /toolkit/stats/downloads": STAFF,
    "GET /programme/people": READ_AMBITO,
    "GET /programme/enrolments": READ_PEOPLE,
    # reports
    "GET /programme/kpis": READERS,
    "GET /programme/reports/ambiti": READ_AMBITO,
    "GET /programme/reports/ats": READERS,
}

SIGN_IN_PAGES: dict[str, dict[str, str]] = {
    "GET /accesso": PUBLIC,
    "POST /accesso": PUBLIC,
    "GET /accesso/oidc": PUBLIC,
    "GET /accesso/ritorno": PUBLIC,
    "POST /uscita": PUBLIC,
}
"""The pages that sign people in and out (``pages/signin_pages.py``): they call no operation of the API, so
no row of ``MATRIX`` covers them, and anyone may open them, since signing in is how one gets a token. Every
other page reaches data only through the operations of ``MATRIX`` (``pages/operations.py``)."""

PERSONAL_DATA = frozenset({
    "GET /events/{source}", "POST /auth/revocations", "GET /auth/revocations",
    "POST /registry/people", "GET /registry/people/{person_id}", "PATCH /registry/people/{person_id}",
    "POST /labs/{lab_id}/enrollments", "DELETE /labs/{lab_id}/enrollments/{person_id}", "GET /labs/{lab_id}/waitlist",
    "GET /labs/{lab_id}/register.csv", "GET /labs/{lab_id}/register.xlsx",
    "GET /labs/{lab_id}/certificates/{person_id}.pdf", "GET /certificates/{code}",
    "GET /programme/kpis", "GET /programme/reports/ambiti", "GET /programme/reports/ats",
    "PUT /surveys/{survey_id}/responses/mine", "GET /surveys/{survey_id}/responses/mine",
    "GET /surveys/{survey_id}/text-answers", "GET /surveys/{survey_id}/response-rate",
    "GET /surveys/{survey_id}/export.csv",
    "GET /surveys/{survey_id}/export.xlsx",
    "GET /toolkit/documents/{document_id}", "POST /toolkit/documents/{document_id}/comments",
    "POST /toolkit/proposals", "GET /toolkit/proposals", "GET /toolkit/proposals/mine",
    "GET /programme/people", "GET /programme/enrolments",
})
"""Operations whose answers carry personal data (people, registers, certificates, reports, the event
feeds) or security records: no cache keeps them (``Cache-Control: no-store``)."""


def row(method: str, path: str) -> dict[str, str]:
    """The scopes of ``METHOD path``; a route the table does not name is an error of the code."""
    operation = f"{method.upper()} {path}"
    if operation not in MATRIX:
        raise LookupError(f"{operation} has no row in services/gateway/authorisation.py MATRIX: "
                          "write down who may call it before serving it")
    return MATRIX[operation]


def page_row(method: str, rule: str) -> dict[str, str]:
    """The row of a sign-in page; a page route calling no operation that the table does not name is an error."""
    operation = f"{method.upper()} {rule}"
    if operation not in SIGN_IN_PAGES:
        raise LookupError(f"{operation} has no row in services/gateway/authorisation.py SIGN_IN_PAGES: "
                          "write down who may open it before serving it")
    return SIGN_IN_PAGES[operation]


def scope_of(operation: str, roles) -> str | None:
    """The widest scope that ``roles`` (or anyone, with no roles) have on ``operation``; None: none."""
    rule = MATRIX[operation]
    granted = [rule[role] for role in roles if role in rule]
    if ANYONE in rule:
        granted.append(rule[ANYONE])
    return min(granted, key=list(SCOPES).index) if granted else None


def roles_allowed(operation: str) -> list[str]:
    rule = MATRIX[operation]
    return [role for role in COLUMNS if role in rule]


def describe(operation: str) -> str:
    """Who may call an operation, and on what, for the OpenAPI document and the API page."""
    rule = MATRIX[operation]
    return "; ".join(f"{role}: {rule[role]}" for role in COLUMNS if role in rule)


@dataclass(frozen=True)
class Access:
    """What one caller may reach with one operation: the widest scope among its roles."""

    operation: str
    scope: str
    principal: Principal | None = None

    @classmethod
    def grant(cls, operation: str, principal: Principal | None) -> "Access":
        scope = scope_of(operation, principal.roles if principal else ())
        if scope is None:
            raise Forbidden(f"this needs one of the roles: {', '.join(roles_allowed(operation))}")
        if scope == OWN_AMBITO and not (principal and principal.ambito):  # auth.verify refuses it first
            raise Forbidden("an 'ambito' token must name its Ambito")
        return cls(operation, scope, principal)

    @property
    def ambito(self) -> str | None:
        """The Ambito the service must limit the answer to; None when the scope names none."""
        return self.principal.ambito if self.scope == OWN_AMBITO else None

    def person(self, person_id: str | None) -> tuple[str, str | None]:
        """The person a request is about, and the Ambito the service must find them in (None: any).

        A caller limited to their own person acts for themselves: they may leave the person
        out, and naming another is ``Forbidden``. Any other caller must name one.
        """
        if self.scope == OWN_PERSON:
            if person_id not in (None, self.principal.sub):
                raise Forbidden("a participant acts only for themselves")
            return self.principal.sub, None
        if self.scope not in (ANY, OWN_AMBITO):
            raise Forbidden(f"{self.operation} reaches no person for this token")
        if not person_id:
            raise Invalid("name the person you act for", {PERSON: ["Missing data for required field."]})
        return person_id, self.ambito

    def check(self, parameters: dict) -> None:
        """Refuse a path or body that names a person or an Ambito outside the caller's scope.

        Whether a person is of an Ambito only the service that keeps them can tell: handlers
        hand it ``ambito`` (see ``person``).
        """
        if self.scope == OWN_PERSON and parameters.get(PERSON) is not None:
            self.person(parameters[PERSON])
        if self.scope == OWN_AMBITO and parameters.get(AMBITO) is not None \
                and str(parameters[AMBITO]) != self.principal.ambito:
            raise Forbidden(f"an Ambito's staff act only for their own Ambito, {self.principal.ambito}")

    def own(self, rows: list[dict]) -> list[dict]:
        """Rows about people (each with a ``person_id``) that the caller may see.

        A service already limited them to ``ambito``; a person sees only their own.
        """
        if self.scope == OWN_PERSON:
            return [r for r in rows if r[PERSON] == self.principal.sub]
        if self.scope in (ANY, OWN_AMBITO):
            return rows
        raise Forbidden(f"{self.operation} reaches no person for this token")

    @property
    def toolkit_reader(self) -> str | None:
        """The person the toolkit must find among the participants; None for staff, who read it all."""
        return self.principal.sub if self.scope == ENROLLED else None

    @property
    def catalogue_reader(self) -> str | None:
        """The person whose enrolments show them meeting links in the published catalogue, if any."""
        if self.scope == PUBLISHED and self.principal and "participant" in self.principal.roles:
            return self.principal.sub
        return None

    def catalogue(self, labs: list[dict], enrolled: set[str] = frozenset()) -> list[dict]:
        """The labs the caller may see: all of them, or the published catalogue (``enrolled``: lab ids)."""
        if self.scope == ANY:
            return labs
        if self.scope != PUBLISHED:
            raise Forbidden(f"{self.operation} shows no lab to this token")
        return [lab if lab["id"] in enrolled else without_links(lab) for lab in labs if lab["status"] != "draft"]


def without_links(lab: dict) -> dict:
    """A lab without its sessions' meeting links."""
    modules = [{**module, "sessions": [{k: v for k, v in session.items() if k != "online_link"}
                                       for session in module.get("sessions", [])]}
               for module in lab.get("modules", [])]
    return {**lab, "modules": modules}


def markdown() -> str:
    """The table for the people who grant roles (docs/operating.md): each operation, each caller's scope."""
    lines = [
        "| operation | " + " | ".join(COLUMNS) + " | personal data |",
        "| --- |" + " --- |" * (len(COLUMNS) + 1),
    ]
    for operation in MATRIX:
        cells = [scope_of(operation, () if caller == ANYONE else (caller,)) or "—" for caller in COLUMNS]
        personal = "yes" if operation in PERSONAL_DATA else ""
        lines.append(f"| `{operation}` | " + " | ".join(cells) + f" | {personal} |")
    legend = [f"- **{scope}**: {meaning}." for scope, meaning in SCOPES.items()]
    legend.append("- **—**: refused (403; 401 without a valid token).")
    pages = ", ".join(f"`{page}`" for page in SIGN_IN_PAGES)
    legend += ["", "The pages that sign people in and out call no operation of the API; "
                   f"anyone may open them: {pages}."]
    return "\n".join(lines + [""] + legend) + "\n"


def with_table(document: str) -> str:
    """``document`` with the table of roles between its markers written anew."""
    before, begins, rest = document.partition(TABLE_BEGINS)
    _, ends, after = rest.partition(TABLE_ENDS)
    if not (begins and ends):
        raise ValueError(f"the document has no place for the table: {TABLE_BEGINS} … {TABLE_ENDS}")
    return f"{before}{TABLE_BEGINS}\n{markdown()}{TABLE_ENDS}{after}"
