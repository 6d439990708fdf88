"""The needs survey's ranking form, for whoever answers a survey: an Ambito's head of Ufficio di Piano
(or a participant, for a survey of participants). Ordering works without JavaScript (each up/down
button submits the form and the page comes back reordered, nothing saved) and, with
``static/graduatoria.js``, by dragging or with the same buttons in place, announced to screen readers.
Saving is ``PUT /surveys/{survey_id}/responses/mine``; amending is saving again until the close.
"""

import uuid

from rebuilding.errors import Invalid
from services import labels
from services.gateway.pages.routes import form_key, web_page
from services.registry.domain import ATS_CODES

ANSWER = "PUT /surveys/{survey_id}/responses/mine"
MOVES = {"su": -1, "giu": 1}


def ranking_questions(survey: dict) -> list[dict]:
    return [q for q in survey.get("questions", []) if q["type"] == "ranking"]


def start_order(question: dict, saved: list | None) -> list[str]:
    """The saved ranking first (it may be partial), then the items it leaves out in the survey's order."""
    ids = [item["id"] for item in question["items"]]
    ranked = [i for i in (saved or []) if i in ids]
    return ranked + [i for i in ids if i not in ranked]


def order_from_form(form, question: dict) -> list[str]:
    """The order the form sent: every item once, or the form was tampered with (400)."""
    ids = [item["id"] for item in question["items"]]
    order = form.getlist(f"ordine-{question['id']}")
    if sorted(order) != sorted(ids):
        raise Invalid("the ranking must hold each item once", {f"ordine-{question['id']}": ["each item once"]})
    return order


def moved(order: list[str], item: str, direction: str) -> list[str]:
    if item not in order or direction not in MOVES:
        raise Invalid("unknown move", {"sposta": ["an item and su or giu"]})
    at = order.index(item)
    to = min(max(at + MOVES[direction], 0), len(order) - 1)
    order = list(order)
    order[at], order[to] = order[to], order[at]
    return order


class SurveyPages:
    """Every page's method is named page_…, as in ``PagesRoutes``."""

    @web_page("GET", "/questionari")
    def page_surveys(self, ctx):
        ctx.require(ANSWER)
        surveys = ctx.perform("GET /surveys", query={"status": "open"})
        return ctx.render("questionari.html", surveys=surveys)

    @web_page("GET,POST", "/questionari/<survey_id>")
    def page_survey_answer(self, ctx, survey_id):
        ctx.require(ANSWER)
        path = {"survey_id": survey_id}
        survey = ctx.perform("GET /surveys/{survey_id}", path=path)
        mine = ctx.perform("GET /surveys/{survey_id}/responses/mine", path=path)
        saved_answers = mine.get("answers") or {}
        questions = ranking_questions(survey)
        orders = {q["id"]: start_order(q, saved_answers.get(q["id"])) for q in questions}
        announcement, just_saved = None, False
        if ctx.request.method == "POST":
            form = ctx.request.form
            orders = {q["id"]: order_from_form(form, q) for q in questions}
            if form.get("sposta"):
                question_id, _, rest = form["sposta"].partition("|")
                item, _, direction = rest.partition("|")
                if question_id not in orders:
                    raise Invalid("unknown question", {"sposta": ["a question of this survey"]})
                orders[question_id] = moved(orders[question_id], item, direction)
                labels_ = {i["id"]: i["label"] for q in questions for i in q["items"]}
                announcement = (f"«{labels_[item]}» ora in posizione {orders[question_id].index(item) + 1} "
                                f"di {len(orders[question_id])}. La graduatoria non è ancora inviata.")
            else:
                answers = {**saved_answers, **orders}
                ctx.perform(ANSWER, path=path, body={"answers": answers}, idempotency_key=form_key(ctx))
                mine = ctx.perform("GET /surveys/{survey_id}/responses/mine", path=path)
                just_saved = True
        return ctx.render("questionario.html", survey=survey, questions=questions, orders=orders, mine=mine,
                          announcement=announcement, just_saved=just_saved, key=uuid.uuid4().hex)


RESULTS = "GET /surveys/{survey_id}/response-rate"
METHODS = {"schulze": "Schulze", "borda": "Borda", "mean_rank": "posizione media"}


def places(order: list[list[str]]) -> dict[str, tuple[int, bool]]:
    """Each item's place in an order of tiers, and whether it shares it (a tie is a tie, not an order)."""
    found, place = {}, 1
    for tier in order:
        for item in tier:
            found[item] = (place, len(tier) > 1)
        place += len(tier)
    return found


def ranking_table(result: dict, question: dict) -> dict | None:
    """One scope's ranking question as rows for the page: per item its Schulze place, Borda, mean rank."""
    answer = next((q for q in result.get("questions", []) if q["question_id"] == question["id"]), None)
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


class SurveyResultsPages:
    """For ANCI staff (and the auditor): the surveys, and one survey's rankings and response rate."""

    @web_page("GET", "/anci/questionari")
    def page_survey_list(self, ctx):
        ctx.require(RESULTS)
        return ctx.render("questionari_anci.html", surveys=ctx.perform("GET /surveys"))

    @web_page("GET", "/anci/questionari/<survey_id>")
    def page_survey_results(self, ctx, survey_id):
        ctx.require(RESULTS)
        path = {"survey_id": survey_id}
        survey = ctx.perform("GET /surveys/{survey_id}", path=path)
        rate = ctx.perform(RESULTS, path=path)
        scopes = []
        if survey["status"] != "draft":
            for scope in ["region"] + [f"ats:{code}" for code in ATS_CODES]:
                result = ctx.perform("GET /surveys/{survey_id}/results", path=path, query={"scope": scope})
                name = "Regione Lombardia" if scope == "region" else labels.label("ats", scope[4:])
                tables = [(q, ranking_table(result, q)) for q in ranking_questions(survey)]
                scopes.append({"scope": scope, "name": name, "responses": result["responses"],
                               "withheld": result.get("withheld"), "tables": [(q, t) for q, t in tables if t]})
        return ctx.render("risultati.html", survey=survey, rate=rate, scopes=scopes)
