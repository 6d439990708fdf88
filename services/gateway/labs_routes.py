"""Routes under /labs, /certificates and /programme: the laboratori, enrolment, attendance and reports.

Staff manage labs. A participant acts for themselves (their token's ``sub`` is their
person id); an Ambito's staff act for the people of their own Ambito. Who may do what,
on whom, is ``services/gateway/authorisation.py``'s table.
"""

from datetime import date

from marshmallow import Schema, fields, validate
from rebuilding.rpc import RpcProxy
from werkzeug.wrappers import Response

from rebuilding.errors import NotFound
from rebuilding.schemas import Text
from services.labels import label
from services.gateway.api import api, call, json_response
from services.gateway.authorisation import OWN_PERSON
from services.gateway.catalogue import CatalogueCopy
from services.gateway.pages.settings import public_url
from services.labs import schemas
from services.labs.certificates import render_certificate
from services.labs.registers import register_csv, register_xlsx
from services.registry.domain import ATS_CODES
from services.registry.territory import ATS_NAMES

STATUSES = ("draft", "published", "enrolment_closed", "running", "completed", "cancelled")
PER_PAGE_MAX = 500


class LabsQuery(Schema):
    ats = Text(validate=validate.OneOf(ATS_CODES))
    status = Text(validate=validate.OneOf(STATUSES))
    theme = Text()
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000), metadata={
        "description": "which page of `per_page` labs, from 1; a page shorter than `per_page` is the last"})
    per_page = fields.Integer(validate=validate.Range(min=1, max=PER_PAGE_MAX), metadata={
        "description": f"labs per page (1–{PER_PAGE_MAX}); without it, every lab the filters keep, in one answer"})


def transition_route(action: str, summary: str, body=None):
    @api.route("POST", f"/labs/{{lab_id}}/{action}", summary=summary, tag="labs", body=body,
               responses={404: "No such lab", 409: "Not in a state that allows it"})
    def transition(self, request, access, body, query, lab_id):
        with self.catalogue.changing(lab_id):
            return call(self.labs.transition, lab_id, action, body or {})

    return transition


def in_italian(rows: list[dict]) -> list[dict]:
    """A register's rows as people read them: role, ATS and attendance in Italian (``services.labels``)."""
    vocabularies = {"role": "person_role", "ats": "ats", "status": "attendance"}
    return [{**row, **{k: label(v, row[k]) if row.get(k) else row.get(k) for k, v in vocabularies.items()}}
            for row in rows]


def attachment(content: bytes, mimetype: str, filename: str) -> Response:
    return Response(content, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


class LabsRoutes:
    labs = RpcProxy("labs")
    catalogue = CatalogueCopy()

    @api.route("POST", "/labs", summary="Create a lab (a draft)", tag="labs",
               body=schemas.LabCreate, response=schemas.Lab, status=201, responses={400: "Invalid, or unknown themes"})
    def create_lab(self, request, access, body, query):
        with self.catalogue.changing() as created:
            lab = call(self.labs.create_lab, schemas.LabCreate().dump(body))
            created["id"] = lab["id"]
        return lab

    @api.route("GET", "/labs", summary="List the labs, with their seats left; "
                                        "an Ambito's staff and participants, the published ones", tag="labs",
               query=LabsQuery, response=schemas.Lab(many=True))
    def list_labs(self, request, access, body, query):
        return self._listed("GET /labs", access, query, links=True)

    @api.route("GET", "/labs/{lab_id}", summary="One lab, with its enrolment count", tag="labs",
               response=schemas.Lab, responses={404: "No such lab (a draft, for who sees the published ones)"})
    def get_lab(self, request, access, body, query, lab_id):
        return self._shown(access, lab_id, links=True)

    @api.route("GET", "/catalogue/labs", summary="The public catalogue: the published labs, with their seats "
                                                  "left, without meeting links; no token needed", tag="labs",
               query=LabsQuery, response=schemas.Lab(many=True))
    def public_catalogue(self, request, access, body, query):
        return self._listed("GET /catalogue/labs", access, query, links=False)

    @api.route("GET", "/catalogue/labs/{lab_id}", summary="A published lab of the public catalogue, without "
                                                          "meeting links; no token needed", tag="labs",
               response=schemas.Lab, responses={404: "No such published lab"})
    def public_lab(self, request, access, body, query, lab_id):
        return self._shown(access, lab_id, links=False)

    def _listed(self, route: str, access, query, links: bool):
        """The labs the caller may see, from the gateway's copy, or from labs while the copy cannot tell;
        ``links``: with the meeting links of the labs a participant is confirmed in (never in the public catalogue)."""
        filters = (query.get("ats"), query.get("status"), query.get("theme"))
        per_page = query.get("per_page")
        page = slice(None) if per_page is None else slice((query["page"] - 1) * per_page, query["page"] * per_page)
        labs = self.catalogue.list(*filters)
        if labs is None:
            return access.catalogue(call(self.labs.list_labs, *filters), self._enrolled(access, links))[page]
        enrolled = self._enrolled(access, links, from_copy=True)
        if enrolled:  # a participant's own meeting links
            return access.catalogue(labs, enrolled)[page]
        return self.catalogue.answer((route, filters, access.scope, page.start, page.stop),
                                     lambda: access.catalogue(labs)[page])

    def _shown(self, access, lab_id: str, links: bool) -> dict:
        """One lab as the caller may see it, from the copy or from labs; 404 for one they may not."""
        lab = self.catalogue.lab(lab_id)
        if lab is None:
            shown = access.catalogue([call(self.labs.get_lab, lab_id)], self._enrolled(access, links))
        else:
            shown = access.catalogue([lab], self._enrolled(access, links, from_copy=True))
        if not shown:
            raise NotFound(f"no lab {lab_id}")
        return shown[0]

    def _enrolled(self, access, links: bool, from_copy: bool = False) -> set[str]:
        """The labs whose meeting links the caller's catalogue shows: those their person is confirmed in."""
        person_id = access.catalogue_reader
        if person_id is None or not links:
            return set()
        if from_copy:
            return self.catalogue.confirmed_labs(person_id)
        return {e["lab_id"] for e in call(self.labs.person_labs, person_id) if e["status"] == "confirmed"}

    publish_lab = transition_route("publish", "Publish a draft lab: enrolment opens inside its window")
    close_lab = transition_route("close", "Close a lab's enrolment")
    start_lab = transition_route("start", "Start a lab")
    complete_lab = transition_route("complete", "Complete a lab: who attended enough gets a certificate")
    cancel_lab = transition_route("cancel", "Cancel a lab and tell every participant", body=schemas.Cancellation)

    @api.route("POST", "/labs/{lab_id}/enrollments", summary="Enrol a person: 201 confirmed, 202 waitlisted",
               tag="labs", body=schemas.EnrolmentRequest, response=schemas.Enrolment, status=201,
               responses={202: ("On the waiting list", schemas.Enrolment), 404: "No such lab", 409: "Already enrolled or waiting",
                          422: "Refused, with the reason: ineligible, closed or cancelled"})
    def enrol(self, request, access, body, query, lab_id):
        person_id, ambito = access.person(body.get("person_id"))
        with self.catalogue.changing(lab_id):
            outcome = call(self.labs.enrol, lab_id, {"person_id": person_id}, ambito)
        return json_response(outcome, 201 if outcome["status"] == "confirmed" else 202)

    @api.route("DELETE", "/labs/{lab_id}/enrollments/{person_id}",
               summary="Withdraw, or leave the waiting list; before the start, the first waiting takes the seat",
               tag="labs", responses={404: "Not enrolled nor waiting", 409: "The lab is over"})
    def withdraw(self, request, access, body, query, lab_id, person_id):
        person_id, ambito = access.person(person_id)
        with self.catalogue.changing(lab_id):
            return call(self.labs.withdraw, lab_id, person_id, ambito)

    @api.route("GET", "/labs/{lab_id}/waitlist",
               summary="The waiting list; an Ambito's staff see their Ambito's people, a participant their own place",
               tag="labs", response=schemas.WaitlistEntry(many=True), responses={404: "No such lab"})
    def waitlist(self, request, access, body, query, lab_id):
        return access.own(call(self.labs.waitlist, lab_id, access.ambito))

    @api.route("PUT", "/labs/{lab_id}/sessions/{session_id}/attendance",
               summary="Record a session's attendance in bulk; a record given again is a correction", tag="labs",
               body=schemas.AttendanceSheet,
               responses={404: "No such lab or session", 409: "The lab is not running"})
    def record_attendance(self, request, access, body, query, lab_id, session_id):
        return call(self.labs.record_attendance, lab_id, session_id, schemas.AttendanceSheet().dump(body))

    @api.route("GET", "/labs/{lab_id}/register.csv", summary="The attendance register, as CSV", tag="reports",
               produces="text/csv", responses={404: "No such lab"})
    def register_csv(self, request, access, body, query, lab_id):
        register = call(self.labs.register, lab_id, access.ambito)
        return attachment(register_csv(in_italian(register["rows"])), "text/csv", f"registro-{lab_id}.csv")

    @api.route("GET", "/labs/{lab_id}/register.xlsx", summary="The attendance register, as an Excel workbook",
               tag="reports",
               produces="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               responses={404: "No such lab"})
    def register_xlsx(self, request, access, body, query, lab_id):
        register = call(self.labs.register, lab_id, access.ambito)
        return attachment(register_xlsx(in_italian(register["rows"]), register["title"]),
                          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                          f"registro-{lab_id}.xlsx")

    @api.route("GET", "/labs/{lab_id}/certificates/{person_id}.pdf",
               summary="A participant's attestato di partecipazione", tag="labs",
               produces="application/pdf", responses={404: "No certificate: the lab is not completed by them"})
    def certificate(self, request, access, body, query, lab_id, person_id):
        person_id, ambito = access.person(person_id)
        facts = call(self.labs.certificate, lab_id, person_id, ambito)
        pdf = render_certificate(
            person_name=facts["person_name"], lab_title=facts["lab_title"],
            ats_name=ATS_NAMES.get(facts["ats"], facts["ats"]), dates=[date.fromisoformat(d) for d in facts["dates"]],
            hours=facts["hours"], code=facts["code"], organisation=facts.get("organisation"),
            verify_url=f"{public_url()}/verifica/{facts['code']}",
        )
        return attachment(pdf, "application/pdf", f"attestato-{facts['code']}.pdf")

    @api.route("GET", "/certificates/{code}",
               summary="Verify a certificate by its code: anyone holding one may; it says whose, which lab, "
                       "the days and the hours, and nothing else",
               tag="labs", response=schemas.CertificateCheck, responses={404: "No certificate has this code"})
    def verify_certificate(self, request, access, body, query, code):
        return call(self.labs.verify_certificate, code.strip().upper())

    @api.route("GET", "/programme/people",
               summary="The people of the programme, by name; an Ambito's staff see their Ambito's",
               tag="reports", response=schemas.KnownPerson(many=True))
    def people(self, request, access, body, query):
        return call(self.labs.people, access.ambito)

    @api.route("GET", "/programme/enrolments",
               summary="Enrolments across labs, with the place on the waiting list, hours attended and "
                       "certificate; an Ambito's staff see their Ambito's people, a participant their own",
               tag="reports", query=schemas.EnrolmentsQuery, response=schemas.PersonEnrolment(many=True))
    def enrolments(self, request, access, body, query):
        person_id, ambito = query.get("person_id"), access.ambito
        if person_id or access.scope == OWN_PERSON:
            person_id, ambito = access.person(person_id)
        return access.own(call(self.labs.enrolments, person_id, ambito))

    @api.route("GET", "/programme/kpis", summary="The programme's KPIs, against 80 labs and 10 per ATS",
               tag="reports")
    def kpis(self, request, access, body, query):
        return call(self.labs.kpis)

    @api.route("GET", "/programme/reports/ambiti",
               summary="Participants, hours and completions per Ambito; an Ambito's staff see their own",
               tag="reports")
    def report_by_ambito(self, request, access, body, query):
        return call(self.labs.report, "ambito_id", access.ambito)

    @api.route("GET", "/programme/reports/ats", summary="Participants, hours and completions per ATS",
               tag="reports")
    def report_by_ats(self, request, access, body, query):
        return call(self.labs.report, "ats")

    @api.route("GET", "/programme/themes", summary="The macro training sections", tag="labs",
               response=schemas.Theme(many=True))
    def list_themes(self, request, access, body, query):
        return call(self.labs.list_themes)

    @api.route("POST", "/programme/themes", summary="Add a macro training section", tag="labs",
               body=schemas.ThemeCreate, response=schemas.Theme, status=201, responses={409: "The code is taken"})
    def add_theme(self, request, access, body, query):
        return call(self.labs.add_theme, body)
