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


def sends_mail(service: str) -> bool:
    """Whether a service has mail followers, which run in a mail sender of their own (``rebuilding mail``)."""
    return any(cls.runs_in == "mail" for cls in application_class(service).projection_classes)
