"""Routes under /labs: the laboratori, their seats and enrolments."""

from marshmallow import Schema, fields, validate
from nameko.rpc import RpcProxy

from services.gateway.api import ANY_ROLE, api, call
from services.labs import schemas
from services.registry.domain import ATS_CODES


class LabsQuery(Schema):
    ats = fields.String(validate=validate.OneOf(ATS_CODES))


class LabsRoutes:
    labs = RpcProxy("labs")

    @api.route("POST", "/labs", summary="Create a lab", tag="labs", roles=["staff"],
               body=schemas.LabCreate, response=schemas.Lab, status=201)
    def create_lab(self, request, principal, body, query):
        return call(self.labs.create_lab, schemas.LabCreate().dump(body))

    @api.route("GET", "/labs", summary="List the labs with their seats left", tag="labs", roles=ANY_ROLE,
               query=LabsQuery, response=schemas.Lab(many=True))
    def list_labs(self, request, principal, body, query):
        return call(self.labs.list_labs, query.get("ats"))

    @api.route("GET", "/labs/{lab_id}", summary="One lab, with its enrolment count", tag="labs",
               roles=ANY_ROLE, response=schemas.Lab, responses={404: "No such lab"})
    def get_lab(self, request, principal, body, query, lab_id):
        return call(self.labs.get_lab, lab_id)

    @api.route("POST", "/labs/{lab_id}/enrollments", summary="Enrol a person in a lab", tag="labs",
               roles=["staff", "ambito", "participant"], body=schemas.EnrolmentRequest, status=201,
               responses={404: "No such lab", 409: "Already enrolled", 422: "Refused, with the reason"})
    def enrol(self, request, principal, body, query, lab_id):
        return call(self.labs.enrol, lab_id, schemas.EnrolmentRequest().dump(body))
