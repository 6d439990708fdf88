"""The surveys application: definitions, answers, results and response rates, in simple types."""

from dataclasses import dataclass
from eventsourcing.application import AggregateNotFoundError

from rebuilding.errors import Conflict, Forbidden, Invalid, NotFound
from rebuilding.eventstore import IN_MEMORY, ServiceApplication, aggregate_id
from rebuilding.idempotency import Withheld
from services.surveys import results as computed
from services.surveys.domain import (ANONYMITY_THRESHOLD, SealedBallot, Survey, ballot_key, check_definition,
                                     new_secret)
from services.surveys.mail import SurveyMail
from services.surveys.projections import LabsFacts, RegistryFacts, SurveyList

ATTEMPTS = 200
"""Answers to one survey take turns on its aggregate: 600 Ambiti at once may wait a while."""
REPEATED = ("this request was received already, and its answer counts; an anonymous answer's secret is shown only "
            "once, with the first answer, and is kept nowhere, so it cannot be shown again")


@dataclass(frozen=True)
class Release:
    """Saved with a close: the survey's sealed ballots leave the ballot box in the same transaction."""

    survey_id: str


class SurveysApplication(ServiceApplication):
    name = "surveys"
    projection_classes = (SurveyList, RegistryFacts, LabsFacts, SurveyMail)
    env = {"AGGREGATE_CACHE_MAXSIZE": "200", "AGGREGATE_CACHE_FASTFORWARD": "y"}
    snapshotting_intervals = {Survey: 100}

    def __init__(self, env: dict[str, str] | None = None):
        env = dict(env or {})
        if env.get("PERSISTENCE_MODULE") != IN_MEMORY["PERSISTENCE_MODULE"]:
            env.setdefault("APPLICATION_RECORDER_TOPIC", "services.surveys.ballot_box:SurveysRecorder")
        super().__init__(env)

    def save(self, *objects, **kwargs):
        """Save aggregates; a ``SealedBallot`` or a ``Release`` among them goes to the ballot box, in the same transaction."""
        seal = [o for o in objects if isinstance(o, SealedBallot)]
        release = [o.survey_id for o in objects if isinstance(o, Release)]
        if seal:
            kwargs["seal"] = seal
        if release:
            kwargs["release"] = release[0]
        return super().save(*(o for o in objects if not isinstance(o, (SealedBallot, Release))), **kwargs)

    def change(self, aggregate_id, command, attempts: int = ATTEMPTS):
        return super().change(aggregate_id, command, attempts)

    @property
    def surveys(self) -> SurveyList:
        return self.projection(SurveyList)

    @property
    def registry(self) -> RegistryFacts:
        return self.projection(RegistryFacts)

    @property
    def labs(self) -> LabsFacts:
        return self.projection(LabsFacts)

    def _survey(self, survey_id) -> Survey:
        try:
            return self.repository.get(aggregate_id(survey_id, "survey"))
        except AggregateNotFoundError:
            raise NotFound(f"no survey {survey_id}") from None

    @staticmethod
    def view(survey: Survey) -> dict:
        return {"id": str(survey.id), "title": survey.title, "kind": survey.kind, "audience": survey.audience,
                "anonymous": survey.anonymous, "opens": survey.opens, "closes": survey.closes,
                "questions": survey.questions, "status": survey.status,
                "respondents": len(survey.participants) if survey.anonymous else len(survey.responses)}

    # definitions

    def create_survey(self, fields: dict) -> dict:
        check_definition(fields["kind"], fields["audience"], fields["anonymous"], fields["questions"])
        if fields["opens"] >= fields["closes"]:
            raise Invalid("a survey closes after it opens", {"closes": ["after opens"]})
        self._check_labs(fields["audience"])

        def create():
            survey = Survey(**fields)
            return [survey], self.view(survey)

        return self.decide(create)

    def _check_labs(self, audience: dict) -> None:
        if audience["type"] == "participants":
            known = {lab["id"] for lab in self.labs.labs(audience["labs"])}
            unknown = [lab for lab in audience["labs"] if lab not in known]
            if unknown:
                raise Invalid("surveys knows no such labs (yet)", {"audience": [f"no lab {lab}" for lab in unknown]})

    def revise(self, survey_id: str, changes: dict) -> dict:
        if "audience" in changes:
            self._check_labs(changes["audience"])

        def command(survey: Survey) -> dict:
            survey.revise(changes)
            return self.view(survey)

        return self.change(aggregate_id(survey_id, "survey"), command)

    def transition(self, survey_id: str, action: str) -> dict:
        def command(survey: Survey):
            if action == "open":
                survey.open()
                return [survey], self.view(survey)
            sealed = self.recorder.sealed(str(survey.id)) if survey.anonymous else []
            priorities = computed.priorities(survey.questions, survey.counted()) \
                if survey.kind == "needs_assessment" else None
            survey.close(sealed, priorities)
            return [survey, Release(str(survey.id))] if survey.anonymous else [survey], self.view(survey)

        key = aggregate_id(survey_id, "survey")
        with self._locks.hold(key):
            return self.decide(lambda: command(self._survey(survey_id)), ATTEMPTS)

    def get_survey(self, survey_id: str) -> dict:
        return self.view(self._survey(survey_id))

    def list_surveys(self, statuses=None, audience=None, page: int = 1, per_page: int = 50) -> list[dict]:
        return self.surveys.list(statuses, audience, page, per_page)

    # answers

    def respond(self, survey_id: str, answers: dict, ambito: str | None = None, person: str | None = None,
                secret: str | None = None) -> dict:
        """Submit or amend the caller's response: ``ambito`` and ``person`` come from the caller's token.

        A needs assessment is answered for an Ambito (``ambito``) by its head of Ufficio di
        Piano (``person``, the token's ``sub``); a survey of participants, by a participant
        (``person``) of its labs, for themselves.
        """
        def command():
            survey = self._survey(survey_id)  # loaded once: each load copies every response
            if survey.audience["type"] == "ambiti":
                respondent, facts = self._ambito_respondent(ambito, person)
            else:
                respondent, facts = self._participant(survey, ambito, person)
            if survey.anonymous:
                return self._participate(survey, respondent, answers, facts, secret)
            return [survey], {"survey_id": survey_id, **survey.respond(respondent, answers, facts)}

        with self._locks.hold(aggregate_id(survey_id, "survey")):
            return self.decide(command, ATTEMPTS)

    def _ambito_respondent(self, ambito: str | None, person: str | None) -> tuple[str, dict]:
        if ambito is None:
            raise Forbidden("a survey of the Ambiti is answered with an 'ambito' token")
        known = self.registry.ambito(ambito) if _is_uuid(ambito) else None
        if known is None or not known["active"]:
            raise NotFound(f"surveys knows no active Ambito {ambito}: the registry has not registered it, "
                           "or surveys has not yet heard of it")
        head = self.registry.person(person) if person else None
        if head is None or head["role"] != "responsabile_ufficio_di_piano" or head["ambito_id"] != ambito:
            raise Forbidden(f"an Ambito answers through its head of Ufficio di Piano: the token's sub {person} "
                            f"is not registered as responsabile_ufficio_di_piano of Ambito {ambito}")
        return ambito, {"ats": known["ats"], "ambito_id": ambito, "answered_by": person, "labs": []}

    def _participant(self, survey: Survey, ambito: str | None, person: str | None) -> tuple[str, dict]:
        if ambito is not None or person is None:
            raise Forbidden("a survey of participants is answered by each participant, with their own token")
        found = self.labs.participant(person, survey.audience["labs"])
        if found is None:
            raise Forbidden(f"{person} is not a participant of this survey's labs")
        return person, {"ats": found["ats"], "ambito_id": found["ambito_id"], "answered_by": person,
                        "labs": found["labs"]}

    def _participate(self, survey: Survey, person: str, answers: dict, facts: dict, secret: str | None):
        sealed = self.recorder.sealed_ballot(str(survey.id), ballot_key(secret)) if secret else None
        ballot, given = survey.participate(person, answers, facts["labs"], facts["ats"], secret, sealed, new_secret())
        answer = {"survey_id": str(survey.id), "anonymous": True, "answers": answers,
                  "version": 1 if sealed is None else len(sealed.history) + 2}
        if given:
            answer["secret"] = given
        # Who asked is recorded with a command's outcome: of an anonymous answer, only that it was received.
        received = {"survey_id": str(survey.id), "anonymous": True, "repeated": True, "message": REPEATED}
        return [survey, ballot], Withheld(answer, received)

    def my_response(self, survey_id: str, ambito: str | None = None, person: str | None = None,
                    secret: str | None = None) -> dict:
        survey = self._survey(survey_id)
        if survey.anonymous:
            return self._my_ballot(survey, person, secret)
        respondent = ambito if survey.audience["type"] == "ambiti" else (None if ambito else person)
        response = survey.responses.get(respondent) if respondent else None
        if response is None:
            return {"survey_id": survey_id, "anonymous": False, "answered": False}
        return {"survey_id": survey_id, "anonymous": False, "answered": True, "answers": response["answers"],
                "version": response["version"], "history": response.get("history", []),
                "answered_by": response["answered_by"]}

    def _my_ballot(self, survey: Survey, person: str | None, secret: str | None) -> dict:
        if person not in survey.participants:
            return {"survey_id": str(survey.id), "anonymous": True, "answered": False}
        if not secret:
            raise Forbidden("an anonymous answer is shown only with the secret given with it")
        key = ballot_key(secret)
        ballot = next((b for b in survey.ballots if b["ballot"] == key), None)
        if ballot is None:
            sealed = self.recorder.sealed_ballot(str(survey.id), key)
            ballot = sealed and {"answers": sealed.answers, "history": list(sealed.history)}
        if ballot is None:
            raise Forbidden("this secret names no ballot of this survey")
        return {"survey_id": str(survey.id), "anonymous": True, "answered": True, "answers": ballot["answers"],
                "version": len(ballot["history"]) + 1, "history": ballot["history"]}

    # results

    def _released(self, survey_id: str) -> Survey:
        """The survey, if its answers may be read: an anonymous survey's only once it closes (409 before)."""
        survey = self._survey(survey_id)
        if survey.anonymous and survey.status != "closed":
            raise Conflict("an anonymous survey's answers are released together when it closes",
                           {"reason": "not_closed"})
        return survey

    def results(self, survey_id: str, scope: str = "region") -> dict:
        survey = self._released(survey_id)
        return {"survey_id": survey_id, "status": survey.status,
                **computed.results(survey.questions, survey.counted(), scope, survey.anonymous)}

    def text_answers(self, survey_id: str) -> dict:
        """The answers to the text questions, for the region, naming nobody."""
        survey = self._released(survey_id)
        return {"survey_id": survey_id, "status": survey.status,
                **computed.texts(survey.questions, survey.counted(), survey.anonymous)}

    def response_rate(self, survey_id: str) -> dict:
        """Who was asked and who has answered, per Ambito and per ATS, with who is missing."""
        survey = self._survey(survey_id)
        answered = set(survey.participants if survey.anonymous else survey.responses)
        if survey.audience["type"] == "ambiti":
            expected = [{"respondent": a["ambito_id"], "name": a["name"], "ambito_id": a["ambito_id"],
                         "ats": a["ats"]} for a in self.registry.ambiti()]
        else:
            expected = []
            for p in self.labs.participants(survey.audience["labs"]):
                person = self.registry.person(p["person_id"])
                expected.append({"respondent": p["person_id"], "name": person["name"] if person else None,
                                 "ambito_id": p["ambito_id"], "ats": p["ats"]})
        return {"survey_id": survey_id, **rates(expected, answered)}

    def send_reminders(self, survey_id: str) -> dict:
        """Record a round of reminders to whoever has not answered; the mail follower sends them."""
        def command(survey: Survey) -> dict:
            rate = self.response_rate(survey_id)
            missing = [m for group in rate["by_ambito"] for m in group["missing"]]
            survey.remind([m["respondent"] for m in missing])
            return {"survey_id": survey_id, "reminded": len(missing)}

        return self.change(aggregate_id(survey_id, "survey"), command)

    def export_rows(self, survey_id: str) -> dict:
        """Every answer that counts, one row each; an anonymous survey's rows name nobody, in a random order,
        and show an ATS or a lab only where it singles out no group of fewer than 3 answers (``hidden_groups``)."""
        survey = self._released(survey_id)
        if survey.anonymous and 0 < len(survey.ballots) < ANONYMITY_THRESHOLD:
            raise Conflict(f"an anonymous survey's answers are exported only from {ANONYMITY_THRESHOLD} answers on: "
                           "fewer, beside the response rate, could tell who answered what", {"reason": "too_few"})
        rows = []
        if survey.anonymous:
            hidden_ats, hidden_labs = computed.hidden_groups(survey.ballots)
            for ballot in sorted(survey.ballots, key=lambda b: b["ballot"]):
                rows.append({"respondent": None, "ats": None if ballot["ats"] in hidden_ats else ballot["ats"],
                             "labs": [lab for lab in ballot["labs"] or () if lab not in hidden_labs],
                             "answers": ballot["answers"], "version": len(ballot["history"]) + 1})
        else:
            for respondent, r in sorted(survey.responses.items()):
                rows.append({"respondent": respondent, "ats": r["ats"], "labs": r["labs"],
                             "answered_by": r["answered_by"], "answers": r["answers"], "version": r["version"]})
        return {"title": survey.title, "anonymous": survey.anonymous, "questions": survey.questions, "rows": rows}


def rates(expected: list[dict], answered: set[str]) -> dict:
    def group(rows: list[dict], key: str) -> list[dict]:
        groups: dict[str, list[dict]] = {}
        for row in rows:
            groups.setdefault(row[key] or "", []).append(row)
        return [{key: name or None, "expected": len(g), "answered": sum(r["respondent"] in answered for r in g),
                 "rate": round(sum(r["respondent"] in answered for r in g) / len(g), 4),
                 "missing": [{"respondent": r["respondent"], "name": r["name"]} for r in g
                             if r["respondent"] not in answered]}
                for name, g in sorted(groups.items())]

    total = len(expected)
    done = sum(r["respondent"] in answered for r in expected)
    return {"expected": total, "answered": done, "rate": round(done / total, 4) if total else None,
            "by_ambito": group(expected, "ambito_id"), "by_ats": group(expected, "ats")}


def _is_uuid(value: str) -> bool:
    try:
        aggregate_id(value, "ambito")
        return True
    except NotFound:
        return False

