"""The gateway: one HTTP+JSON API composed over RPC from the services' read models."""

from services.gateway.labs_routes import LabsRoutes
from services.gateway.platform_routes import PlatformRoutes
from services.gateway.registry_routes import RegistryRoutes


class GatewayService(RegistryRoutes, LabsRoutes, PlatformRoutes):
    name = "gateway"
