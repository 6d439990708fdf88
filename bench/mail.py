"""Building and sending an enrolment's e-mail: CPU per message, beside raw baselines.

    .venv/bin/python -m bench.mail

For MESSAGES enrolment confirmations (the Italian text of ``services/labs/notifications.py``,
each to another DEMO person), it prints the CPU time per message of:
- building the message from the template compiled once (``rebuilding.mail.MessageTemplate``);
- building it as the platform did before, an ``email.message.EmailMessage`` serialised with
  ``as_bytes()``;
- baseline: the same headers and body joined into bytes, with no encoding at all;
- sending it into a maildir (``Notifier`` and ``MaildirTransport``: template, file, hard link);
- the same as the platform did before: an ``EmailMessage``, and a maildir delivery that made
  its folders and matched ``cur/`` with a glob on every message;
- baseline: writing the same bytes to a file and hard-linking it, as a maildir delivery does.

It touches no database or broker: only a temporary directory that it removes.
"""

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from rebuilding.mail import MaildirTransport, MessageTemplate, Notifier
from services.labs.notifications import enrolment_message

MESSAGES = 5000
SENDER = "ANCI Lombardia – Rebuilding <rebuilding@anci.example.it>"
LAB = "DEMO – Laboratorio di co-progettazione con il Terzo settore"


def messages() -> list[tuple[str, str, str, str]]:
    """(to, subject, body, Message-ID) for each DEMO person, as the enrolment mail follower makes them."""
    made = []
    for n in range(MESSAGES):
        subject, body = enrolment_message("confirmed", f"Persona DEMO {n}", LAB, {})
        made.append((f"demo-{n}@example.org", subject, body, f"<bench-{n}@rebuilding>"))
    return made


def with_email_message(to: str, subject: str, body: str, message_id: str) -> bytes:
    """How ``Notifier.send`` built each message before the template."""
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(timezone.utc))
    message["Message-ID"] = message_id
    message.set_content(body)
    return message.as_bytes()


def deliver_as_before(path: Path, message: bytes, message_id: str) -> None:
    """``MaildirTransport.deliver`` before: its folders made, and ``cur/`` globbed, on every message."""
    for folder in ("tmp", "new", "cur"):
        (path / folder).mkdir(parents=True, exist_ok=True)
    key = "rebuilding." + hashlib.sha256(message_id.encode()).hexdigest()[:32]
    if (path / "new" / key).exists() or any((path / "cur").glob(f"{key}*")):
        return
    temporary = path / "tmp" / f"{key}.{os.getpid()}"
    temporary.write_bytes(message)
    try:
        os.link(temporary, path / "new" / key)
    finally:
        temporary.unlink()


def raw(to: str, subject: str, body: str, message_id: str) -> bytes:
    date = format_datetime(datetime.now(timezone.utc))
    return (f"From: {SENDER}\nTo: {to}\nSubject: {subject}\nDate: {date}\nMessage-ID: {message_id}\n\n{body}"
            .encode("utf-8"))


def cpu_per_message(work: Callable[[], None]) -> float:
    """CPU microseconds per message of ``work``, which handles all MESSAGES; the best of three."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best / MESSAGES * 1e6


def show(label: str, micros: float, baseline: float | None = None) -> None:
    line = f"{label:<58} {micros:8.1f} µs CPU/message"
    if baseline is not None:
        line += f"   {micros / baseline:5.1f} × baseline"
    print(line, flush=True)


def main() -> None:
    made = messages()
    template = MessageTemplate(SENDER)
    print(f"{MESSAGES:,} enrolment confirmations, each to another DEMO person; CPU time, best of three.\n", flush=True)

    build_raw = cpu_per_message(lambda: [raw(*m) for m in made])
    show("build: template compiled once (now)", cpu_per_message(lambda: [template.render(*m) for m in made]), build_raw)
    show("build: EmailMessage, as_bytes() (before)", cpu_per_message(lambda: [with_email_message(*m) for m in made]),
         build_raw)
    show("baseline: headers and body joined, no encoding", build_raw)

    root = Path(tempfile.mkdtemp(prefix="rebuilding-bench-mail-"))
    try:
        rounds = iter(range(1_000_000))

        def send_all():
            notifier = Notifier(MaildirTransport(root / f"maildir-{next(rounds)}"), SENDER)
            for to, subject, body, message_id in made:
                notifier.send(to, subject, body, message_id)

        def write_all():
            folder = root / f"raw-{next(rounds)}"
            (folder / "tmp").mkdir(parents=True)
            (folder / "new").mkdir()
            for n, message in enumerate(made):
                temporary = folder / "tmp" / str(n)
                temporary.write_bytes(raw(*message))
                os.link(temporary, folder / "new" / str(n))
                temporary.unlink()

        def send_all_as_before():
            path = root / f"before-{next(rounds)}"
            for message in made:
                deliver_as_before(path, with_email_message(*message), message[3])

        write_raw = cpu_per_message(write_all)
        show("send into the maildir: Notifier (template, file, link)", cpu_per_message(send_all), write_raw)
        show("the same as before (EmailMessage; folders, glob)", cpu_per_message(send_all_as_before), write_raw)
        show("baseline: write the bytes to a file and hard-link it", write_raw)
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
