from rebuilding.eventstore import ServiceApplication


class SurveysApplication(ServiceApplication):
    name = "surveys"
