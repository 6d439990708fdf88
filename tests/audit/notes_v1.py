"""The notes of the schema-evolution test as the old code had them, loaded as ``tests.audit.notes`` in a child."""

from eventsourcing.domain import Aggregate, event


class Note(Aggregate):
    class Written(Aggregate.Created):
        text: str

    @event(Written)
    def __init__(self, text: str):
        self.text = text

    class Edited(Aggregate.Event):
        text: str

    @event(Edited)
    def edit(self, text: str):
        self.text = text
