"""Routes under /registry: the map of ATS, Ambiti, Comuni and people."""

from marshmallow import Schema, validate
from rebuilding.rpc import RpcProxy

from rebuilding.errors import Invalid
from rebuilding.schemas import Text
from services.gateway.api import api, call
from services.registry import schemas
from services.registry.domain import ATS_CODES

MAX_MAPPING_BYTES = 2_000_000


class AmbitiQuery(Schema):
    ats = Text(validate=validate.OneOf(ATS_CODES))


class RegistryRoutes:
    registry = RpcProxy("registry")

    # ATS

    @api.route("GET", "/registry/ats", summary="The 8 ATS of Lombardy, with their Ambiti and Comuni counts",
               tag="registry", response=schemas.Ats(many=True))
    def list_ats(self, request, access, body, query):
        return call(self.registry.list_ats)

    @api.route("GET", "/registry/ats/{code}", summary="One ATS", tag="registry",
               response=schemas.Ats, responses={404: "No such ATS"})
    def get_ats(self, request, access, body, query, code):
        return call(self.registry.get_ats, code)

    # Ambiti

    @api.route("POST", "/registry/ambiti", summary="Create an Ambito territoriale", tag="registry",
               body=schemas.AmbitoCreate, response=schemas.Ambito, status=201,
               responses={404: "No such capofila Comune", 409: "The capofila is in another Ambito",
                          422: "The capofila is in another ATS"})
    def create_ambito(self, request, access, body, query):
        return call(self.registry.create_ambito, schemas.AmbitoCreate().dump(body))

    @api.route("GET", "/registry/ambiti", summary="List the active Ambiti, optionally of one ATS", tag="registry",
               query=AmbitiQuery, response=schemas.AmbitoSummary(many=True))
    def list_ambiti(self, request, access, body, query):
        return call(self.registry.list_ambiti, query.get("ats"))

    @api.route("GET", "/registry/ambiti/{ambito_id}",
               summary="One Ambito: its Comuni, Ufficio di Piano, population and piccoli comuni", tag="registry",
               response=schemas.AmbitoDetail, responses={404: "No such Ambito"})
    def get_ambito(self, request, access, body, query, ambito_id):
        return call(self.registry.get_ambito, ambito_id)

    @api.route("GET", "/registry/ambiti/{ambito_id}/membership", summary="An Ambito's Comuni as of a date",
               tag="registry", query=schemas.AsOfQuery, response=schemas.Membership,
               responses={404: "No such Ambito"})
    def ambito_membership(self, request, access, body, query, ambito_id):
        return call(self.registry.ambito_membership, ambito_id, schemas.AsOfQuery().dump(query))

    @api.route("PATCH", "/registry/ambiti/{ambito_id}", summary="Rename an Ambito", tag="registry",
               body=schemas.AmbitoRename, responses={404: "No such Ambito", 422: "Closed Ambito"})
    def rename_ambito(self, request, access, body, query, ambito_id):
        return call(self.registry.rename_ambito, ambito_id, body)

    @api.route("PUT", "/registry/ambiti/{ambito_id}/capofila",
               summary="Choose the capofila Comune of the Ambito's Ufficio di Piano", tag="registry",
               body=schemas.CapofilaChange,
               responses={404: "No such Ambito or Comune", 422: "The Comune is not in the Ambito"})
    def change_capofila(self, request, access, body, query, ambito_id):
        return call(self.registry.change_capofila, ambito_id, body)

    @api.route("POST", "/registry/ambiti/{ambito_id}/comuni",
               summary="Assign Comuni to an Ambito (all or none); with move, take them from their Ambito",
               tag="registry", body=schemas.ComuniAssign,
               responses={404: "No such Ambito or Comune", 409: "A Comune is in another Ambito",
                          422: "A Comune is in another ATS, or the Ambito is closed"})
    def assign_comuni(self, request, access, body, query, ambito_id):
        return call(self.registry.assign_comuni, ambito_id, body)

    @api.route("DELETE", "/registry/ambiti/{ambito_id}/comuni/{istat_code}", summary="Take a Comune out of an Ambito",
               tag="registry", responses={404: "Not a Comune of this Ambito", 422: "The capofila"})
    def unassign_comune(self, request, access, body, query, ambito_id, istat_code):
        return call(self.registry.unassign_comune, ambito_id, istat_code)

    @api.route("POST", "/registry/ambiti/{ambito_id}/merge",
               summary="Merge this Ambito into another of its ATS, which takes its Comuni", tag="registry",
               body=schemas.AmbitoMerge, responses={404: "No such Ambito", 422: "Cannot merge"})
    def merge_ambito(self, request, access, body, query, ambito_id):
        return call(self.registry.merge_ambito, ambito_id, schemas.AmbitoMerge().dump(body))

    @api.route("POST", "/registry/ambiti/{ambito_id}/dissolve", summary="Dissolve an Ambito, releasing its Comuni",
               tag="registry", responses={404: "No such Ambito", 422: "Already closed"})
    def dissolve_ambito(self, request, access, body, query, ambito_id):
        return call(self.registry.dissolve_ambito, ambito_id)

    # Comuni

    @api.route("GET", "/registry/comuni", summary="Search the Comuni (Fonte: ISTAT), a page at a time",
               tag="registry", query=schemas.ComuniQuery, response=schemas.ComuniPage)
    def list_comuni(self, request, access, body, query):
        return call(self.registry.list_comuni, schemas.ComuniQuery().dump(query))

    @api.route("GET", "/registry/comuni/{istat_code}", summary="One Comune (Fonte: ISTAT)", tag="registry",
               response=schemas.Comune, responses={404: "No such Comune"})
    def get_comune(self, request, access, body, query, istat_code):
        return call(self.registry.get_comune, istat_code)

    # People

    @api.route("POST", "/registry/people", summary="Register a person, their role and organisation", tag="registry",
               body=schemas.PersonCreate, response=schemas.Person, status=201,
               responses={404: "No such Ambito or Comune", 409: "The e-mail is taken",
                          422: "The role does not fit the organisation"})
    def register_person(self, request, access, body, query):
        return call(self.registry.register_person, schemas.PersonCreate().dump(body))

    @api.route("GET", "/registry/people/{person_id}", summary="A person, with the history of their role",
               tag="registry", query=schemas.PersonQuery, response=schemas.Person,
               responses={404: "No such person (as of that date)"})
    def get_person(self, request, access, body, query, person_id):
        person_id, ambito = access.person(person_id)
        return call(self.registry.get_person, person_id, schemas.PersonQuery().dump(query), ambito)

    @api.route("PATCH", "/registry/people/{person_id}",
               summary="Change a person's role or organisation; an Ambito's staff, only within their Ambito",
               tag="registry", body=schemas.PersonChange, response=schemas.Person,
               responses={404: "No such person", 422: "The role does not fit the organisation"})
    def change_person(self, request, access, body, query, person_id):
        person_id, ambito = access.person(person_id)
        return call(self.registry.change_person, person_id, schemas.PersonChange().dump(body), ambito)

    # Imports

    @api.route("POST", "/registry/imports/ambiti",
               summary="Apply an authoritative mapping (CSV: istat_code, ats, ambito, capofila); "
                       "reports each rejected row",
               tag="registry", consumes="text/csv", response=schemas.ImportReport)
    def import_ambiti(self, request, access, body, query):
        if (request.content_length or 0) > MAX_MAPPING_BYTES:
            raise Invalid("the mapping file is too large", {"file": [f"at most {MAX_MAPPING_BYTES} bytes"]})
        try:
            text = request.get_data().decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid("the mapping file is not UTF-8 text", {"file": ["not UTF-8"]}) from None
        return call(self.registry.import_mapping, text)
