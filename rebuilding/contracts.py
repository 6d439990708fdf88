"""RPC contracts: what each service method accepts, checked at the door and written to ``contracts/rpc``.

``@accepts(payload=SomeSchema)`` under ``@rpc`` validates the named arguments with
their marshmallow schemas (``Invalid`` with every field's messages otherwise) and
records them, so ``rebuilding contracts`` can describe every RPC from the code itself.
"""

import functools
import importlib
import inspect
import json
from pathlib import Path

from apispec.ext.marshmallow import OpenAPIConverter
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from nameko.rpc import Rpc

from rebuilding import config
from rebuilding.schemas import validated

VERSION = 1
CONTRACTS_DIR = Path(__file__).resolve().parents[1] / "contracts" / "rpc"


def accepts(**schemas):
    def decorator(method):
        signature = inspect.signature(method)

        @functools.wraps(method)
        def checked(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            for name, schema in schemas.items():
                bound.arguments[name] = validated(schema(), bound.arguments.get(name))
            return method(*bound.args, **bound.kwargs)

        checked.accepted_schemas = schemas
        return checked

    return decorator


def _json_schema(schema_class) -> dict:
    converter = OpenAPIConverter(openapi_version="3.0.3", schema_name_resolver=lambda _: None, spec=None)
    return converter.schema2jsonschema(schema_class())


def service_contract(service_class) -> dict:
    methods = {}
    for name, method in sorted(inspect.getmembers(service_class, inspect.isfunction)):
        if not any(isinstance(e, Rpc) for e in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ())):
            continue
        schemas = getattr(method, "accepted_schemas", {})
        parameters = [p for p in inspect.signature(method).parameters.values() if p.name != "self"]
        methods[name] = {
            "description": inspect.getdoc(method) or "",
            "parameters": {
                p.name: {"required": p.default is inspect.Parameter.empty,
                         "schema": _json_schema(schemas[p.name]) if p.name in schemas else {}}
                for p in parameters
            },
        }
    return {"service": service_class.name, "version": VERSION, "transport": "nameko RPC over AMQP (JSON)",
            "methods": methods}


def service_classes():
    for name in (*config.SERVICES, "gateway"):
        module = importlib.import_module(f"services.{name}.service")
        yield from (c for c in vars(module).values() if inspect.isclass(c) and getattr(c, "name", None) == name)


def rendered() -> dict[Path, str]:
    """Every RPC contract file as the code describes it now."""
    return {
        CONTRACTS_DIR / f"{cls.name}.v{VERSION}.json": json.dumps(service_contract(cls), indent=2, ensure_ascii=False) + "\n"
        for cls in service_classes() if service_contract(cls)["methods"]
    }


def write() -> list[Path]:
    CONTRACTS_DIR.mkdir(parents=True, exist_ok=True)
    files = rendered()
    for path, text in files.items():
        path.write_text(text)
    return list(files)
