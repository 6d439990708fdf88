"""Telling people what became of their enrolment: a follower of labs' own log that sends mail.

It runs after the events are saved, never in the command that saves them. A crash
between sending and committing its position sends the mail again: at least once,
with the event id as Message-ID, so a mail client can drop the duplicate.
"""

from rebuilding.mail import MailFollower
from services.labs.notifications import enrolment_message


class EnrolmentMail(MailFollower):
    name = "enrolment_mail"
    source = "labs"
    tables = ("CREATE TABLE IF NOT EXISTS {schema}.mail_labs (id uuid PRIMARY KEY, title text NOT NULL)",)

    def on_lab_created(self, cursor, event):
        self.execute(cursor, "INSERT INTO {schema}.mail_labs VALUES (%s, %s) ON CONFLICT (id) DO NOTHING",
                     (event["subject"], event["data"]["title"]))

    def on_lab_enrolment_confirmed(self, cursor, event):
        self._tell(cursor, event, event["data"]["person_id"], "confirmed")

    def on_lab_enrolment_waitlisted(self, cursor, event):
        self._tell(cursor, event, event["data"]["person_id"], "waitlisted", position=event["data"]["position"])

    def on_lab_enrolment_promoted(self, cursor, event):
        self._tell(cursor, event, event["data"]["person_id"], "promoted")

    def on_lab_enrolment_refused(self, cursor, event):
        self._tell(cursor, event, event["data"]["person_id"], "refused", reason=event["data"]["reason"])

    def on_lab_enrolment_withdrawn(self, cursor, event):
        self._tell(cursor, event, event["data"]["person_id"], "withdrawn")

    def on_lab_cancelled(self, cursor, event):
        for person_id in event["data"]["participants"]:
            self._tell(cursor, event, person_id, "cancelled", message_id=f"{event['id']}.{person_id}")

    def _tell(self, cursor, event, person_id, outcome, message_id=None, **details):
        self.execute(
            cursor,
            "SELECT p.name, p.email, l.title FROM {schema}.known_people p, {schema}.mail_labs l"
            " WHERE p.id = %s AND l.id = %s",
            (person_id, event["subject"]),
        )
        found = cursor.fetchone()
        if found is None:
            return  # someone labs knows nothing of has no address to write to
        subject, body = enrolment_message(outcome, found["name"], found["title"], details)
        self.notifier.send(found["email"], subject, body, message_id or event["id"])
