from rebuilding.errors import NotFound, Refused
from rebuilding.eventstore import ServiceApplication, aggregate_id
from services.labs.domain import Lab
from services.labs.projections import LabCatalogue, RegistryFacts


class LabsApplication(ServiceApplication):
    name = "labs"
    projection_classes = (LabCatalogue, RegistryFacts)

    def create_lab(self, title: str, ats: str, capacity: int) -> str:
        lab = Lab(title=title, ats=ats, capacity=capacity)
        self.save(lab)
        return str(lab.id)

    def enrol(self, lab_id: str, person_id: str, ambito_id: str) -> dict:
        if self.projection(RegistryFacts).ambito(aggregate_id(ambito_id, "Ambito")) is None:
            raise Refused(f"the registry has no Ambito {ambito_id}", {"reason": "unknown_ambito"})
        self.change(aggregate_id(lab_id, "lab"), lambda lab: lab.enrol(person_id, ambito_id))
        return {"lab_id": lab_id, "person_id": person_id, "status": "confirmed"}

    def get_lab(self, lab_id: str) -> dict:
        lab = self.projection(LabCatalogue).find(aggregate_id(lab_id, "lab"))
        if lab is None:
            raise NotFound(f"no lab {lab_id}")
        return lab

    def list_labs(self, ats: str | None = None) -> list[dict]:
        return self.projection(LabCatalogue).list(ats)

    def receive_registry_event(self, envelope: dict) -> bool:
        return self.projection(RegistryFacts).receive(envelope)
