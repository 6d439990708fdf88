"""Answers are recorded beside their replies, all those that wait in one statement, by one writer at a time."""

import pytest

from rebuilding.idempotency import ANSWER, Outcome, scopes_of
from tests.infra.sample import CounterApplication

pytestmark = pytest.mark.integration


class Answering(CounterApplication):
    name = "answers_probe"


@pytest.fixture
def app(database):
    app = Answering()
    yield app
    app.close()


def answer(unique, n: int, text: str = '{"result": 1}') -> Outcome:
    return Outcome("tester", f"{unique}-{n}", ANSWER, "fp", text)


def recorded(app, unique, n: int):
    return app.recorder.select_outcome(scopes_of("tester", f"{unique}-{n}"), ANSWER)


def test_answers_that_wait_for_the_writer_go_in_one_statement_and_a_later_one_starts_it_again(app, monkeypatch, unique):
    statements = []
    insert = app.recorder.insert_answers
    monkeypatch.setattr(app.recorder, "insert_answers", lambda batch: (statements.append(len(batch)), insert(batch)))
    writers = []  # threads asked for, run below as the service would run them
    for n in range(4):
        app.recorder.answers.add(answer(unique, n), writers.append)
    assert len(writers) == 1 and statements == []  # one writer, not started yet
    writers.pop()()
    assert statements == [4]
    assert [recorded(app, unique, n) for n in range(4)] == [("fp", '{"result": 1}')] * 4

    app.recorder.answers.add(answer(unique, 4), writers.append)  # the writer ended: a new one is started
    assert len(writers) == 1
    writers.pop()()
    assert statements == [4, 1] and recorded(app, unique, 4) == ("fp", '{"result": 1}')


def test_an_answer_recorded_first_is_kept_and_a_failed_batch_does_not_stop_the_writer(app, monkeypatch, unique):
    app.recorder.answers.add(answer(unique, 0, '{"result": "first"}'), lambda run: run())
    app.recorder.answers.add(answer(unique, 0, '{"result": "second"}'), lambda run: run())  # a copy's, later
    assert recorded(app, unique, 0) == ("fp", '{"result": "first"}')

    insert = app.recorder.insert_answers
    calls = []

    def failing_once(batch):
        calls.append(len(batch))
        if len(calls) == 1:
            writers.append(None)  # meanwhile another answer arrives
            app.recorder.answers.add(answer(unique, 2), writers.append)
            raise RuntimeError("the database went away")
        insert(batch)

    writers = []
    monkeypatch.setattr(app.recorder, "insert_answers", failing_once)
    app.recorder.answers.add(answer(unique, 1), lambda run: run())
    assert calls == [1, 1] and writers == [None]  # the same writer went on to the next batch
    assert recorded(app, unique, 1) is None and recorded(app, unique, 2) == ("fp", '{"result": 1}')
