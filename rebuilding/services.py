"""Finding each domain service's application class by the service's name."""

import importlib

from rebuilding import config


def application_class(service: str):
    from rebuilding.eventstore import ServiceApplication

    if service not in config.SERVICES:
        raise SystemExit(f"unknown service {service!r}; the services are: {', '.join(config.SERVICES)}")
    module = importlib.import_module(f"services.{service}.application")
    return next(
        value for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, ServiceApplication) and getattr(value, "name", None) == service
    )
