"""The registry's nameko entrypoints."""

from rebuilding.contracts import accepts
from rebuilding.nameko_ext import EventStore, ServiceBase, rpc
from services.registry import schemas
from services.registry.application import RegistryApplication


class RegistryService(ServiceBase):
    name = "registry"
    app = EventStore(RegistryApplication)

    @rpc
    def list_ats(self):
        return self.app.list_ats()

    @rpc
    def get_ats(self, code):
        return self.app.get_ats(code)

    @rpc
    @accepts(payload=schemas.AmbitoCreate)
    def create_ambito(self, payload):
        return self.app.create_ambito(**payload)

    @rpc
    def list_ambiti(self, ats=None):
        return self.app.list_ambiti(ats)

    @rpc
    def get_ambito(self, ambito_id):
        return self.app.get_ambito(ambito_id)

    @rpc
    @accepts(payload=schemas.AmbitoRename)
    def rename_ambito(self, ambito_id, payload):
        name = payload["name"]
        self.app.rename_ambito(ambito_id, name)
        return {"id": ambito_id, "name": name}

    @rpc
    @accepts(payload=schemas.CapofilaChange)
    def change_capofila(self, ambito_id, payload):
        istat_code = payload["istat_code"]
        self.app.change_capofila(ambito_id, istat_code)
        return {"id": ambito_id, "capofila_istat": istat_code}

    @rpc
    @accepts(payload=schemas.ComuniAssign)
    def assign_comuni(self, ambito_id, payload):
        return self.app.assign_comuni(ambito_id, **payload)

    @rpc
    def unassign_comune(self, ambito_id, istat_code):
        self.app.unassign_comune(ambito_id, istat_code)
        return {"id": ambito_id, "unassigned": istat_code}

    @rpc
    @accepts(payload=schemas.AmbitoMerge)
    def merge_ambito(self, ambito_id, payload):
        into = payload["into_ambito_id"]
        return self.app.merge_ambito(ambito_id, str(into))

    @rpc
    def dissolve_ambito(self, ambito_id):
        return self.app.dissolve_ambito(ambito_id)

    @rpc
    @accepts(query=schemas.AsOfQuery)
    def ambito_membership(self, ambito_id, query):
        return self.app.membership_as_of(ambito_id, query["as_of"])

    @rpc
    @accepts(query=schemas.ComuniQuery)
    def list_comuni(self, query=None):
        if "ambito" in query:
            query["ambito"] = str(query["ambito"])
        return self.app.list_comuni(**query)

    @rpc
    def get_comune(self, istat_code):
        return self.app.get_comune(istat_code)

    @rpc
    @accepts(payload=schemas.PersonCreate)
    def register_person(self, payload):
        payload["organisation"] = _organisation(payload["organisation"])
        return self.app.register_person(**payload)

    @rpc
    @accepts(query=schemas.PersonQuery)
    def get_person(self, person_id, query=None, within_ambito=None):
        """A person; ``within_ambito``: only if they are a person of that Ambito (Forbidden otherwise)."""
        return self.app.get_person(person_id, query["as_of"], within_ambito)

    @rpc
    @accepts(payload=schemas.PersonChange)
    def change_person(self, person_id, payload, within_ambito=None):
        if "organisation" in payload:
            payload["organisation"] = _organisation(payload["organisation"])
        return self.app.change_person(person_id, **payload, within_ambito=within_ambito)

    @rpc
    def import_mapping(self, text):
        return self.app.import_mapping(text)

    @rpc
    @accepts(payload=schemas.TokenRevocationCreate)
    def revoke_token(self, payload, revoked_by):
        """Refuse the bearer token ``payload.jti`` from now on; ``revoked_by`` is who asked."""
        return self.app.revoke_token(payload["jti"], payload["reason"], revoked_by)

    @rpc
    def revoked_tokens(self):
        """The ids (jti) of the revoked tokens that may not yet have expired: the gateway refuses them."""
        return self.app.revoked_tokens()

    @rpc
    def token_revocations(self):
        """Every revocation, the latest first: jti, reason, revoked_by, revoked_at."""
        return self.app.token_revocations()


def _organisation(data: dict) -> dict:
    return {**data, "ambito_id": data["ambito_id"] and str(data["ambito_id"])}
