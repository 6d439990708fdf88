"""The labs' nameko entrypoints."""

from rebuilding.nameko_ext import EventStore, HealthMixin, rpc, subscribe
from rebuilding.schemas import validated
from services.labs import schemas
from services.labs.application import LabsApplication


class LabsService(HealthMixin):
    name = "labs"
    app = EventStore(LabsApplication)

    @subscribe("registry", ["registry.#"])
    def on_registry_event(self, envelope):
        self.app.receive_registry_event(envelope)

    @rpc
    def create_lab(self, payload):
        data = validated(schemas.LabCreate(), payload)
        return {"id": self.app.create_lab(**data), **data}

    @rpc
    def enrol(self, lab_id, payload):
        data = validated(schemas.EnrolmentRequest(), payload)
        return self.app.enrol(lab_id, data["person_id"], str(data["ambito_id"]))

    @rpc
    def get_lab(self, lab_id):
        return self.app.get_lab(lab_id)

    @rpc
    def list_labs(self, ats=None):
        return self.app.list_labs(ats)
