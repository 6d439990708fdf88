"""The registry's nameko entrypoints."""

from rebuilding.nameko_ext import EventStore, HealthMixin, rpc
from rebuilding.schemas import validated
from services.registry import schemas
from services.registry.application import RegistryApplication


class RegistryService(HealthMixin):
    name = "registry"
    app = EventStore(RegistryApplication)

    @rpc
    def create_ambito(self, payload):
        data = validated(schemas.AmbitoCreate(), payload)
        return {"id": self.app.create_ambito(**data), **data}

    @rpc
    def get_ambito(self, ambito_id):
        return self.app.get_ambito(ambito_id)

    @rpc
    def list_ambiti(self, ats=None):
        return self.app.list_ambiti(ats)
