"""The surveys service's nameko entrypoints."""

from rebuilding.nameko_ext import EventStore, HealthMixin
from services.surveys.application import SurveysApplication


class SurveysService(HealthMixin):
    name = "surveys"
    app = EventStore(SurveysApplication)
