"""The surveys' aggregate: a Survey holds its definition and every named response to it.

One aggregate per survey makes one optimistic save decide each answer against the
survey's status: an answer that races the close either lands before it (and counts)
or is refused, on any number of instances.

An anonymous survey keeps only *who* answered in its events (``Participated``); the
answers are sealed outside the log (``SealedBallot``, see docs/surveys.md) and enter it
all at once, shuffled, when the survey closes (``AnonymousAnswersReleased``).
"""

import hashlib
import random
import secrets
from dataclasses import dataclass

from eventsourcing.domain import Aggregate, event

from rebuilding.errors import Conflict, Forbidden, Invalid
from rebuilding.schemas import text_problem
from services.surveys.aggregation import check_ballot

KINDS = ("needs_assessment", "outcome_evaluation", "satisfaction")
AUDIENCES = ("ambiti", "participants")
QUESTION_TYPES = ("ranking", "single_choice", "multiple_choice", "likert", "text")
LIKERT = range(1, 6)
POSITIVE = (4, 5)
TEXT_ANSWER_LENGTH = 5000
REQUIRED = "an answer is required"
"""The problem of a required question (``"required": true`` in its definition) left unanswered."""
ANONYMITY_THRESHOLD = 3
"""An anonymous survey's results show no group (a lab, an ATS) with fewer answers than this."""


def ballot_key(secret: str) -> str:
    """What the service keeps of an anonymous respondent's secret: its SHA-256, which names the ballot."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class SealedBallot:
    """An anonymous answer held outside the log until the survey closes: by its key, with no person and no time."""

    survey_id: str
    key: str
    answers: dict
    labs: list
    ats: str | None
    history: tuple = ()
    """Every version of the answers before this one, oldest first."""


def check_definition(kind: str, audience: dict, anonymous: bool, questions: list) -> None:
    """The rules a definition obeys beyond its schema; ``Invalid`` names what breaks them."""
    problems: dict[str, list[str]] = {}
    if kind == "needs_assessment" and audience["type"] != "ambiti":
        problems["audience"] = ["a needs assessment is answered by the Ambiti"]
    if kind == "outcome_evaluation" and audience["type"] != "participants":
        problems["audience"] = ["an outcome evaluation is answered by the participants of labs"]
    if audience["type"] == "participants" and not audience.get("labs"):
        problems["audience"] = ["name the labs whose participants answer"]
    if anonymous and audience["type"] != "participants":
        problems["anonymous"] = ["only a survey of participants can be anonymous"]
    ids = [q["id"] for q in questions]
    if len(ids) != len(set(ids)):
        problems["questions"] = ["each question needs an id of its own"]
    for q in questions:
        choices = q.get("items") if q["type"] == "ranking" else q.get("options")
        if q["type"] in ("ranking", "single_choice", "multiple_choice"):
            what = "items" if q["type"] == "ranking" else "options"
            if not choices or len(choices) < 2:
                problems.setdefault("questions", []).append(f"{q['id']}: a {q['type']} question needs two {what} at least")
            elif len({c["id"] for c in choices}) != len(choices):
                problems.setdefault("questions", []).append(f"{q['id']}: each of its {what} needs an id of its own")
    if problems:
        raise Invalid("the survey's definition breaks its rules: see details", problems)


def answer_problems(question: dict, value) -> list[str]:
    """What is wrong with one answer to ``question`` (empty: nothing)."""
    kind = question["type"]
    if kind == "ranking":
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            return ["a ranking is a list of item ids, most useful first, at least one"]
        return check_ballot(value, [i["id"] for i in question["items"]])
    if kind == "single_choice":
        if not isinstance(value, str):
            return ["an option id"]
        return [] if value in {o["id"] for o in question["options"]} else [f"not an option: {value}"]
    if kind == "multiple_choice":
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            return ["a list of option ids, at least one"]
        options = {o["id"] for o in question["options"]}
        wrong = [f"not an option: {v}" for v in value if v not in options]
        return wrong + (["an option chosen twice"] if len(set(value)) != len(value) else [])
    if kind == "likert":
        if isinstance(value, bool) or not isinstance(value, int) or value not in LIKERT:
            return ["a whole number from 1 to 5"]
        return []
    if not isinstance(value, str) or not value.strip():
        return ["some text"]
    problem = text_problem(value, multiline=True, max_length=TEXT_ANSWER_LENGTH)
    return [problem] if problem else []


def check_answers(questions: list, answers) -> dict:
    """``answers`` if each answers a question of the survey rightly, and every required question is answered;
    otherwise ``Invalid`` per question."""
    if not isinstance(answers, dict):
        raise Invalid("a response answers one question at least", {"answers": ["Missing data for required field."]})
    by_id = {q["id"]: q for q in questions}
    problems = {q["id"]: [REQUIRED] for q in questions if q.get("required") and q["id"] not in answers}
    if not answers and not problems:
        raise Invalid("a response answers one question at least", {"answers": ["Missing data for required field."]})
    for question_id, value in answers.items():
        if question_id not in by_id:
            problems[question_id] = ["no such question in this survey"]
        elif found := answer_problems(by_id[question_id], value):
            problems[question_id] = found
    if problems:
        raise Invalid("some answers are not valid: see details", {"answers": problems})
    return answers


class Survey(Aggregate):
    @event("Created")
    def __init__(self, title: str, kind: str, audience: dict, anonymous: bool, opens: str, closes: str,
                 questions: list):
        self.title = title
        self.kind = kind
        self.audience = audience
        self.anonymous = anonymous
        self.opens = opens
        self.closes = closes
        self.questions = questions
        self.status = "draft"
        self.responses: dict[str, dict] = {}
        """respondent → {"answers", "version", "ats", "labs", ...}: the last version of each named response."""
        self.participants: dict[str, bool] = {}
        """Who answered an anonymous survey (only that)."""
        self.ballots: list[dict] = []
        """An anonymous survey's answers, once released at its close: no person, in no telling order."""

    def _require(self, action: str, *statuses: str) -> None:
        if self.status not in statuses:
            raise Conflict(f"a {self.status} survey cannot be {action}", {"reason": "wrong_status", "status": self.status})

    # definition

    def revise(self, changes: dict) -> None:
        """Change a draft; what it changes must leave a valid definition."""
        if self.status != "draft":
            raise Conflict("only a draft survey can be changed: its questions are frozen once it opens to answers",
                           {"reason": "frozen", "status": self.status})
        merged = {k: getattr(self, k) for k in ("kind", "audience", "anonymous", "questions")} | changes
        check_definition(merged["kind"], merged["audience"], merged["anonymous"], merged["questions"])
        if (changes.get("opens") or self.opens) >= (changes.get("closes") or self.closes):
            raise Invalid("a survey closes after it opens", {"closes": ["after opens"]})
        changed = {k: v for k, v in changes.items() if getattr(self, k) != v}
        if changed:
            self._revised(changes=changed)

    @event("Revised")
    def _revised(self, changes: dict) -> None:
        for key, value in changes.items():
            setattr(self, key, value)

    def open(self) -> None:
        self._require("opened", "draft")
        if not self.questions:
            raise Invalid("a survey opens with one question at least", {"questions": ["at least one"]})
        self._opened()

    @event("Opened")
    def _opened(self) -> None:
        self.status = "open"

    # answers

    def respond(self, respondent: str, answers: dict, facts: dict) -> dict:
        """Record a named response, or amend it; ``facts``: the respondent's ``ats``, ``labs``, ``ambito_id``..."""
        self._require("answered", "open")
        check_answers(self.questions, answers)
        earlier = self.responses.get(respondent)
        if earlier is None:
            self._submitted(respondent=respondent, answers=answers, **facts)
        else:
            self._amended(respondent=respondent, answers=answers, version=earlier["version"] + 1)
        return {"respondent": respondent, "version": self.responses[respondent]["version"], "answers": answers}

    @event("ResponseSubmitted")
    def _submitted(self, respondent: str, answers: dict, ats: str | None, ambito_id: str | None,
                   answered_by: str | None, labs: list) -> None:
        self.responses[respondent] = {"answers": answers, "version": 1, "ats": ats, "ambito_id": ambito_id,
                                      "answered_by": answered_by, "labs": labs}

    @event("ResponseAmended")
    def _amended(self, respondent: str, answers: dict, version: int) -> None:
        earlier = self.responses[respondent]
        self.responses[respondent] = {**earlier, "answers": answers, "version": version,
                                      "history": [*earlier.get("history", []), earlier["answers"]]}

    def participate(self, person_id: str, answers: dict, labs: list, ats: str | None, secret: str | None,
                    sealed: SealedBallot | None, fresh_secret: str) -> tuple[SealedBallot, str | None]:
        """An anonymous answer: the person is recorded as having answered; the answer is sealed apart.

        A first answer takes ``fresh_secret``, which the respondent alone is given (the second
        value returned); an amendment needs that ``secret``, and ``sealed`` is the ballot it
        names, as the service found it.
        """
        self._require("answered", "open")
        check_answers(self.questions, answers)
        if person_id not in self.participants:
            if secret is not None:
                raise Forbidden("this secret names no ballot of yours")
            self._participated(person_id=person_id)
            return SealedBallot(str(self.id), ballot_key(fresh_secret), answers, labs, ats), fresh_secret
        if secret is None:
            raise Conflict("you have answered this anonymous survey: amend with the secret you were given",
                           {"reason": "answered"})
        if sealed is None:
            raise Forbidden("this secret names no ballot of this survey")
        self._ballot_amended()
        return SealedBallot(sealed.survey_id, sealed.key, answers, sealed.labs, sealed.ats), None

    @event("Participated")
    def _participated(self, person_id: str) -> None:
        self.participants[person_id] = True

    @event("SealedBallotAmended")
    def _ballot_amended(self) -> None:
        """Someone amended a sealed ballot: an event only so the survey's version orders it with the close."""

    def remind(self, recipients: list[str]) -> None:
        """A round of reminders to those who have not answered: Ambiti, or participants."""
        self._require("reminded", "open")
        if recipients:
            self._reminded(recipients=recipients)

    @event("RemindersSent")
    def _reminded(self, recipients: list) -> None:
        pass

    # closing

    def close(self, sealed: list[SealedBallot], priorities: dict | None) -> None:
        """Close to answers; an anonymous survey's sealed ballots enter the log now, shuffled."""
        self._require("closed", "open")
        if self.anonymous:
            ballots = [{"ballot": s.key, "answers": s.answers, "history": list(s.history), "labs": s.labs,
                        "ats": s.ats} for s in sealed]
            random.SystemRandom().shuffle(ballots)
            self._released(ballots=ballots)
        self._closed()
        if priorities is not None:
            self._priorities_published(**priorities)

    @event("AnonymousAnswersReleased")
    def _released(self, ballots: list) -> None:
        self.ballots = ballots

    @event("Closed")
    def _closed(self) -> None:
        self.status = "closed"

    @event("PrioritiesPublished")
    def _priorities_published(self, question_id: str, region: dict, ats: dict) -> None:
        pass

    # what counts

    def counted(self) -> list[dict]:
        """Each answer that counts, with what groups it: the last version of named ones, the released anonymous ones."""
        if self.anonymous:
            return list(self.ballots)
        return [{"answers": r["answers"], "labs": r["labs"], "ats": r["ats"], "ambito_id": r["ambito_id"]}
                for r in self.responses.values()]
