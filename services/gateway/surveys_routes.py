"""Routes under /surveys: definitions, answers, results, response rates and exports.

Staff define surveys. An Ambito's token answers a needs assessment for its own Ambito:
its ``sub`` must be the registry's person id of that Ambito's responsabile_ufficio_di_piano.
A participant answers for themselves. Who may do what is ``authorisation.py``'s table.
"""

from marshmallow import Schema, fields, validate
from rebuilding.rpc import RpcProxy

from rebuilding.errors import NotFound
from rebuilding.schemas import Text
from services.gateway.api import api, call
from services.gateway.labs_routes import attachment
from services.registry.domain import ATS_CODES
from services.surveys import schemas
from services.surveys.exports import export_csv, export_xlsx

SCOPE = validate.OneOf(["region", *(f"ats:{code}" for code in ATS_CODES)])
SECRET_HEADER = "X-Survey-Secret"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class SurveysQuery(Schema):
    status = Text(validate=validate.OneOf(("draft", "open", "closed")))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class ResultsQuery(Schema):
    scope = Text(load_default="region", validate=SCOPE, metadata={"description": "region, or ats:<code>"})


def caller(access) -> dict:
    """Who answers: an Ambito (its claim, and the token's sub as the person answering for it), or a person."""
    principal = access.principal
    if access.ambito is not None:
        return {"ambito": access.ambito, "person": principal.sub}
    return {"ambito": None, "person": principal.sub}


class SurveysRoutes:
    surveys = RpcProxy("surveys")

    @api.route("POST", "/surveys", summary="Define a survey (a draft)", tag="surveys", body=schemas.SurveyCreate,
               response=schemas.Survey, status=201, responses={400: "Invalid definition, or unknown labs"})
    def create_survey(self, request, access, body, query):
        return call(self.surveys.create_survey, schemas.plain(body))

    @api.route("GET", "/surveys", summary="List the surveys; an Ambito's or a participant's token, those open "
                                          "or closed for their kind of respondent", tag="surveys",
               query=SurveysQuery, response=schemas.Survey(many=True))
    def list_surveys(self, request, access, body, query):
        statuses, audience = ([query["status"]] if query.get("status") else None), None
        if access.scope == "addressed":
            statuses = [s for s in (statuses or ["open", "closed"]) if s != "draft"] or ["open", "closed"]
            audience = "ambiti" if "ambito" in access.principal.roles else "participants"
            if query.get("status") == "draft":
                return []
        return call(self.surveys.list_surveys, statuses, audience, query["page"], query["per_page"])

    @api.route("GET", "/surveys/{survey_id}", summary="One survey, with its questions", tag="surveys",
               response=schemas.Survey, responses={404: "No such survey (a draft, for a respondent)"})
    def get_survey(self, request, access, body, query, survey_id):
        survey = call(self.surveys.get_survey, survey_id)
        audience = "ambiti" if "ambito" in access.principal.roles else "participants"
        if access.scope == "addressed" and (survey["status"] == "draft" or survey["audience"]["type"] != audience):
            raise NotFound(f"no survey {survey_id}")
        return survey

    @api.route("PATCH", "/surveys/{survey_id}", summary="Change a draft survey; its questions freeze when it opens",
               tag="surveys", body=schemas.SurveyChange, response=schemas.Survey,
               responses={404: "No such survey", 409: "Not a draft"})
    def revise_survey(self, request, access, body, query, survey_id):
        return call(self.surveys.revise_survey, survey_id, schemas.plain(body))

    @api.route("POST", "/surveys/{survey_id}/open", summary="Open a survey to answers; invitations go by e-mail",
               tag="surveys", response=schemas.Survey, responses={404: "No such survey", 409: "Not a draft"})
    def open_survey(self, request, access, body, query, survey_id):
        return call(self.surveys.transition, survey_id, "open")

    @api.route("POST", "/surveys/{survey_id}/close",
               summary="Close a survey: a needs assessment publishes its priorities; an anonymous survey "
                       "releases its answers, shuffled",
               tag="surveys", response=schemas.Survey, responses={404: "No such survey", 409: "Not open"})
    def close_survey(self, request, access, body, query, survey_id):
        return call(self.surveys.transition, survey_id, "close")

    @api.route("PUT", "/surveys/{survey_id}/responses/mine",
               summary="Submit or amend your response until the survey closes; the last version counts. "
                       "An anonymous survey's first answer returns a secret, once: amend with it. A repeat of an "
                       "anonymous answer (the same Idempotency-Key) is answered `repeated`, without the secret",
               tag="surveys", body=schemas.ResponseInput,
               responses={403: "Not a respondent of this survey", 404: "No such survey",
                          409: "Not open, or answered anonymously already (amend with the secret)"})
    def respond(self, request, access, body, query, survey_id):
        who = caller(access)
        return call(self.surveys.respond, survey_id, body, who["ambito"], who["person"])

    @api.route("GET", "/surveys/{survey_id}/responses/mine",
               summary=f"Your response and its history; an anonymous one needs the {SECRET_HEADER} header",
               tag="surveys", responses={403: "Not a respondent, or no secret", 404: "Not answered"})
    def my_response(self, request, access, body, query, survey_id):
        who = caller(access)
        return call(self.surveys.my_response, survey_id, who["ambito"], who["person"],
                    request.headers.get(SECRET_HEADER))

    @api.route("GET", "/surveys/{survey_id}/results",
               summary="Results per question, for the region or one ATS: rankings by mean rank, Borda, Schulze "
                       "(with strongest paths) and Condorcet, ties stated; likert distributions and means; "
                       "choice counts",
               tag="surveys", query=ResultsQuery,
               responses={404: "No such survey", 409: "Anonymous and not yet closed"})
    def results(self, request, access, body, query, survey_id):
        return call(self.surveys.results, survey_id, query["scope"])

    @api.route("GET", "/surveys/{survey_id}/text-answers",
               summary="The answers to the text questions, naming nobody, in alphabetical order; an anonymous "
                       "survey's only after its close, and none while it has fewer than 3 answers",
               tag="surveys", responses={404: "No such survey", 409: "Anonymous and not yet closed"})
    def text_answers(self, request, access, body, query, survey_id):
        return call(self.surveys.text_answers, survey_id)

    @api.route("GET", "/surveys/{survey_id}/response-rate",
               summary="Who has answered, per Ambito and per ATS, and who is missing", tag="reports",
               responses={404: "No such survey"})
    def response_rate(self, request, access, body, query, survey_id):
        return call(self.surveys.response_rate, survey_id)

    @api.route("GET", "/surveys/{survey_id}/export.csv",
               summary="The answers, as CSV; anonymous ones name nobody, and leave blank an ATS or a lab that "
                       "would single out fewer than 3 answers",
               tag="reports", produces="text/csv",
               responses={404: "No such survey", 409: "Anonymous and not yet closed, or with fewer than 3 answers"})
    def export_csv(self, request, access, body, query, survey_id):
        return attachment(export_csv(call(self.surveys.export_rows, survey_id)), "text/csv",
                          f"questionario-{survey_id}.csv")

    @api.route("GET", "/surveys/{survey_id}/export.xlsx",
               summary="The answers, as an Excel workbook; anonymous ones name nobody, and leave blank an ATS "
                       "or a lab that would single out fewer than 3 answers", tag="reports",
               produces=XLSX,
               responses={404: "No such survey", 409: "Anonymous and not yet closed, or with fewer than 3 answers"})
    def export_xlsx(self, request, access, body, query, survey_id):
        return attachment(export_xlsx(call(self.surveys.export_rows, survey_id)), XLSX,
                          f"questionario-{survey_id}.xlsx")
