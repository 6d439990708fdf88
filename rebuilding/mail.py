"""The platform's one way of sending e-mail: every service's mail followers use it.

Mail goes out by SMTP when REBUILDING_SMTP_URL is set, and otherwise into a maildir
in the state directory, so that a fresh machine needs no mail server.
"""

import hashlib
import os
import re
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from rebuilding import config
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


class Transport(Protocol):
    def deliver(self, message: EmailMessage) -> None: ...


class SmtpTransport:
    def __init__(self, settings: SmtpSettings, timeout: float = 30.0):
        self.settings = settings
        self.timeout = timeout

    def deliver(self, message: EmailMessage) -> None:
        s = self.settings
        with smtplib.SMTP(s.host, s.port, timeout=self.timeout) as smtp:
            if s.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.user:
                smtp.login(s.user, s.password)
            smtp.send_message(message)


class MaildirTransport:
    """Keeps each message once in a maildir, however often the same Message-ID is sent.

    ``Maildir.add`` names every message afresh, so a resend would be a second copy.
    Here the file name comes from the Message-ID, and the message enters ``new/`` by a
    hard link, which fails if the name is already there: even two concurrent senders
    store it once. A message a mail reader has since moved to ``cur/`` (as ``key:2,flags``)
    is found by its name too. Looking files up by name, rather than listing the box,
    keeps a send as fast with a thousand messages stored as with none.
    """

    def __init__(self, path: Path):
        self.path = Path(path)

    def deliver(self, message: EmailMessage) -> None:
        for folder in ("tmp", "new", "cur"):  # Maildir(create=True) skips a directory that exists
            (self.path / folder).mkdir(parents=True, exist_ok=True)
        key = "rebuilding." + hashlib.sha256(message["Message-ID"].encode()).hexdigest()[:32]
        if (self.path / "new" / key).exists() or any((self.path / "cur").glob(f"{key}*")):
            return
        temporary = self.path / "tmp" / f"{key}.{os.getpid()}"
        temporary.write_bytes(message.as_bytes())
        try:
            os.link(temporary, self.path / "new" / key)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()


class Notifier:
    def __init__(self, transport: Transport, sender: str):
        self.transport = transport
        self.sender = sender

    def send(self, to: str, subject: str, body: str, message_id: str) -> None:
        """Send one plain-text message; ``message_id`` (an event id) makes its Message-ID."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime.now(timezone.utc))
        message["Message-ID"] = f"<{_message_id_part(message_id)}@rebuilding>"
        message.set_content(body)
        self.transport.deliver(message)


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

    It runs after the events are saved, never in the command that saves them. A crash
    between sending and committing its position sends again: at least once, with a
    Message-ID made from the event id, so a mail client drops the duplicate. Mail sent
    cannot be unsent, so an operator's rebuild passes it by and a reset forgets nothing.
    """

    rebuildable = False

    def __init__(self, datastore):
        super().__init__(datastore)
        self.notifier = notifier_from_config()

    def reset(self, cursor) -> None:
        """Mail sent cannot be unsent: an operator's rebuild leaves this follower where it is."""

    def apply(self, step, envelopes) -> int:
        # Never behind what it has recorded, even if handed an older step: a resend is a second e-mail.
        step.last = max(step.last, self._max_tracking_id(step.upstream, step.cursor) or 0)
        return super().apply(step, envelopes)
