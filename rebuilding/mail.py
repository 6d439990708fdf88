"""The platform's one way of sending e-mail: every service's mail followers use it.

Mail goes out by SMTP when REBUILDING_SMTP_URL is set, and otherwise into a maildir
in the state directory, so that a fresh machine needs no mail server.

The mail followers run in a process of their own per service, ``rebuilding mail
<service>`` (``MailSender``), never in the service's nameko process: a service answers
its requests without paying for mail, and mail goes out even while it is busy.
Each message is made from one template (``MessageTemplate``), compiled once.
"""

import binascii
import functools
import hashlib
import os
import re
import smtplib
import ssl
import string
from dataclasses import dataclass
from datetime import datetime, timezone
from email import policy
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from rebuilding import config, loops
from rebuilding.followers import Followers
from rebuilding.views import Projection

SIGNATURE = "Cordiali saluti,\nANCI Lombardia – Progetto Rebuilding"
"""The closing of every e-mail the platform sends."""

# The left part of a Message-ID must be an RFC 5322 dot-atom; event ids (UUIDs) are.
_MESSAGE_ID = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


def smtp_url() -> str | None:
    """REBUILDING_SMTP_URL: ``smtp://[user:password@]host:port``, or ``smtp+starttls://…``."""
    return os.environ.get("REBUILDING_SMTP_URL") or None


def mail_from() -> str:
    return os.environ.get("REBUILDING_MAIL_FROM") or "rebuilding@localhost"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    user: str
    password: str
    starttls: bool

    @classmethod
    def from_url(cls, url: str) -> "SmtpSettings":
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtp+starttls") or not parts.hostname:
            raise ValueError(f"REBUILDING_SMTP_URL must be smtp://host:port or smtp+starttls://host:port, not {url!r}")
        starttls = parts.scheme == "smtp+starttls"
        return cls(
            host=parts.hostname,
            port=parts.port or (587 if starttls else 25),
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            starttls=starttls,
        )


@dataclass(frozen=True)
class Outgoing:
    """One message ready to go: who sends it and to whom, its Message-ID, and its bytes (``\\n`` line ends)."""

    sender: str
    recipient: str
    message_id: str
    data: bytes


class Transport(Protocol):
    def deliver(self, message: Outgoing) -> None: ...


class SmtpTransport:
    def __init__(self, settings: SmtpSettings, timeout: float = 30.0):
        self.settings = settings
        self.timeout = timeout

    def deliver(self, message: Outgoing) -> None:
        s = self.settings
        with smtplib.SMTP(s.host, s.port, timeout=self.timeout) as smtp:
            if s.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.user:
                smtp.login(s.user, s.password)
            smtp.sendmail(message.sender, [message.recipient], message.data.replace(b"\n", b"\r\n"))


class MaildirTransport:
    """Keeps each message once in a maildir, however often the same Message-ID is sent.

    ``Maildir.add`` names every message afresh, so a resend would be a second copy.
    Here the file name comes from the Message-ID, and the message enters ``new/`` by a
    hard link, which fails if the name is already there: even two concurrent senders
    store it once. A message a mail reader has since moved to ``cur/`` (as ``key:2,flags``)
    is found by its name too. ``new/`` is looked up by name, and only ``cur/``'s names are
    listed, never the messages read, so a send stays cheap with many messages stored.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._made = False

    def deliver(self, message: Outgoing) -> None:
        if not self._made:
            for folder in ("tmp", "new", "cur"):  # Maildir(create=True) skips a directory that exists
                (self.path / folder).mkdir(parents=True, exist_ok=True)
            self._made = True
        key = "rebuilding." + hashlib.sha256(message.message_id.encode()).hexdigest()[:32]
        if (self.path / "new" / key).exists() or self._read(key):
            return
        temporary = self.path / "tmp" / f"{key}.{os.getpid()}"
        temporary.write_bytes(message.data)
        try:
            os.link(temporary, self.path / "new" / key)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()

    def _read(self, key: str) -> bool:
        """Whether a reader has moved the message to ``cur/``, where it is named ``key:2,<flags>``."""
        return any(name == key or name.startswith(key + ":") for name in os.listdir(self.path / "cur"))


POLICY = policy.default
"""How headers are encoded and folded: as ``email.message.EmailMessage`` would, ASCII only on the wire."""
MAX_LINE = 78


@functools.lru_cache(maxsize=4096)
def _folded(name: str, value: str) -> str:
    """``Name: value`` and its line end, folded and RFC 2047-encoded; refuses a line break in ``value``."""
    _, header = POLICY.header_store_parse(name, value)
    return header.fold(policy=POLICY)


def header(name: str, value: str) -> str:
    """One header line (or folded lines), ending in ``\\n``: short ASCII as it is, the rest through ``email``."""
    if value.isascii() and value.isprintable() and len(name) + 2 + len(value) <= MAX_LINE and "=?" not in value:
        return f"{name}: {value}\n"
    return _folded(name, value)


def quoted_printable(body: str) -> str:
    """The body as UTF-8 in quoted-printable: 7-bit, lines of at most 76 characters, whatever the text."""
    lines = body.encode("utf-8").splitlines()
    return binascii.b2a_qp(b"\n".join(lines) + b"\n", istext=True).decode("ascii")


class MessageTemplate:
    """The one shape of every e-mail the platform sends: plain UTF-8 text, one recipient.

    Compiled once per sender, with its ``From`` header encoded then; each message fills in
    its recipient, subject, date, Message-ID and body. Building an ``EmailMessage`` and
    serialising it instead cost about a millisecond of CPU per message (``bench/mail.py``).
    """

    SHAPE = string.Template(
        "${sender}${to}${subject}Date: ${date}\nMessage-ID: ${message_id}\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=\"utf-8\"\nContent-Transfer-Encoding: quoted-printable\n\n${body}"
    )

    def __init__(self, sender: str):
        # A "$" in the sender's name is text, not a placeholder of the compiled template.
        self.template = string.Template(self.SHAPE.safe_substitute(sender=header("From", sender).replace("$", "$$")))

    def render(self, to: str, subject: str, body: str, message_id: str) -> bytes:
        return self.template.substitute(
            to=header("To", to), subject=header("Subject", subject),
            date=format_datetime(datetime.now(timezone.utc)), message_id=message_id, body=quoted_printable(body),
        ).encode("ascii")


class Notifier:
    def __init__(self, transport: Transport, sender: str):
        self.transport = transport
        self.sender = sender
        self.envelope_sender = parseaddr(sender)[1] or sender
        self.template = MessageTemplate(sender)

    def send(self, to: str, subject: str, body: str, message_id: str) -> None:
        """Send one plain-text message; ``message_id`` (an event id) makes its Message-ID."""
        header_id = f"<{_message_id_part(message_id)}@rebuilding>"
        data = self.template.render(to, subject, body, header_id)
        self.transport.deliver(Outgoing(self.envelope_sender, to, header_id, data))


def _message_id_part(message_id: str) -> str:
    """``message_id`` itself if a Message-ID may hold it, else a digest that is as stable."""
    if _MESSAGE_ID.fullmatch(message_id):
        return message_id
    return hashlib.sha256(message_id.encode()).hexdigest()[:32]


def notifier_from_config() -> Notifier:
    url = smtp_url()
    if url:
        transport: Transport = SmtpTransport(SmtpSettings.from_url(url))
    else:
        transport = MaildirTransport(config.state_dir() / "mail")
    return Notifier(transport, mail_from())


class MailFollower(Projection):
    """A follower of a service's own log that sends e-mail: the base of every service's mail.

    It runs after the events are saved, never in the command that saves them, and in the
    service's mail sender (``MailSender``), never in the service's own process. A crash
    between sending and committing its position sends again: at least once, with a
    Message-ID made from the event id, so a mail client drops the duplicate. Mail sent
    cannot be unsent, so an operator's rebuild passes it by and a reset forgets nothing.
    """

    rebuildable = False
    runs_in = "mail"
    pipelined = False

    def __init__(self, datastore):
        super().__init__(datastore)
        self.notifier = notifier_from_config()

    def reset(self, cursor) -> None:
        """Mail sent cannot be unsent: an operator's rebuild leaves this follower where it is."""

    def apply(self, step, envelopes) -> int:
        # Never behind what it has recorded, even if handed an older step: a resend is a second e-mail.
        step.last = max(step.last, self._max_tracking_id(step.upstream, step.cursor) or 0)
        return super().apply(step, envelopes)


class MailSender(loops.Loop):
    """``rebuilding mail <service>``: the service's mail followers, in a process of their own.

    It follows the service's own log, from the positions its mail followers recorded (the
    same tracking tables as ever), and sends as they did. Two mail senders of one service
    send each message once: each batch of a follower runs in a transaction that holds the
    follower's advisory lock (``rebuilding.views.Checkpoint.step``), so the second waits and
    then finds the batch done. A follower that fails (the SMTP server refuses) keeps its
    position, retries with back-off and shows in the service's health; the loop itself rides
    out database outages and records a heartbeat (``mail_heartbeats``) as relays do.
    """

    what = "mail sender"

    def __init__(self, app, instance: str | None = None):
        if not app.mail_followers():
            raise SystemExit(f"{app.name} sends no mail: it has no mail follower")
        super().__init__(app, app.mail_heartbeats, instance)
        self.followers = Followers(app, app.mail_followers(), app.projection_health)

    def step(self, poll_interval: float) -> None:
        """One round: a heartbeat when one is due, the next batch of each follower behind, or a wait."""
        self.beat_if_due()
        if not self.followers.round():
            self.wakeup.wait(min(self.followers.idle_seconds(poll_interval), self.until_next_beat()), self._stop)


def serve(application_classes, stop) -> int:
    """Send the mail of each service in a thread of its own until ``stop`` is set: ``rebuilding.loops.serve``."""
    return loops.serve(application_classes, stop, MailSender)
