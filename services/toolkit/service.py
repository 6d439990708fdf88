"""The toolkit service's nameko entrypoints."""

from rebuilding.nameko_ext import EventStore, ServiceBase
from services.toolkit.application import ToolkitApplication


class ToolkitService(ServiceBase):
    name = "toolkit"
    app = EventStore(ToolkitApplication)
