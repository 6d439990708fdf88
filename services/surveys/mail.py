"""Invitations and reminders: a follower of surveys' own log that sends mail through ``rebuilding.mail``.

At least once, as labs' mail: a crash between sending and committing its position sends
again, with the same Message-ID (the event id and the recipient), which mail clients
use to drop the duplicate. The recipients of an invitation are those surveys knows
when the follower reads the ``Opened`` event; a reminder's are named in its event:
only those who had not answered.
"""

from psycopg.types.json import Jsonb

from rebuilding.mail import SIGNATURE, MailFollower

HEADS = (
    "SELECT p.id, p.name, p.email FROM {schema}.known_people p"
    " WHERE p.role = 'responsabile_ufficio_di_piano' AND p.organisation->>'ambito_id' = ANY(%s)"
)
PEOPLE = "SELECT p.id, p.name, p.email FROM {schema}.known_people p WHERE p.id = ANY(%s)"


def invitation(name: str, title: str, closes: str, for_ambito: bool) -> tuple[str, str]:
    who = "per il Suo Ambito territoriale, in qualità di responsabile dell'Ufficio di Piano" if for_ambito \
        else "in qualità di partecipante ai laboratori del programma"
    return (f"Questionario: {title}",
            f"Gentile {name},\n\nLa invitiamo a compilare il questionario «{title}» {who}.\n"
            f"Il questionario resta aperto fino al {closes}; potrà modificare le risposte fino alla chiusura.\n\n"
            f"{SIGNATURE}\n")


def reminder(name: str, title: str, closes: str) -> tuple[str, str]:
    return (f"Promemoria: questionario {title}",
            f"Gentile {name},\n\nnon risulta ancora una risposta al questionario «{title}».\n"
            f"Le ricordiamo che resta aperto fino al {closes}.\n\n{SIGNATURE}\n")


class SurveyMail(MailFollower):
    name = "survey_mail"
    source = "surveys"
    tables = ("CREATE TABLE IF NOT EXISTS {schema}.mail_surveys ("
              " id uuid PRIMARY KEY, title text NOT NULL, closes text NOT NULL, audience jsonb NOT NULL)",)

    def on_survey_created(self, cursor, event):
        d = event["data"]
        self.execute(cursor, "INSERT INTO {schema}.mail_surveys VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                     (event["subject"], d["title"], d["closes"], Jsonb(d["audience"])))

    def on_survey_revised(self, cursor, event):
        changes = event["data"]["changes"]
        for key in ("title", "closes", "audience"):
            if key in changes:
                value = Jsonb(changes[key]) if key == "audience" else changes[key]
                self.execute(cursor, f"UPDATE {{schema}}.mail_surveys SET {key} = %s WHERE id = %s",
                             (value, event["subject"]))

    def _survey(self, cursor, event) -> dict | None:
        self.execute(cursor, "SELECT title, closes, audience FROM {schema}.mail_surveys WHERE id = %s",
                     (event["subject"],))
        return cursor.fetchone()

    def on_survey_opened(self, cursor, event):
        survey = self._survey(cursor, event)
        if survey is None:
            return
        if survey["audience"]["type"] == "ambiti":
            self.execute(cursor, "SELECT id::text FROM {schema}.known_ambiti WHERE active", ())
            people = self._heads(cursor, [r["id"] for r in cursor.fetchall()])
        else:
            self.execute(cursor, "SELECT DISTINCT person_id FROM {schema}.lab_participants"
                                 " WHERE status = 'confirmed' AND lab_id::text = ANY(%s)", (survey["audience"]["labs"],))
            people = self._people(cursor, [r["person_id"] for r in cursor.fetchall()])
        for person in people:
            subject, body = invitation(person["name"], survey["title"], survey["closes"],
                                       survey["audience"]["type"] == "ambiti")
            self.notifier.send(person["email"], subject, body, f"{event['id']}.{person['id']}")

    def on_survey_reminders_sent(self, cursor, event):
        survey = self._survey(cursor, event)
        if survey is None:
            return
        recipients = event["data"]["recipients"]
        people = self._heads(cursor, recipients) if survey["audience"]["type"] == "ambiti" \
            else self._people(cursor, recipients)
        for person in people:
            subject, body = reminder(person["name"], survey["title"], survey["closes"])
            self.notifier.send(person["email"], subject, body, f"{event['id']}.{person['id']}")

    def _heads(self, cursor, ambiti: list[str]) -> list[dict]:
        self.execute(cursor, HEADS, (ambiti,))
        return list(cursor.fetchall())

    def _people(self, cursor, ids: list[str]) -> list[dict]:
        self.execute(cursor, PEOPLE, (ids,))
        return list(cursor.fetchall())
