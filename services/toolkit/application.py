from rebuilding.eventstore import ServiceApplication


class ToolkitApplication(ServiceApplication):
    name = "toolkit"
