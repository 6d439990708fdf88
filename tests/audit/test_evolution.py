"""Schema evolution: a v1 event stored by the old code reads, replays, rebuilds and publishes under the new code."""

import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from uuid import UUID

import pika
import pytest

from rebuilding import config, history
from rebuilding.rebuilds import rebuild
from rebuilding.relay import Relay
from rebuilding.versions import for_generation, published_versions
from rebuilding.views import Projection
from tests.audit.conftest import own_application
from tests.audit.notes import Note

pytestmark = pytest.mark.integration

OLD_CODE = """
import importlib.util, sys
import rebuilding
spec = importlib.util.spec_from_file_location("tests.audit.notes", {path!r})
notes = importlib.util.module_from_spec(spec)
sys.modules["tests.audit.notes"] = notes
spec.loader.exec_module(notes)
from tests.audit.conftest import own_application
app = own_application({name!r})()
note = notes.Note(text="prima stesura DEMO")
note.edit(text="seconda stesura DEMO, più lunga")
app.save(note)
print(note.id)
app.close()
"""


class NoteWords(Projection):
    name = "note_words"
    tables = ("CREATE TABLE IF NOT EXISTS {schema}.note_words (id uuid PRIMARY KEY, text text, words int)",)

    def on_note_written(self, cursor, envelope):
        self.execute(cursor, "INSERT INTO {schema}.note_words VALUES (%s, %s, NULL)",
                     (envelope["subject"], envelope["data"]["text"]))

    def on_note_edited(self, cursor, envelope):
        self.execute(cursor, "UPDATE {schema}.note_words SET text = %s, words = %s WHERE id = %s",
                     (envelope["data"]["text"], envelope["data"]["words"], envelope["subject"]))


@pytest.fixture
def upgraded(database, unique):
    """A note stored by the old code (v1 events), and the application as the new code (v2) opens it."""
    name = f"notes_{unique}"
    old = subprocess.run([sys.executable, "-c", OLD_CODE.format(path=str(Path(__file__).with_name("notes_v1.py")),
                                                                name=name)],
                         capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2])
    assert old.returncode == 0, old.stderr
    note_id = old.stdout.strip().splitlines()[-1]
    projection = type("NoteWordsOf", (NoteWords,), {"source": name})
    app = type(f"App_{name}", (own_application(name),), {"name": name, "projection_classes": (projection,),
                                                         "event_generations": 2})()
    yield app, note_id
    app.close()


def test_the_stored_v1_event_is_upcast_on_read_and_replays_as_v2(upgraded):
    app, note_id = upgraded
    note = app.repository.get(UUID(note_id))
    assert note.words == 5 and note.text == "seconda stesura DEMO, più lunga"
    replayed = list(history.events(app, history.Filters()))
    assert [e["type"].rsplit(".", 2)[-2:] for e in replayed] == [["written", "v1"], ["edited", "v2"]]
    assert replayed[1]["data"]["words"] == 5
    assert replayed[1]["dataschema"].endswith("/note.edited.v2.schema.json")


def test_a_rebuild_reads_the_old_event_as_the_new_version(upgraded):
    app, note_id = upgraded
    (projection,) = app.projections
    assert rebuild(app, projection) == 2
    assert projection.query("SELECT text, words FROM {schema}.note_words") == [
        {"text": "seconda stesura DEMO, più lunga", "words": 5}]


def test_the_catch_up_feed_gives_v1_by_default_and_v2_when_asked(upgraded):
    app, _ = upgraded
    note = app.repository.get(UUID(upgraded[1]))
    note.edit(text="terza DEMO", words=2)  # an event the new code writes: v2 from the start
    app.save(note)
    first = app.log_page(after=0)["events"]
    assert [e["type"].rsplit(".", 1)[1] for e in first] == ["v1", "v1", "v1"]
    assert all("words" not in e["data"] for e in first[1:])
    assert first[2]["dataschema"].endswith("/note.edited.v1.schema.json")
    second = app.log_page(after=0, version=2)["events"]
    assert [e["type"].rsplit(".", 1)[1] for e in second] == ["v1", "v2", "v2"]
    assert [e["data"].get("words") for e in second[1:]] == [5, 2]
    assert [e["id"] for e in first] == [e["id"] for e in second]  # the same events, in two versions


def test_the_relay_publishes_v1_to_v1_subscribers_and_v2_on_the_v2_exchange(upgraded, broker):
    app, _ = upgraded
    queues = {}
    with pika.BlockingConnection(pika.URLParameters(broker)) as connection:
        channel = connection.channel()
        for generation, exchange in ((1, f"rebuilding.{app.name}"), (2, f"rebuilding.{app.name}.v2")):
            channel.exchange_declare(exchange, exchange_type="topic", durable=True)
            queues[generation] = channel.queue_declare("", exclusive=True).method.queue
            channel.queue_bind(queues[generation], exchange, routing_key=f"{app.name}.#")
        relay = Relay(app)
        relay.connect()
        try:
            while relay.publish_batch():
                pass
        finally:
            relay.close()
        received = {}
        for generation, queue in queues.items():
            received[generation] = []
            while (message := channel.basic_get(queue, auto_ack=True))[0] is not None:
                received[generation].append(json.loads(message[2]))
    assert [e["type"].rsplit(".", 2)[-2:] for e in received[1]] == [["written", "v1"], ["edited", "v1"]]
    assert "words" not in received[1][1]["data"]
    assert [e["type"].rsplit(".", 2)[-2:] for e in received[2]] == [["written", "v1"], ["edited", "v2"]]
    assert received[2][1]["data"]["words"] == 5
    assert [e["position"] for e in received[1]] == [e["position"] for e in received[2]]


def test_an_old_version_is_published_until_its_deprecation_date_and_no_longer(upgraded):
    app, note_id = upgraded
    edited = app.repository.get(UUID(note_id))
    assert published_versions(Note.Edited, today=date(2099, 12, 31)) == [1, 2]
    assert published_versions(Note.Edited, today=date(2100, 1, 1)) == [2]
    event = Note.Edited(originator_id=edited.id, originator_version=2, timestamp=Note.Edited.create_timestamp(),
                        text="x y", words=2)
    assert for_generation(app.name, 2, event, 1, today=date(2099, 12, 31))["type"].endswith(".v1")
    assert for_generation(app.name, 2, event, 1, today=date(2100, 1, 1)) is None
    assert for_generation(app.name, 2, event, 2, today=date(2100, 1, 1))["type"].endswith(".v2")


def test_a_read_model_of_another_service_reads_the_generation_its_handlers_were_written_for(upgraded):
    from types import SimpleNamespace

    from rebuilding.followers import RemoteLog

    app, _ = upgraded
    rpc = {app.name: SimpleNamespace(events=lambda **asked: app.log_page(**asked))}  # the events RPC, in process
    assert [e["type"][-2:] for e in RemoteLog(app.name, rpc).envelopes()] == ["v1", "v1"]
    assert [e["type"][-2:] for e in RemoteLog(app.name, rpc, generation=2).envelopes()] == ["v1", "v2"]


def test_a_subscription_moved_to_generation_2_leaves_the_generation_1_exchange(broker, unique):
    from types import SimpleNamespace

    from kombu import Connection

    from rebuilding.nameko_ext import Subscription
    from rebuilding.topology import consumer_queue

    source = f"notes_{unique}"
    projection = SimpleNamespace(name="note_words", source=source, source_generation=2)
    store = SimpleNamespace(container=SimpleNamespace(service_name=f"reader_{unique}"),
                            app=SimpleNamespace(projection_health=None), amqp_uri=broker)
    subscription = Subscription(store, projection)
    with Connection(broker) as connection:
        channel = connection.channel()
        with pika.BlockingConnection(pika.URLParameters(broker)) as declaring:
            for name in (f"rebuilding.{source}", f"rebuilding.{source}.v2"):
                declaring.channel().exchange_declare(name, exchange_type="topic", durable=True)
        consumer_queue(subscription.queue_name, source, [f"{source}.#"], generation=1)(channel).declare()  # before
        subscription.queue(channel).declare()  # after the move: bound to generation 2 as well ...
        subscription._unbind_other_generations(connection)  # ... and no longer to generation 1
        with pika.BlockingConnection(pika.URLParameters(broker)) as publishing:
            out = publishing.channel()
            out.confirm_delivery()
            out.basic_publish(f"rebuilding.{source}", f"{source}.note.edited", b'{"generation": 1}')
            out.basic_publish(f"rebuilding.{source}.v2", f"{source}.note.edited", b'{"generation": 2}')
            bodies = []
            for method, _, body in out.consume(subscription.queue_name, auto_ack=True, inactivity_timeout=2):
                if method is None:  # nothing more comes
                    break
                bodies.append(json.loads(body))
            out.cancel()
            out.queue_delete(subscription.queue_name)
    assert bodies == [{"generation": 2}]
