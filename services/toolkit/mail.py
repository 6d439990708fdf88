"""Telling a proposer what staff decided: a follower of the toolkit's own log that sends mail.

As labs' enrolment mail (``services/labs/mail.py``): it runs after the events are saved,
at least once, with the event id as Message-ID, so a mail client drops a duplicate.
"""

from rebuilding.mail import SIGNATURE, MailFollower
from services.toolkit.domain import KIND_NAMES


def proposal_message(outcome: str, person_name: str, title: str, details: dict) -> tuple[str, str]:
    """The Italian subject and body telling ``person_name`` whether their proposal was published."""
    if outcome == "published":
        subject = f"Proposta pubblicata: {title}"
        text = (f"la Sua proposta «{title}» è stata pubblicata nella cassetta degli attrezzi "
                f"({KIND_NAMES.get(details.get('kind'), 'documento')}, versione {details['version']}).\n\n"
                "Grazie per averla condivisa con gli altri partecipanti.")
    elif outcome == "rejected":
        subject = f"Proposta non accolta: {title}"
        text = (f"la Sua proposta «{title}» non è stata accolta nella cassetta degli attrezzi, "
                f"per questo motivo:\n\n{details['reason']}")
    else:
        raise ValueError(f"unknown proposal outcome {outcome!r}")
    return subject, f"Gentile {person_name},\n\n{text}\n\n{SIGNATURE}\n"


class ProposalMail(MailFollower):
    name = "proposal_mail"
    source = "toolkit"
    tables = ("CREATE TABLE IF NOT EXISTS {schema}.mail_proposals ("
              " id uuid PRIMARY KEY, proposer text NOT NULL, title text NOT NULL, kind text)",)

    def on_proposal_submitted(self, cursor, event):
        data = event["data"]
        title = data["fields"].get("title") or data["file"]["filename"]
        self.execute(cursor, "INSERT INTO {schema}.mail_proposals VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                     (event["subject"], data["proposer"], title, data["fields"].get("kind")))

    def on_proposal_published(self, cursor, event):
        self._tell(cursor, event, "published", version=event["data"]["version"])

    def on_proposal_rejected(self, cursor, event):
        self._tell(cursor, event, "rejected", reason=event["data"]["reason"])

    def _tell(self, cursor, event, outcome, **details):
        self.execute(cursor, "SELECT p.name, p.email, m.title, m.kind FROM {schema}.mail_proposals m"
                             " JOIN {schema}.toolkit_people p ON p.id = m.proposer WHERE m.id = %s",
                     (event["subject"],))
        found = cursor.fetchone()
        if found is None:
            return  # a proposer the registry does not know (a staff account) has no address to write to
        subject, body = proposal_message(outcome, found["name"], found["title"], {"kind": found["kind"], **details})
        self.notifier.send(found["email"], subject, body, event["id"])
