from rebuilding.errors import NotFound
from rebuilding.eventstore import ServiceApplication, aggregate_id
from services.registry.domain import Ambito
from services.registry.projections import AmbitoDirectory


class RegistryApplication(ServiceApplication):
    name = "registry"
    projection_classes = (AmbitoDirectory,)

    def create_ambito(self, name: str, ats: str) -> str:
        ambito = Ambito(name=name, ats=ats)
        self.save(ambito)
        return str(ambito.id)

    def get_ambito(self, ambito_id: str) -> dict:
        rows = self.projection(AmbitoDirectory).find(aggregate_id(ambito_id, "Ambito"))
        if not rows:
            raise NotFound(f"no Ambito {ambito_id}")
        return rows[0]

    def list_ambiti(self, ats: str | None = None) -> list[dict]:
        return self.projection(AmbitoDirectory).list(ats)
