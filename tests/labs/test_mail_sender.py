"""Labs' e-mail goes out from ``rebuilding mail labs``, a process of its own, and never from the labs service.

The mail sender follows labs' log from the position its follower recorded: it catches up
after a stop, resends (with the same Message-ID) what a crash left uncommitted, and two of
them send each message once, taking turns under the follower's advisory lock.
"""

import signal
from collections import Counter

import pytest

from services.labs.mail import EnrolmentMail
from services.labs.service import LabsService
from tests.conftest import free_port
from tests.labs.conftest import learn
from tests.labs.test_enrolment import new_lab
from tests.support import MailProcess, SmtpSink, eventually

pytestmark = pytest.mark.integration

CONFIRMED = "Iscrizione confermata: DEMO – Laboratorio"


@pytest.fixture
def sink(monkeypatch):
    """An SMTP server that counts every message, for the mail senders this test starts."""
    sink = SmtpSink()
    monkeypatch.setenv("REBUILDING_SMTP_URL", sink.url)
    yield sink
    sink.close()


@pytest.fixture
def quickly_stale(monkeypatch):
    """Mail senders count as gone after 2 s without a heartbeat, for this test and those it starts."""
    monkeypatch.setenv("REBUILDING_RELAY_STALE_SECONDS", "2")


@pytest.fixture
def enrol(labs, registry, territory):
    """``enrol(n)``: n new DEMO people, each enrolled (confirmed) in a lab of their own; their e-mails."""
    def enrolled(count: int) -> list[str]:
        ambito = territory.ambito()
        people = [territory.person(ambito) for _ in range(count)]
        learn(labs, registry)
        lab_id = new_lab(labs, capacity=count)
        for person in people:
            assert labs.enrol(lab_id, person)["status"] == "confirmed"
        return [registry.get_person(person)["email"] for person in people]

    return enrolled


def confirmations(sink: SmtpSink, addresses) -> Counter:
    """How many confirmations each of ``addresses`` received, by (address, Message-ID)."""
    return Counter((m["To"], m["Message-ID"]) for m in sink.messages()
                   if m["To"] in set(addresses) and m["Subject"] == CONFIRMED)


def told(sink: SmtpSink, addresses) -> set[str]:
    return {address for address, _ in confirmations(sink, addresses)}


def caught_up(labs) -> None:
    """Wait until labs' mail follower has recorded every event of the log as done."""
    last = labs.last_position()
    eventually(lambda: labs.projection(EnrolmentMail).position("labs") >= last, timeout=60)


def both_running(labs, senders) -> None:
    """Wait until each of ``senders`` has recorded a heartbeat: both are at work before any mail waits."""
    def running():
        beating = {int(b["instance"].rsplit(":", 1)[1]) for b in labs.mail_heartbeats.rows() if b["running"]}
        assert {sender.process.pid for sender in senders} <= beating, [s.log() for s in senders]
        return True

    eventually(running, timeout=60)


def test_the_labs_service_alone_sends_no_mail(start, labs, enrol, sink):
    start(LabsService)
    addresses = enrol(2)
    last = labs.last_position()

    eventually(lambda: labs.catalogue.position("labs") >= last, timeout=30)  # the service has read the enrolments
    assert labs.projection(EnrolmentMail).position("labs") < last
    assert told(sink, addresses) == set()


def test_the_mail_sender_sends_each_enrolments_mail_once_and_catches_up_after_a_restart(labs, enrol, sink):
    mail = MailProcess("labs").start()
    try:
        first = enrol(3)
        eventually(lambda: told(sink, first) == set(first), timeout=60)
    finally:
        mail.stop()
    assert mail.process.returncode == 0, mail.log()

    second = enrol(3)  # while no mail sender runs
    restarted = MailProcess("labs").start()
    try:
        eventually(lambda: told(sink, second) == set(second), timeout=60)
        caught_up(labs)
    finally:
        restarted.stop()
    assert restarted.process.returncode == 0, restarted.log()
    sent = confirmations(sink, first + second)
    assert len(sent) == 6 and set(sent.values()) == {1}, sent


def test_a_mail_sender_killed_mid_run_loses_no_mail_once_started_again(labs, enrol, monkeypatch):
    slow = SmtpSink(delay=0.05)
    monkeypatch.setenv("REBUILDING_SMTP_URL", slow.url)
    try:
        addresses = enrol(40)
        mail = MailProcess("labs").start()
        eventually(lambda: len(told(slow, addresses)) >= 3, timeout=60)
        assert mail.kill(signal.SIGKILL) == -signal.SIGKILL
        assert len(told(slow, addresses)) < len(addresses), "killed before it had sent them all"

        restarted = MailProcess("labs").start()
        try:
            eventually(lambda: told(slow, addresses) == set(addresses), timeout=90)
            caught_up(labs)
        finally:
            restarted.stop()
        sent = confirmations(slow, addresses)
        # At least once: what the killed one sent of its unfinished batch came again, with the same Message-ID.
        assert {address for address, _ in sent} == set(addresses)
        assert len(sent) == len(addresses), "one Message-ID per enrolment, however often it was sent"
    finally:
        slow.close()


def test_two_mail_senders_of_one_service_send_each_message_once(labs, enrol, sink):
    senders = [MailProcess("labs").start(), MailProcess("labs").start()]
    try:
        both_running(labs, senders)
        addresses = []
        for _ in range(4):
            addresses += enrol(5)
        eventually(lambda: told(sink, addresses) == set(addresses), timeout=90)
        caught_up(labs)
    finally:
        for sender in senders:
            sender.stop()
    assert all(sender.process.returncode == 0 for sender in senders), [s.log() for s in senders]
    sent = confirmations(sink, addresses)
    assert len(sent) == len(addresses) and set(sent.values()) == {1}, sent


def test_labs_status_is_degraded_while_mail_waits_and_no_mail_sender_runs(labs, enrol, sink, quickly_stale):
    enrol(1)
    waiting = labs.status()
    assert waiting["status"] == "degraded"
    assert waiting["mail"]["alive"] is False and waiting["mail"]["lag"] > 0
    assert "wait for it" in waiting["mail"]["problem"]

    mail = MailProcess("labs").start()
    try:
        def sending():
            status = labs.status()["mail"]
            assert status["alive"] and status["problem"] is None and status["lag"] == 0, status
            return status
        assert eventually(sending, timeout=60)["last_seen"] is not None
    finally:
        mail.stop()
    assert mail.process.returncode == 0, mail.log()

    enrol(1)
    stopped = labs.status()["mail"]
    assert stopped["alive"] is False and stopped["problem"].startswith("the mail sender stopped")


def test_a_mail_sender_whose_mail_server_refuses_keeps_trying_and_says_so(labs, enrol, monkeypatch):
    monkeypatch.setenv("REBUILDING_SMTP_URL", f"smtp://127.0.0.1:{free_port()}")  # nobody listens
    enrol(1)
    mail = MailProcess("labs").start()
    try:
        def failing():
            status = labs.status()
            assert status["projections"]["enrolment_mail"]["status"] == "degraded", status
            return status

        status = eventually(failing, timeout=60)
        assert status["status"] == "degraded" and status["mail"]["alive"]
        assert "ConnectionRefused" in status["projections"]["enrolment_mail"]["failure"]["error"]
        assert mail.running(), mail.log()
    finally:
        mail.stop()
    assert mail.process.returncode == 0, mail.log()
