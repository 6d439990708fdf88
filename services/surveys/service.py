"""The surveys service's nameko entrypoints.

``ambito`` and ``person`` name the caller as the gateway read them from its token: an
Ambito's token (its ``ambito`` claim, and its ``sub`` as the person who answers for it),
or a participant's (its ``sub``).
"""

from rebuilding.contracts import accepts
from rebuilding.errors import Invalid
from rebuilding.nameko_ext import EventStore, ServiceBase, rpc
from services.registry.domain import ATS_CODES
from services.surveys import schemas
from services.surveys.application import SurveysApplication

TRANSITIONS = ("open", "close")
STATUSES = ("draft", "open", "closed")
SCOPES = ("region", *(f"ats:{code}" for code in ATS_CODES))


class SurveysService(ServiceBase):
    """Surveys keeps copies of the registry's facts and of labs' participants, which follow their logs."""

    name = "surveys"
    app = EventStore(SurveysApplication)

    @rpc
    @accepts(payload=schemas.SurveyCreate)
    def create_survey(self, payload):
        return self.app.create_survey(schemas.plain(payload))

    @rpc
    @accepts(payload=schemas.SurveyChange)
    def revise_survey(self, survey_id, payload):
        return self.app.revise(survey_id, schemas.plain(payload))

    @rpc
    def transition(self, survey_id, action):
        if action not in TRANSITIONS:
            raise Invalid(f"no action {action}", {"action": [f"one of {', '.join(TRANSITIONS)}"]})
        return self.app.transition(survey_id, action)

    @rpc
    def get_survey(self, survey_id):
        return self.app.get_survey(survey_id)

    @rpc
    def list_surveys(self, statuses=None, audience=None, page=1, per_page=50):
        """Surveys in the order they were made; ``statuses``: only those; ``audience``: ambiti or participants."""
        if statuses is not None and not set(statuses) <= set(STATUSES):
            raise Invalid("no such status", {"status": [f"among {', '.join(STATUSES)}"]})
        return self.app.list_surveys(statuses, audience, page, per_page)

    @rpc
    @accepts(payload=schemas.ResponseInput)
    def respond(self, survey_id, payload, ambito=None, person=None):
        """Submit or amend the caller's response; an anonymous survey's first answer returns its ``secret``, once."""
        return self.app.respond(survey_id, payload["answers"], ambito, person, payload.get("secret"))

    @rpc
    def my_response(self, survey_id, ambito=None, person=None, secret=None):
        return self.app.my_response(survey_id, ambito, person, secret)

    @rpc
    def results(self, survey_id, scope="region"):
        """Per question: rankings (mean rank, Borda, Schulze, Condorcet, ties), likert distributions and means, choices."""
        if scope not in SCOPES:
            raise Invalid(f"no scope {scope}", {"scope": ["region, or ats:<code> of an ATS"]})
        return self.app.results(survey_id, scope)

    @rpc
    def text_answers(self, survey_id):
        """The answers to text questions, naming nobody, sorted; an anonymous survey's with 3 answers or more."""
        return self.app.text_answers(survey_id)

    @rpc
    def response_rate(self, survey_id):
        return self.app.response_rate(survey_id)

    @rpc
    def send_reminders(self, survey_id):
        """A round of reminders by e-mail to whoever has not answered an open survey."""
        return self.app.send_reminders(survey_id)

    @rpc
    def export_rows(self, survey_id):
        return self.app.export_rows(survey_id)
