"""The surveys service's nameko entrypoints."""

from rebuilding.nameko_ext import EventStore, ServiceBase
from services.surveys.application import SurveysApplication


class SurveysService(ServiceBase):
    name = "surveys"
    app = EventStore(SurveysApplication)
