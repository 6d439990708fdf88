"""The toolkit service's nameko entrypoints."""

from rebuilding.nameko_ext import EventStore, HealthMixin
from services.toolkit.application import ToolkitApplication


class ToolkitService(HealthMixin):
    name = "toolkit"
    app = EventStore(ToolkitApplication)
