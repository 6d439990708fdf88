"""The registry's nameko entrypoints."""

from rebuilding.nameko_ext import EventStore, HealthMixin, rpc
from rebuilding.schemas import validated
from services.registry import schemas
from services.registry.application import RegistryApplication


class RegistryService(HealthMixin):
    name = "registry"
    app = EventStore(RegistryApplication)

    @rpc
    def list_ats(self):
        return self.app.list_ats()

    @rpc
    def get_ats(self, code):
        return self.app.get_ats(code)

    @rpc
    def create_ambito(self, payload):
        return self.app.create_ambito(**validated(schemas.AmbitoCreate(), payload))

    @rpc
    def list_ambiti(self, ats=None):
        return self.app.list_ambiti(ats)

    @rpc
    def get_ambito(self, ambito_id):
        return self.app.get_ambito(ambito_id)

    @rpc
    def rename_ambito(self, ambito_id, payload):
        name = validated(schemas.AmbitoRename(), payload)["name"]
        self.app.rename_ambito(ambito_id, name)
        return {"id": ambito_id, "name": name}

    @rpc
    def change_capofila(self, ambito_id, payload):
        istat_code = validated(schemas.CapofilaChange(), payload)["istat_code"]
        self.app.change_capofila(ambito_id, istat_code)
        return {"id": ambito_id, "capofila_istat": istat_code}

    @rpc
    def assign_comuni(self, ambito_id, payload):
        return self.app.assign_comuni(ambito_id, **validated(schemas.ComuniAssign(), payload))

    @rpc
    def unassign_comune(self, ambito_id, istat_code):
        self.app.unassign_comune(ambito_id, istat_code)
        return {"id": ambito_id, "unassigned": istat_code}

    @rpc
    def merge_ambito(self, ambito_id, payload):
        into = validated(schemas.AmbitoMerge(), payload)["into_ambito_id"]
        return self.app.merge_ambito(ambito_id, str(into))

    @rpc
    def dissolve_ambito(self, ambito_id):
        return self.app.dissolve_ambito(ambito_id)

    @rpc
    def ambito_membership(self, ambito_id, query):
        return self.app.membership_as_of(ambito_id, validated(schemas.AsOfQuery(), query)["as_of"])

    @rpc
    def list_comuni(self, query=None):
        filters = validated(schemas.ComuniQuery(), query)
        if "ambito" in filters:
            filters["ambito"] = str(filters["ambito"])
        return self.app.list_comuni(**filters)

    @rpc
    def get_comune(self, istat_code):
        return self.app.get_comune(istat_code)

    @rpc
    def register_person(self, payload):
        data = validated(schemas.PersonCreate(), payload)
        data["organisation"] = _organisation(data["organisation"])
        return self.app.register_person(**data)

    @rpc
    def get_person(self, person_id, query=None):
        return self.app.get_person(person_id, validated(schemas.PersonQuery(), query)["as_of"])

    @rpc
    def change_person(self, person_id, payload, within_ambito=None):
        data = validated(schemas.PersonChange(), payload)
        if "organisation" in data:
            data["organisation"] = _organisation(data["organisation"])
        return self.app.change_person(person_id, **data, within_ambito=within_ambito)

    @rpc
    def import_mapping(self, text):
        return self.app.import_mapping(text)


def _organisation(data: dict) -> dict:
    return {**data, "ambito_id": data["ambito_id"] and str(data["ambito_id"])}
