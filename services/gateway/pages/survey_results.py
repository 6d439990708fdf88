"""The surveys for ANCI staff: the list, a new draft with its questions, opening and closing it; and a survey's
results for whoever the table of roles lets read them (staff, the auditor, an Ambito's staff): every question
of the region and of each ATS, the text answers, the response rate and the exports, as far as each may.

The API keeps the anonymity rules (an anonymous survey's results exist only after its close; a group of
fewer than 3 answers is withheld): the page says so where the API refuses or withholds.
"""

import uuid
from datetime import date, timedelta
from urllib.parse import quote

from werkzeug.utils import redirect

from rebuilding.errors import Conflict, Invalid, NotFound
from services import labels
from services.gateway.pages.routes import form_key, web_page
from services.gateway.pages.survey_forms import QUESTION_SLOTS, definition_problems, survey_from_form
from services.registry.domain import ATS_CODES

RESULTS = "GET /surveys/{survey_id}/results"
RATE = "GET /surveys/{survey_id}/response-rate"
TEXTS = "GET /surveys/{survey_id}/text-answers"
CREATE = "POST /surveys"
METHODS = {"schulze": "Schulze", "borda": "Borda", "mean_rank": "posizione media"}
TRANSITIONS = {"open": "Apri il questionario", "close": "Chiudi il questionario"}
NEXT = {"draft": "open", "open": "close"}
EXPORTS = ("csv", "xlsx")


def places(order: list[list[str]]) -> dict[str, tuple[int, bool]]:
    """Each item's place in an order of tiers, and whether it shares it (a tie is a tie, not an order)."""
    found, place = {}, 1
    for tier in order:
        for item in tier:
            found[item] = (place, len(tier) > 1)
        place += len(tier)
    return found


def answer_of(result: dict, question: dict) -> dict | None:
    return next((q for q in result.get("questions", []) if q["question_id"] == question["id"]), None)


def ranking_table(result: dict, question: dict) -> dict | None:
    """One scope's ranking question as rows for the page: per item its Schulze place, Borda, mean rank."""
    answer = answer_of(result, question)
    if answer is None or not answer.get("ranking"):
        return None
    ranking = answer["ranking"]
    labels_ = {i["id"]: i["label"] for i in question["items"]}
    schulze = places(ranking["schulze"]["order"])
    rows = [{"label": labels_.get(item, item), "place": schulze[item][0], "tied": schulze[item][1],
             "borda": ranking["borda"]["scores"][item], "mean": ranking["mean_rank"]["scores"][item]}
            for item in ranking["items"]]
    rows.sort(key=lambda r: (r["place"], r["label"]))
    winner = ranking.get("condorcet_winner")
    ties = [(METHODS.get(t["method"], t["method"]), [labels_.get(i, i) for i in t["items"]])
            for t in ranking.get("ties", [])]
    return {"ballots": ranking["ballots"], "rows": rows, "winner": labels_.get(winner, winner) if winner else None,
            "ties": ties}


def share(count: int, total: int) -> float | None:
    return round(100 * count / total, 1) if total else None


def likert_table(result: dict, question: dict) -> dict | None:
    """One scope's likert question: how many chose each value (and their share), the mean, the share of 4 and 5."""
    answer = answer_of(result, question)
    if answer is None or "distribution" not in answer:
        return None
    total = answer["answers"]
    rows = [{"label": labels.label("likert", value), "count": answer["distribution"].get(str(value), 0),
             "share": share(answer["distribution"].get(str(value), 0), total)} for value in labels.LIKERT]
    by_lab = [{"lab_id": lab, "answers": r["answers"], "mean": r.get("mean")}
              for lab, r in (answer.get("by_lab") or {}).items()]
    positive = answer.get("positive_share")
    return {"answers": total, "rows": rows, "mean": answer.get("mean"), "by_lab": by_lab,
            "positive": round(100 * positive, 1) if positive is not None else None}


def choice_table(result: dict, question: dict) -> dict | None:
    """One scope's choice question: how many chose each option, and their share of those who answered."""
    answer = answer_of(result, question)
    if answer is None or "options" not in answer:
        return None
    total = answer["answers"]
    rows = [{"label": o["label"], "count": answer["options"].get(o["id"], 0),
             "share": share(answer["options"].get(o["id"], 0), total)} for o in question["options"]]
    return {"answers": total, "rows": rows}


TABLES = {"ranking": ranking_table, "likert": likert_table, "single_choice": choice_table,
          "multiple_choice": choice_table}


def scope_view(survey: dict, result: dict, name: str) -> dict:
    """One scope's section: each question of the survey with its table (a text question, its count)."""
    questions = []
    for q in survey.get("questions", []):
        table = TABLES[q["type"]](result, q) if q["type"] in TABLES else None
        answer = answer_of(result, q)
        questions.append({"question": q, "table": table, "answers": answer["answers"] if answer else 0})
    return {"scope": result["scope"], "name": name, "responses": result["responses"],
            "withheld": result.get("withheld"), "questions": questions}


class SurveyResultsPages:
    """For ANCI staff (and the auditor, who reads): the surveys, a new draft, and a survey's results."""

    @web_page("GET", "/anci/questionari")
    def page_survey_list(self, ctx):
        ctx.require(RATE)
        return ctx.render("questionari_anci.html", surveys=ctx.perform("GET /surveys", query={"per_page": 200}),
                          may_create=ctx.may(CREATE))

    @web_page("GET,POST", "/anci/questionari/nuovo")
    def page_new_survey(self, ctx):
        ctx.require(CREATE)
        labs = [lab for lab in ctx.perform("GET /labs") if lab["status"] not in ("draft", "cancelled")]
        form, problems, status = ctx.request.form if ctx.request.method == "POST" else {}, {}, 200
        if ctx.request.method == "POST":
            body, slots = survey_from_form(ctx.request.form)
            if not body["questions"]:
                problems = {"domande": "Scriva almeno una domanda."}
            else:
                try:
                    created = ctx.perform(CREATE, body=body, idempotency_key=form_key(ctx))
                except Invalid as refused:
                    problems = definition_problems(refused, slots)
                else:
                    return redirect(f"/anci/questionari/{quote(created['id'])}?fatto=creato", 303)
            status = 400
        today = date.today()
        return ctx.render("questionario_nuovo.html", status, form=form, problems=problems, labs=labs,
                          slots=range(1, QUESTION_SLOTS + 1), question_types=labels.QUESTION_TYPES,
                          kinds=labels.SURVEY_KINDS, audiences=labels.SURVEY_AUDIENCES,
                          opens=today.isoformat(), closes=(today + timedelta(days=30)).isoformat(),
                          key=uuid.uuid4().hex)

    @web_page("POST", "/anci/questionari/<survey_id>/stato")
    def page_survey_transition(self, ctx, survey_id):
        action = ctx.request.form.get("azione", "")
        if action not in TRANSITIONS:
            raise Invalid("unknown action", {"azione": ["open or close"]})
        ctx.perform(f"POST /surveys/{{survey_id}}/{action}", path={"survey_id": survey_id},
                    idempotency_key=form_key(ctx))
        return redirect(f"/anci/questionari/{quote(survey_id)}?fatto={action}", 303)

    @web_page("GET", "/anci/questionari/<survey_id>/risposte.<fmt>")
    def page_survey_export(self, ctx, survey_id, fmt):
        if fmt not in EXPORTS:
            raise NotFound(f"no export as {fmt}")
        return ctx.perform(f"GET /surveys/{{survey_id}}/export.{fmt}", path={"survey_id": survey_id})

    @web_page("GET", "/anci/questionari/<survey_id>")
    def page_survey_results(self, ctx, survey_id):
        ctx.require(RESULTS)
        path = {"survey_id": survey_id}
        survey = ctx.perform("GET /surveys/{survey_id}", path=path)
        rate = ctx.perform(RATE, path=path) if ctx.may(RATE) else None
        scopes, texts, unavailable = [], None, None
        if survey["status"] != "draft":
            try:
                for scope in ["region"] + [f"ats:{code}" for code in ATS_CODES]:
                    result = ctx.perform(RESULTS, path=path, query={"scope": scope})
                    name = "Regione Lombardia" if scope == "region" else labels.label("ats", scope[4:])
                    scopes.append(scope_view(survey, result, name))
                if ctx.may(TEXTS) and any(q["type"] == "text" for q in survey.get("questions", [])):
                    texts = ctx.perform(TEXTS, path=path)
            except Conflict as refused:  # an anonymous survey before its close: no results yet, by design
                if (refused.details or {}).get("reason") != "not_closed":
                    raise
                unavailable = labels.REFUSAL_REASONS["not_closed"]
        lab_titles = {}
        if survey["audience"]["type"] == "participants" and ctx.may("GET /labs"):
            lab_titles = {lab["id"]: lab["title"] for lab in ctx.perform("GET /labs")}
        action = NEXT.get(survey["status"])
        return ctx.render("risultati.html", survey=survey, rate=rate, scopes=scopes, texts=texts,
                          unavailable=unavailable, lab_titles=lab_titles, done=ctx.request.args.get("fatto"),
                          exports=bool(scopes) and not scopes[0]["withheld"]
                          and ctx.may("GET /surveys/{survey_id}/export.csv"),
                          action=(action, TRANSITIONS[action]) if action and ctx.may(
                              f"POST /surveys/{{survey_id}}/{action}") else None,
                          back="/anci/questionari" if ctx.may(RATE) else "/questionari", key=uuid.uuid4().hex)
