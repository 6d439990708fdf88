"""The envelope made with per-class work cached is, byte for byte, the envelope made as it was before.

``reference_envelope`` is ``rebuilding.envelope.to_envelope`` as it stood before the cache
(commit 07d0820), kept here as the yardstick.
"""

import dataclasses
import enum
import importlib
import inspect
import json
import random
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from eventsourcing.domain import Aggregate, CanMutateAggregate

from rebuilding import config
from rebuilding.envelope import _INTERNAL_ATTRIBUTES, SPECVERSION, TYPE_PREFIX, event_id, plain, to_envelope
from tests.infra import sample

_NAMESPACE = uuid.UUID("8f5b6c1e-5d0e-4b8a-9d55-3a7f0c2e9b41")


def reference_event_names(event):
    import re

    def snake_case(name):
        return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()

    aggregate, _, name = type(event).__qualname__.rpartition(".")
    return snake_case(aggregate.rpartition(".")[2]), snake_case(name)


def reference_envelope(service, position, event):
    aggregate, name = reference_event_names(event)
    version = getattr(type(event), "class_version", 1)
    return {
        "specversion": SPECVERSION,
        "id": str(uuid.uuid5(_NAMESPACE, f"{event.originator_id}:{event.originator_version}")),
        "source": f"/rebuilding/{service}",
        "type": f"{TYPE_PREFIX}.{service}.{aggregate}.{name}.v{version}",
        "subject": str(event.originator_id),
        "time": event.timestamp.isoformat(),
        "datacontenttype": "application/json",
        "dataschema": f"/contracts/events/{service}/{aggregate}.{name}.v{version}.schema.json",
        "position": position,
        "aggregateversion": event.originator_version,
        "data": {k: plain(v) for k, v in vars(event).items() if k not in _INTERNAL_ATTRIBUTES},
    }


class Colour(enum.Enum):
    RED = "rosso"


@dataclasses.dataclass
class Place:
    comune: str
    istat: str


VALUES = [
    "Società cooperativa «Lecco» — àèìòù", "", 0, 7, -3, 2.5, True, None, uuid.UUID(int=12345),
    Decimal("12.50"), datetime(2026, 12, 6, 15, 30, tzinfo=timezone.utc), date(2027, 1, 31), Colour.RED,
    Place("Bergamo", "016024"), ["a", 1, uuid.UUID(int=1)], {"k": [1, 2], 3: "x"}, frozenset({"b", "a"}),
]


def event_classes():
    """Every event class of every service's aggregates, and of the infrastructure tests' counter."""
    modules = [importlib.import_module(f"services.{service}.domain") for service in config.SERVICES
               if importlib.util.find_spec(f"services.{service}.domain")] + [sample]
    for module in modules:
        service = module.__name__.split(".")[1] if module is not sample else "surveys"
        for aggregate in vars(module).values():
            if inspect.isclass(aggregate) and issubclass(aggregate, Aggregate) and aggregate.__module__ == module.__name__:
                for candidate in vars(aggregate).values():
                    if inspect.isclass(candidate) and issubclass(candidate, CanMutateAggregate):
                        yield service, candidate


def sample_event(event_class, rng: random.Random):
    """An instance of ``event_class`` with its attributes set from VALUES: its constructor is not needed."""
    event = object.__new__(event_class)
    attributes = {
        "originator_id": uuid.UUID(int=rng.getrandbits(128), version=4),
        "originator_version": rng.randint(1, 10_000),
        "timestamp": datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=rng.getrandbits(40)),
    }
    for field in dataclasses.fields(event_class) if dataclasses.is_dataclass(event_class) else ():
        attributes.setdefault(field.name, rng.choice(VALUES))
    for _ in range(rng.randint(0, 3)):
        attributes[f"extra_{rng.randint(0, 99)}"] = rng.choice(VALUES)
    for key, value in attributes.items():
        object.__setattr__(event, key, value)
    return event


def test_every_event_type_gets_the_same_envelope_as_before_the_cache():
    rng = random.Random(20261206)
    classes = list(event_classes())
    assert len({cls for _, cls in classes}) > 40, "the services' event classes were not found"
    for service, event_class in classes:
        for position in range(1, 6):  # a class seen again comes from the cache
            event = sample_event(event_class, rng)
            made, expected = to_envelope(service, position, event), reference_envelope(service, position, event)
            assert json.dumps(made) == json.dumps(expected), f"{service} {event_class.__qualname__}"


def test_the_event_id_is_uuid5_of_the_originator_and_its_version():
    rng = random.Random(5)
    for _ in range(2000):
        originator, version = uuid.UUID(int=rng.getrandbits(128)), rng.randint(0, 2**40)
        assert event_id(originator, version) == str(uuid.uuid5(_NAMESPACE, f"{originator}:{version}"))
