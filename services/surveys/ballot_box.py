"""Where an anonymous survey's answers wait for its close: outside the log, written with its events.

``SurveysRecorder`` is the platform's recorder (events and command outcomes in one
transaction) that also writes ``Application.save(..., seal=[SealedBallot])`` and
``release=<survey id>`` in that same transaction: a sealed answer is stored if and only
if the event that records its respondent's participation is. A sealed ballot holds its
key (the SHA-256 of a secret only the respondent has), its versions, and no person and
no time; ``release`` deletes a survey's ballots as the close writes them to the log.
"""

from psycopg.sql import SQL, Identifier, Literal
from psycopg.types.json import Jsonb

from rebuilding.idempotency import WITHHELD, OutcomeRecorder
from services.surveys.domain import SealedBallot


class SurveysRecorder(OutcomeRecorder):
    sealed_table = "sealed_ballots"

    def __init__(self, datastore, **kwargs):
        super().__init__(datastore, **kwargs)
        table = SQL("{}.{}").format(Identifier(self.datastore.schema), Identifier(self.sealed_table))
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {table} ("
            " key text PRIMARY KEY, survey_id text NOT NULL, versions jsonb NOT NULL, labs jsonb NOT NULL, ats text)"
        ).format(table=table))
        # Before anonymous answers were withheld from the record of requests, their rows named the caller beside
        # the answers and the secret: a start of the service removes any such row it finds.
        self.sql_create_statements.append(SQL("DELETE FROM {} WHERE caller <> {} AND outcome LIKE {}").format(
            Identifier(self.datastore.schema, self.outcomes_table), Literal(WITHHELD), Literal('%"anonymous": true%')))
        self._seal = SQL(
            "INSERT INTO {} VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (key) DO UPDATE SET versions = {}.versions || EXCLUDED.versions").format(table, table)
        self._release = SQL("DELETE FROM {} WHERE survey_id = %s").format(table)
        self._select = SQL("SELECT key, survey_id, versions, labs, ats FROM {} WHERE survey_id = %s").format(table)
        self._select_one = self._select + SQL(" AND key = %s")

    def _insert_stored_events(self, curs, stored_events, *, seal=(), release=None, **kwargs) -> None:
        super()._insert_stored_events(curs, stored_events, **kwargs)
        cursor = curs.connection.cursor()  # ``curs`` still has the events' ids to give
        for ballot in seal:
            cursor.execute(self._seal, (ballot.key, ballot.survey_id, Jsonb([ballot.answers]), Jsonb(ballot.labs),
                                        ballot.ats))
        if release is not None:
            cursor.execute(self._release, (release,))

    @staticmethod
    def _ballot(row) -> SealedBallot:
        versions = row["versions"]
        return SealedBallot(row["survey_id"], row["key"], versions[-1], row["labs"], row["ats"], tuple(versions[:-1]))

    def sealed(self, survey_id: str) -> list[SealedBallot]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._select, (survey_id,))
            return [self._ballot(row) for row in curs.fetchall()]

    def sealed_ballot(self, survey_id: str, key: str) -> SealedBallot | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._select_one, (survey_id, key))
            row = curs.fetchone()
            return self._ballot(row) if row else None
