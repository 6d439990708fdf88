"""The notes of the schema-evolution test, as the new code has them: ``Note.Edited`` is at v2.

v2 adds ``words``. Stored v1 events are upcast on read (``upcast_v1_v2``); v1 is still
published, by ``downcast_v2_v1``, until the date in ``published_until``.
"""

from eventsourcing.domain import Aggregate, event


class Note(Aggregate):
    class Written(Aggregate.Created):
        text: str

    @event(Written)
    def __init__(self, text: str):
        self.text = text
        self.words = len(text.split())

    class Edited(Aggregate.Event):
        class_version = 2
        published_until = {1: "2099-12-31"}
        text: str
        words: int

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            state["words"] = len(state["text"].split())

        @staticmethod
        def downcast_v2_v1(data: dict) -> dict:
            return {key: value for key, value in data.items() if key != "words"}

    @event(Edited)
    def edit(self, text: str, words: int):
        self.text = text
        self.words = words
