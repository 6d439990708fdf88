"""The labs' aggregates: one Lab per laboratorio, with its seats and enrolments."""

from eventsourcing.domain import Aggregate, event

from rebuilding.errors import Conflict


class Lab(Aggregate):
    @event("Created")
    def __init__(self, title: str, ats: str, capacity: int):
        self.title = title
        self.ats = ats
        self.capacity = capacity
        self.confirmed: list[str] = []

    def enrol(self, person_id: str, ambito_id: str) -> None:
        if person_id in self.confirmed:
            raise Conflict(f"{person_id} is already enrolled in this lab", {"reason": "duplicate"})
        self._confirm(person_id=person_id, ambito_id=ambito_id)

    @event("EnrolmentConfirmed")
    def _confirm(self, person_id: str, ambito_id: str) -> None:
        self.confirmed.append(person_id)
