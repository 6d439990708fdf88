"""The envelope made with per-class work cached is, byte for byte, the envelope made as it was before;
and so is the envelope a replay makes straight from the stored JSON (``rebuilding.stored``).

``reference_envelope`` is ``rebuilding.envelope.to_envelope`` as it stood before the cache
(commit 07d0820), kept here as the yardstick. The replay's envelopes are held to the way
they were made before it: eventsourcing's mapper decodes the domain event, upcast to its
class's current version, and ``to_envelope`` (``for_generation``) makes its envelope.
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

from types import SimpleNamespace

import pytest
from eventsourcing.application import Application
from eventsourcing.cryptography import AESCipher
from eventsourcing.domain import Aggregate, CanMutateAggregate
from eventsourcing.persistence import DatetimeAsISO, Notification

from rebuilding import config, stored
from rebuilding.envelope import _INTERNAL_ATTRIBUTES, SPECVERSION, TYPE_PREFIX, event_id, event_ids, plain, to_envelope
from rebuilding.eventstore import IN_MEMORY
from rebuilding.versions import for_generation
from tests.audit import notes
from tests.audit.conftest import own_application
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
    """Every event class of every service's aggregates, of the infrastructure tests' counter and of the
    schema-evolution test's notes (an event at version 2)."""
    modules = [importlib.import_module(f"services.{service}.domain") for service in config.SERVICES
               if importlib.util.find_spec(f"services.{service}.domain")] + [sample, notes]
    for module in modules:
        service = module.__name__.split(".")[1] if module.__name__.startswith("services.") else "surveys"
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


def test_a_page_of_event_ids_is_uuid5_of_each_originator_and_version():
    rng = random.Random(11)
    for size in (0, 1, 2, 7, 1000):
        originators = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(max(1, size // 5))]
        pairs, versions = [], {}
        while len(pairs) < size:  # runs of one aggregate's events, and aggregates interleaved
            originator = rng.choice(originators)
            for _ in range(rng.randint(1, 4)):
                versions[originator] = versions.get(originator, rng.choice([0, 1, 1020, 2**40])) + 1
                pairs.append((originator, rng.choice([versions[originator], rng.randint(0, 2**63 - 1)])))
        pairs = pairs[:size]
        made = event_ids([str(originator) for originator, _ in pairs], [version for _, version in pairs])
        assert made == [str(uuid.uuid5(_NAMESPACE, f"{originator}:{version}")) for originator, version in pairs]


# What eventsourcing's stock transcoder stores (JSON, UUIDs, Decimals, datetimes); and odd values: what orjson refuses
# or reads otherwise (NaN, an integer past 64 bits), and what no transcoding reads.
STORED_VALUES = [
    "Società cooperativa «Lecco» — àèìòù", "", "\u2028 \\ \"", 0, 7, -3, 2.5, 1e-7, 1.0, True, False, None,
    uuid.UUID(int=12345), Decimal("12.50"), Decimal("-0.000"), Decimal("1E+3"),
    datetime(2026, 12, 6, 15, 30, tzinfo=timezone.utc), datetime(2026, 12, 6, 15, 30, 0, 1, tzinfo=timezone.utc),
    datetime(2026, 12, 6, 15, 30, tzinfo=timezone(timedelta(hours=1))), datetime(2026, 12, 6, 15, 30),
    ["a", 1, uuid.UUID(int=1), [Decimal("2")]], ("t", uuid.UUID(int=2)), {"k": [1, 2], 3: "x", "u": uuid.UUID(int=3)},
    {"_type_": "x"}, {"_type_": "x", "_data_": "y", "z": 1},
    0.1, 1 / 3, 5e-324, 2.2250738585072014e-308, 123456789.123456789, -0.0, 9.2e18, 2**64 - 1, -(2**63), 2**63,
]
ODD_VALUES = [  # the replay hands these to the mapper: orjson reads past-64-bit integers as floats, so floats as large
    {"_type_": "uuid_hex", "_data_": "not hex"}, {"_type_": "elsewhere", "_data_": "x"},
    float("nan"), float("inf"), 2**70, -(2**70), 1e21, 1.7976931348623157e308, 9.3e18,
]


def stored_sample_event(event_class, rng: random.Random):
    """Like ``sample_event``, with values the stock transcoder can store (one in twenty odd), at times (UTC)
    as eventsourcing stamps them; and whether it has an odd value."""
    event, odd = sample_event(event_class, rng), False
    for key in list(vars(event)):
        if key == "originator_topic":
            object.__setattr__(event, key, f"{event_class.__module__}:{event_class.__qualname__}")
        elif key not in ("originator_id", "originator_version", "timestamp"):
            value = rng.choice(ODD_VALUES if rng.random() < 0.05 else STORED_VALUES)
            odd = odd or any(value is v for v in ODD_VALUES)
            object.__setattr__(event, key, value)
    if rng.random() < 0.1:  # a whole second: isoformat() writes no fraction
        object.__setattr__(event, "timestamp", event.timestamp.replace(microsecond=0))
    return event, odd


def decoder_of(service: str, mapper) -> stored.Decoder:
    return stored.Decoder(SimpleNamespace(name=service, mapper=mapper,
                                          recorder=SimpleNamespace(datastore=SimpleNamespace(originator_id_type="uuid"))))


def as_before(service: str, mapper, notification: Notification, generation: int | None):
    """The envelope as ``ServiceApplication.envelopes`` made it before the replay read the stored JSON itself."""
    return for_generation(service, notification.id, mapper.to_domain_event(notification), generation)


def replayed(decoder: stored.Decoder, notification: Notification, generation: int | None):
    row = (notification.id, str(notification.originator_id), notification.originator_version, notification.topic,
           notification.state)
    return next(iter(decoder.envelopes([row], generation)), None)


def stored_notification(mapper, event, position: int, class_version: int | None = None,
                        without: tuple[str, ...] = ()) -> Notification:
    stored_event = mapper.to_stored_event(event)
    state = stored_event.state
    if class_version is not None:  # as an older version of the class stored it
        state = {k: v for k, v in mapper.transcoder.decode(state).items() if k not in without}
        state = mapper.transcoder.encode({**state, "class_version": class_version})
    return Notification(id=position, originator_id=stored_event.originator_id,
                        originator_version=stored_event.originator_version, topic=stored_event.topic, state=state)


CIPHERED = {"COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
            "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher", "CIPHER_KEY": AESCipher.create_key(16)}


@pytest.mark.parametrize("settings", [{}, CIPHERED], ids=["plain JSON", "compressed and encrypted"])
def test_a_replay_makes_from_the_stored_json_the_envelope_the_mapper_and_to_envelope_made(settings):
    mapper = Application(env={**IN_MEMORY, **settings}).mapper
    rng = random.Random(20261207)
    decoders, compared, odd_reads = {}, 0, 0
    for service, event_class in event_classes():
        decoder = decoders.setdefault(service, counting(decoder_of(service, mapper)))
        for position in range(1, 30):
            event, odd = stored_sample_event(event_class, rng)
            notification = stored_notification(mapper, event, position)
            odd_reads += 4 if odd else 0
            for generation in (None, 1, 2, 3):
                try:
                    expected = as_before(service, mapper, notification, generation)
                except Exception as error:  # a value no transcoding reads: the replay fails the same way
                    with pytest.raises(type(error)):
                        replayed(decoder, notification, generation)
                    continue
                made = replayed(decoder, notification, generation)
                assert json.dumps(made) == json.dumps(expected), f"{service} {event_class.__qualname__} {generation}"
                compared += 1
    assert compared > 40 * 29 * 2
    slow = sum(decoder.slow for decoder in decoders.values())
    assert slow <= odd_reads, "the replay left to the mapper events it can read itself"


@pytest.mark.parametrize("settings", [{}, CIPHERED], ids=["plain JSON", "compressed and encrypted"])
def test_a_page_of_mixed_events_replays_as_the_mapper_and_to_envelope_made_each(settings):
    """One page with events the replay makes itself, events it leaves to the mapper, times it rewrites (in Z) or
    keeps (whole seconds), runs of one aggregate's events: the page's work (its ids, its times) gives each its own."""
    mapper = Application(env={**IN_MEMORY, **settings}).mapper
    rng = random.Random(20261208)
    classes = [(service, event_class) for service, event_class in event_classes() if service == "surveys"]
    rows, notifications = [], []
    while len(rows) < 300:
        service, event_class = rng.choice(classes)
        event, _ = stored_sample_event(event_class, rng)
        for _ in range(rng.randint(1, 3)):  # the same aggregate again, at its next versions
            notification = stored_notification(mapper, event, len(rows) + 1)
            if not settings and rng.random() < 0.1:  # a time written otherwise than isoformat() writes it
                notification = Notification(**{**notification.__dict__,
                                                "state": notification.state.replace(b'+00:00"', b'Z"', 1)})
            try:
                as_before(service, mapper, notification, None)
            except Exception:
                break  # a value no transcoding reads would end the page: the single-event test has those
            notifications.append(notification)
            rows.append((notification.id, str(notification.originator_id), notification.originator_version,
                         notification.topic, notification.state))
            object.__setattr__(event, "originator_version", event.originator_version + 1)
    decoder = counting(decoder_of("surveys", mapper))
    for generation in (None, 1, 2):
        expected = [envelope for n in notifications
                    if (envelope := as_before("surveys", mapper, n, generation)) is not None]
        assert json.dumps(list(decoder.envelopes(rows, generation))) == json.dumps(expected), generation
    assert 0 < decoder.slow < len(rows)


class ShiftedTimes(DatetimeAsISO):
    """A transcoding of datetimes of an application's own: it reads each an hour later than written."""

    def decode(self, data):
        return super().decode(data) + timedelta(hours=1)


def test_an_application_reading_times_its_own_way_has_every_event_read_by_its_mapper():
    mapper = Application(env=IN_MEMORY).mapper
    mapper.transcoder.names["datetime_iso"] = ShiftedTimes()
    counter = sample.Counter(label="x")
    counter.increment(by=2)
    notifications = [stored_notification(mapper, event, position)
                     for position, event in enumerate(counter.collect_events(), 1)]
    rows = [(n.id, str(n.originator_id), n.originator_version, n.topic, n.state) for n in notifications]
    decoder = counting(decoder_of("surveys", mapper))
    expected = [as_before("surveys", mapper, n, None) for n in notifications]
    assert json.dumps(list(decoder.envelopes(rows))) == json.dumps(expected)
    assert decoder.slow == len(rows)


def test_an_event_stored_at_an_older_version_of_its_class_is_upcast_as_before():
    mapper = Application(env=IN_MEMORY).mapper
    decoder = counting(decoder_of("surveys", mapper))
    note = notes.Note(text="prima stesura DEMO")
    note.edit(text="seconda stesura DEMO, più lunga", words=5)
    edited = note.collect_events()[-1]
    as_v1 = stored_notification(mapper, edited, 7, class_version=1, without=("words",))
    as_v2 = stored_notification(mapper, edited, 7)
    for notification in (as_v1, as_v2):
        for generation in (None, 1, 2):
            made = replayed(decoder, notification, generation)
            assert json.dumps(made) == json.dumps(as_before("surveys", mapper, notification, generation))
        assert replayed(decoder, notification, None)["data"] == {"text": "seconda stesura DEMO, più lunga", "words": 5}
    assert decoder.slow == 4  # each of the four reads of v1 went through the mapper, upcast; none of v2


def counting(decoder: stored.Decoder) -> stored.Decoder:
    """The decoder, counting the events it hands to the mapper in ``slow``."""
    slow = decoder._slow
    decoder.slow = 0

    def counted(row):
        decoder.slow += 1
        return slow(row)
    decoder._slow = counted
    return decoder


def test_an_event_whose_stored_json_the_replay_does_not_know_fails_as_it_did_before():
    mapper = Application(env=IN_MEMORY).mapper
    counter = sample.Counter(label="x")
    started = stored_notification(mapper, counter.collect_events()[0], 1)
    broken = Notification(**{**started.__dict__, "state": started.state.replace(b'"label"', b'"label":{"_type_"'
                                                                                          b':"nuovo","_data_":1},"x"')})
    with pytest.raises(Exception) as before:
        as_before("surveys", mapper, broken, None)
    with pytest.raises(type(before.value)):
        replayed(decoder_of("surveys", mapper), broken, None)


@pytest.mark.integration
def test_envelopes_read_back_from_postgres_from_any_position_to_any_stop_are_the_mappers(database, unique):
    app = own_application(f"replay_{unique}")()
    try:
        counters = [sample.Counter(label=f"c{n}") for n in range(4)]
        for counter in counters:
            counter.increment(by=2)
            counter.rename(label="rinominato")
        note = notes.Note(text="prima stesura DEMO")
        note.edit(text="seconda stesura DEMO", words=3)
        app.save(*counters, note)
        stored_log = list(app.notifications())
        assert len(stored_log) == 14
        for after, stop, batch in [(0, None, 1000), (0, None, 2), (3, None, 2), (3, 9, 2), (0, 13, 3), (5, 5, 1),
                                   (13, None, 4), (14, None, 2), (100, None, 2), (0, 0, 5)]:
            for generation in (None, 1, 2):
                expected = [envelope for n in stored_log if n.id > after and (stop is None or n.id <= stop)
                            if (envelope := as_before(app.name, app.mapper, n, generation)) is not None]
                made = list(app.envelopes(after, stop, batch, generation))
                assert json.dumps(made) == json.dumps(expected), (after, stop, batch, generation)
    finally:
        app.close()
