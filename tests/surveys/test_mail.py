"""Invitations and reminders by e-mail, from the follower of surveys' log, into the maildir."""

import email
import mailbox
from email import policy

import pytest

from services.surveys.application import SurveysApplication
from tests.surveys.conftest import THEMES, needs_assessment, settle_surveys

pytestmark = pytest.mark.integration


@pytest.fixture
def mailed(tmp_path, monkeypatch, database):
    """A surveys application whose mail follower writes to a maildir of this test's own."""
    monkeypatch.setenv("REBUILDING_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("REBUILDING_SMTP_URL", raising=False)
    app = SurveysApplication()
    yield app, tmp_path / "mail"
    app.close()


def inbox(maildir) -> dict[str, list]:
    box = {}
    for message in mailbox.Maildir(maildir, create=False):
        parsed = email.message_from_bytes(message.as_bytes(), policy=policy.default)
        box.setdefault(parsed["To"], []).append(parsed)
    return box


def test_invitations_go_to_every_head_and_reminders_only_to_those_who_have_not_answered(
        mailed, registry, territory):
    surveys, maildir = mailed
    # Invitations go to the heads surveys knows when its mail follower reads each Opened event: send
    # what earlier tests' surveys left unsent (no mail sender ran for them) before this test's heads exist.
    settle_surveys(surveys, registry)
    heads = []
    for _ in range(3):
        ambito = territory.ambito("bergamo")
        heads.append((ambito, territory.person(ambito)))
    settle_surveys(surveys, registry)
    emails = [surveys.registry.person(head)["email"] for _, head in heads]

    survey_id = surveys.create_survey(needs_assessment(title="DEMO – Fabbisogni per la posta"))["id"]
    surveys.transition(survey_id, "open")
    settle_surveys(surveys, registry)
    invited = inbox(maildir)
    for address in emails:
        [invitation] = invited[address]
        assert invitation["Subject"] == "Questionario: DEMO – Fabbisogni per la posta"
        assert "responsabile dell'Ufficio di Piano" in invitation.get_content()
        assert "2026-02-10" in invitation.get_content()

    surveys.respond(survey_id, {"priorita": THEMES}, ambito=heads[0][0], person=heads[0][1])
    sent = surveys.send_reminders(survey_id)
    assert sent["reminded"] >= 2
    settle_surveys(surveys, registry)
    settle_surveys(surveys, registry)  # a second pass sends nothing again: at least once, by Message-ID
    reminded = inbox(maildir)
    assert [m["Subject"] for m in reminded[emails[0]]] == ["Questionario: DEMO – Fabbisogni per la posta"]
    for address in emails[1:]:
        subjects = sorted(m["Subject"] for m in reminded[address])
        assert subjects == ["Promemoria: questionario DEMO – Fabbisogni per la posta",
                            "Questionario: DEMO – Fabbisogni per la posta"]
