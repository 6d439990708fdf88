"""A survey's answer page, for whoever answers it: an Ambito's head of Ufficio di Piano (a survey of the
Ambiti) or a participant (a survey of participants). Every question is in one form: a ranking, ordered
without JavaScript (each up/down button submits the form and the page comes back reordered, the other
answers as they were, nothing saved) and, with ``static/graduatoria.js``, by dragging or with the same
buttons in place, announced to screen readers; a likert and a single choice as radios, a multiple choice
as checkboxes, a text as a textarea. Saving is ``PUT /surveys/{survey_id}/responses/mine``; amending is
saving again until the close. The API judges the answers; its refusals show beside their questions.

An anonymous survey's answer is read and amended only with the secret the API gives with the first
answer: the page shows it once, then asks for it back, and keeps it nowhere but in the form it sends.
"""

import uuid

from werkzeug.wrappers import Request

from rebuilding.errors import Forbidden, Invalid
from services import labels
from services.gateway.pages.operations import perform
from services.gateway.pages.routes import form_key, web_page
from services.gateway.pages.survey_forms import answer_problems, answers_from_form, moved, start_values
from services.gateway.surveys_routes import SECRET_HEADER
from services.surveys.domain import TEXT_ANSWER_LENGTH

ANSWER = "PUT /surveys/{survey_id}/responses/mine"
MINE = "GET /surveys/{survey_id}/responses/mine"
RESULTS = "GET /surveys/{survey_id}/results"
WRONG_SECRET = "Il codice non corrisponde a una Sua risposta a questo questionario: lo controlli e riprovi."


def with_secret(request, secret: str) -> Request:
    """The page's request carrying the respondent's secret as the API reads it: in its header."""
    environ = dict(request.environ)
    environ["HTTP_" + SECRET_HEADER.upper().replace("-", "_")] = secret
    return Request(environ)


def saved_response(ctx, survey: dict, secret: str | None) -> tuple[dict, str | None]:
    """The caller's saved response, and a problem with the secret if any.

    An anonymous answer needs its secret: without it (or with a wrong one) the response is
    ``locked``, which the page shows as a request for the secret.
    """
    path = {"survey_id": survey["id"]}
    if not survey.get("anonymous"):
        return ctx.perform(MINE, path=path), None
    try:
        if secret:
            return perform(ctx.service, with_secret(ctx.request, secret), ctx.principal, MINE, path=path), None
        return ctx.perform(MINE, path=path), None
    except Forbidden:
        return {"answered": True, "locked": True}, WRONG_SECRET if secret else None


def move_announced(values: dict, questions: list[dict], move: str) -> str:
    """Apply a ``question|item|su-or-giu`` move to ``values`` and say where the item went."""
    question_id, _, rest = move.partition("|")
    item, _, direction = rest.partition("|")
    rankings = {q["id"]: q for q in questions if q["type"] == "ranking"}
    if question_id not in rankings:
        raise Invalid("unknown question", {"sposta": ["a ranking question of this survey"]})
    order = values[question_id] = moved(values[question_id], item, direction)
    label = next(i["label"] for i in rankings[question_id]["items"] if i["id"] == item)
    return (f"«{label}» ora in posizione {order.index(item) + 1} di {len(order)}. "
            "La graduatoria non è ancora inviata.")


class SurveyPages:
    """Every page's method is named page_…, as in ``PagesRoutes``."""

    @web_page("GET", "/questionari")
    def page_surveys(self, ctx):
        ctx.require(ANSWER)
        surveys = ctx.perform("GET /surveys", query={"status": "open", "per_page": 200})
        closed = ctx.perform("GET /surveys", query={"status": "closed", "per_page": 200})
        return ctx.render("questionari.html", surveys=surveys, closed=closed)

    @web_page("GET,POST", "/questionari/<survey_id>")
    def page_survey_answer(self, ctx, survey_id):
        ctx.require(ANSWER)
        path = {"survey_id": survey_id}
        survey = ctx.perform("GET /surveys/{survey_id}", path=path)
        questions = survey.get("questions", [])
        form = ctx.request.form if ctx.request.method == "POST" else None
        secret = (form.get("segreto", "").strip() or None) if form is not None else None
        mine, secret_problem = saved_response(ctx, survey, secret)
        values = start_values(questions, mine.get("answers") or {})
        problems, general, announcement, saved, given_secret, status = {}, [], None, None, None, 200
        if form is not None and form.get("azione") != "apri" and not mine.get("locked"):
            values = answers_from_form(form, questions)
            if form.get("sposta"):
                announcement = move_announced(values, questions, form["sposta"])
            else:
                body = {"answers": values, **({"secret": secret} if secret else {})}
                try:
                    saved = ctx.perform(ANSWER, path=path, body=body, idempotency_key=form_key(ctx))
                except Invalid as refused:
                    problems, general = answer_problems(refused)
                    status = 400
                else:
                    given_secret = saved.get("secret")
                    secret = given_secret or secret
                    mine, _ = saved_response(ctx, survey, secret)
                    values = start_values(questions, mine.get("answers") or {})
        return ctx.render("questionario.html", status, survey=survey, questions=questions, values=values,
                          mine=mine, problems=problems, general=general, announcement=announcement, saved=saved,
                          secret=secret, given_secret=given_secret, secret_problem=secret_problem,
                          results=ctx.may(RESULTS), text_limit=TEXT_ANSWER_LENGTH, likert=labels.LIKERT,
                          key=uuid.uuid4().hex)
