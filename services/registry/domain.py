"""The registry's aggregates: who is who and where in Lombardy's social welfare planning."""

from eventsourcing.domain import Aggregate, event

ATS_CODES = ("milano", "insubria", "brianza", "bergamo", "brescia", "val-padana", "pavia", "montagna")


class Ambito(Aggregate):
    """An Ambito territoriale: Comuni that plan social welfare through one Ufficio di Piano."""

    @event("Created")
    def __init__(self, name: str, ats: str):
        self.name = name
        self.ats = ats
