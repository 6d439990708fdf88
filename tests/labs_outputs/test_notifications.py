"""The enrolment e-mails: their Italian texts, the maildir and a real SMTP exchange."""

import email
import mailbox
import re
from email import policy

import pytest

from rebuilding.mail import MaildirTransport, SmtpSettings, notifier_from_config
from services.labs.notifications import enrolment_message
from tests.support import SmtpSink

EVENT_ID = "0b6f3c1e-6a2d-4b8e-9a57-3f1d2c4e5a60"


@pytest.fixture
def maildir_config(tmp_path, monkeypatch):
    monkeypatch.setenv("REBUILDING_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("REBUILDING_SMTP_URL", raising=False)
    monkeypatch.delenv("REBUILDING_MAIL_FROM", raising=False)
    return tmp_path / "mail"


def test_without_an_smtp_url_mail_lands_in_the_state_directory_maildir(maildir_config):
    notifier_from_config().send("anna.bianchi@comune.example.it", "Oggetto", "Testo", EVENT_ID)

    messages = list(mailbox.Maildir(maildir_config, create=False))
    assert len(messages) == 1
    message = email.message_from_bytes(messages[0].as_bytes(), policy=policy.default)
    assert message["From"] == "rebuilding@localhost"
    assert message["To"] == "anna.bianchi@comune.example.it"
    assert message["Subject"] == "Oggetto"
    assert message["Message-ID"] == f"<{EVENT_ID}@rebuilding>"
    assert message["Date"].datetime is not None
    assert message.get_content().strip() == "Testo"


def test_the_maildir_keeps_one_message_per_message_id_even_when_sent_twice(maildir_config):
    notifier = notifier_from_config()
    notifier.send("a@example.it", "Primo", "uno", EVENT_ID)
    notifier.send("a@example.it", "Primo", "uno", EVENT_ID)
    notifier.send("a@example.it", "Secondo", "due", "another-event")

    subjects = sorted(m["Subject"] for m in mailbox.Maildir(maildir_config, create=False))
    assert subjects == ["Primo", "Secondo"]


def test_a_message_a_reader_has_moved_to_cur_is_not_delivered_again(maildir_config):
    notifier = notifier_from_config()
    notifier.send("a@example.it", "Primo", "uno", EVENT_ID)
    box = mailbox.Maildir(maildir_config, create=False)
    (key,) = box.keys()
    message = box[key]
    message.set_subdir("cur")
    message.add_flag("S")
    box[key] = message
    assert list((maildir_config / "new").iterdir()) == []

    notifier.send("a@example.it", "Primo", "uno", EVENT_ID)

    assert len(mailbox.Maildir(maildir_config, create=False)) == 1


def test_italian_text_survives_the_round_trip_through_the_maildir(maildir_config, monkeypatch):
    monkeypatch.setenv("REBUILDING_MAIL_FROM", "ANCI Lombardia <rebuilding@anci.example.it>")
    subject, body = enrolment_message("confirmed", "Niccolò Perè", "Città e comunità", {})
    notifier_from_config().send("n.pere@example.it", subject, body, EVENT_ID)

    (stored,) = mailbox.Maildir(maildir_config, create=False)
    message = email.message_from_bytes(stored.as_bytes(), policy=policy.default)
    assert message["From"].addresses[0].addr_spec == "rebuilding@anci.example.it"
    assert message["Subject"] == subject
    assert "Niccolò Perè" in message.get_content()


def test_a_long_italian_subject_and_body_arrive_whole_in_short_seven_bit_lines(maildir_config):
    subject = "Si è liberato un posto: iscrizione confermata a «Città e comunità – co-progettazione dei servizi»"
    body = "Gentile Niccolò,\n\n" + "una riga lunga, più lunga di una riga di posta: " * 12 + "\n.\nfine \n"
    notifier_from_config().send("n.pere@example.it", subject, body, EVENT_ID)

    (path,) = (maildir_config / "new").iterdir()
    raw = path.read_bytes()
    assert raw.isascii() and max(len(line) for line in raw.splitlines()) <= 78
    message = email.message_from_bytes(raw, policy=policy.default)
    assert message["Subject"] == subject
    assert message.get_content() == body


def test_a_line_break_in_a_header_is_refused_and_nothing_is_sent(maildir_config):
    with pytest.raises(ValueError):
        notifier_from_config().send("a@example.it\nBcc: b@example.it", "Oggetto", "Testo", EVENT_ID)
    with pytest.raises(ValueError):
        notifier_from_config().send("a@example.it", "Oggetto\r\nBcc: b@example.it", "Testo", EVENT_ID)
    assert not (maildir_config / "new").exists() or not list((maildir_config / "new").iterdir())


def test_a_senders_name_is_encoded_once_and_kept_as_written(maildir_config, monkeypatch):
    monkeypatch.setenv("REBUILDING_MAIL_FROM", "ANCI Lombardia – Rebuilding $DEMO <rebuilding@anci.example.it>")
    notifier_from_config().send("a@example.it", "Oggetto", "Testo", EVENT_ID)

    (stored,) = mailbox.Maildir(maildir_config, create=False)
    message = email.message_from_bytes(stored.as_bytes(), policy=policy.default)
    assert message["From"].addresses[0].display_name == "ANCI Lombardia – Rebuilding $DEMO"
    assert message["From"].addresses[0].addr_spec == "rebuilding@anci.example.it"


def test_a_message_id_a_header_cannot_hold_becomes_a_stable_digest(tmp_path):
    from rebuilding.mail import Notifier

    notifier = Notifier(MaildirTransport(tmp_path), "rebuilding@localhost")
    notifier.send("a@example.it", "s", "b", "evento <1>@x")
    notifier.send("a@example.it", "s", "b", "evento <1>@x")

    (message,) = mailbox.Maildir(tmp_path, create=False)
    assert re.fullmatch(r"<[0-9a-f]{32}@rebuilding>", message["Message-ID"])


def test_smtp_urls_give_host_port_credentials_and_starttls():
    plain = SmtpSettings.from_url("smtp://mail.example.it:2525")
    assert (plain.host, plain.port, plain.user, plain.starttls) == ("mail.example.it", 2525, "", False)
    secure = SmtpSettings.from_url("smtp+starttls://rebuild%40anci:p%3Ass@mail.example.it")
    assert (secure.port, secure.user, secure.password, secure.starttls) == (587, "rebuild@anci", "p:ss", True)
    with pytest.raises(ValueError):
        SmtpSettings.from_url("http://mail.example.it")


def test_with_an_smtp_url_the_message_reaches_the_smtp_server(tmp_path, monkeypatch):
    sink = SmtpSink()
    monkeypatch.setenv("REBUILDING_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("REBUILDING_SMTP_URL", f"smtp://127.0.0.1:{sink.port}")
    monkeypatch.setenv("REBUILDING_MAIL_FROM", "rebuilding@anci.example.it")
    subject, body = enrolment_message("waitlisted", "Anna Bianchi", "Co-progettazione", {"position": 3})

    notifier_from_config().send("anna.bianchi@comune.example.it", subject, body, EVENT_ID)
    sink.close()

    (envelope,) = sink.envelopes
    assert envelope["from"] == "<rebuilding@anci.example.it>"
    assert envelope["rcpt"] == ["<anna.bianchi@comune.example.it>"]
    message = email.message_from_bytes(envelope["data"], policy=policy.default)
    assert message["Subject"] == subject
    assert message["Message-ID"] == f"<{EVENT_ID}@rebuilding>"
    assert "posizione 3" in message.get_content()
    assert not (tmp_path / "mail").exists()


OUTCOMES = [
    ("confirmed", {}),
    ("waitlisted", {"position": 2}),
    ("promoted", {}),
    ("refused", {"reason": "ineligible"}),
    ("withdrawn", {}),
    ("cancelled", {}),
]


@pytest.mark.parametrize(("outcome", "details"), OUTCOMES)
def test_every_outcome_has_a_subject_and_a_signed_body_naming_person_and_lab(outcome, details):
    subject, body = enrolment_message(outcome, "Anna Bianchi", "Amministrazione condivisa", details)

    assert "Amministrazione condivisa" in subject
    assert "\n" not in subject
    assert body.startswith("Gentile Anna Bianchi,")
    assert "«Amministrazione condivisa»" in body
    assert body.rstrip().endswith("ANCI Lombardia – Progetto Rebuilding")
    assert "http" not in body and "www" not in body


def test_the_outcomes_read_differently():
    subjects = {enrolment_message(o, "A", "L", d)[0] for o, d in OUTCOMES}
    assert len(subjects) == len(OUTCOMES)


def test_a_waitlisted_person_is_told_their_position():
    _, body = enrolment_message("waitlisted", "A", "L", {"position": 4})
    assert "lista d'attesa, in posizione 4" in body


@pytest.mark.parametrize(
    ("reason", "explanation"),
    [
        ("ineligible", "non rientra tra i destinatari"),
        ("closed", "iscrizioni a questo laboratorio sono chiuse"),
        ("duplicate", "risulta già una Sua iscrizione"),
        ("cancelled", "è stato annullato"),
    ],
)
def test_each_refusal_reason_is_explained(reason, explanation):
    subject, body = enrolment_message("refused", "A", "L", {"reason": reason})
    assert subject == "Iscrizione non accolta: L"
    assert explanation in body


@pytest.mark.parametrize(
    ("outcome", "details"),
    [("enrolled", {}), ("refused", {"reason": "full"}), ("refused", {}), ("waitlisted", {})],
)
def test_unknown_outcomes_and_missing_details_are_errors(outcome, details):
    with pytest.raises(ValueError):
        enrolment_message(outcome, "A", "L", details)
