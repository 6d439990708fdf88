"""Routes under /registry: the map of ATS, Ambiti, Comuni and people."""

from marshmallow import Schema, fields, validate
from nameko.rpc import RpcProxy

from services.gateway.api import ANY_ROLE, api, call
from services.registry import schemas
from services.registry.domain import ATS_CODES


class AmbitiQuery(Schema):
    ats = fields.String(validate=validate.OneOf(ATS_CODES))


class RegistryRoutes:
    registry = RpcProxy("registry")

    @api.route("POST", "/registry/ambiti", summary="Create an Ambito territoriale", tag="registry",
               roles=["staff"], body=schemas.AmbitoCreate, response=schemas.Ambito, status=201)
    def create_ambito(self, request, principal, body, query):
        return call(self.registry.create_ambito, schemas.AmbitoCreate().dump(body))

    @api.route("GET", "/registry/ambiti", summary="List the Ambiti, optionally of one ATS", tag="registry",
               roles=ANY_ROLE, query=AmbitiQuery, response=schemas.Ambito(many=True))
    def list_ambiti(self, request, principal, body, query):
        return call(self.registry.list_ambiti, query.get("ats"))

    @api.route("GET", "/registry/ambiti/{ambito_id}", summary="One Ambito", tag="registry",
               roles=ANY_ROLE, response=schemas.Ambito, responses={404: "No such Ambito"})
    def get_ambito(self, request, principal, body, query, ambito_id):
        return call(self.registry.get_ambito, ambito_id)
