"""The registry's aggregates: who is who and where in Lombardy's social welfare planning.

A Comune holds its own membership of an Ambito, and an e-mail address is held by
a claim whose id derives from the address: the event store's optimistic
concurrency then keeps a Comune in one Ambito and an e-mail with one person,
across any number of service instances.
"""

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from rebuilding.errors import Conflict, Refused
from services.registry.territory import ATS_NAMES, possible_ats

ATS_CODES = tuple(ATS_NAMES)

_NAMESPACE = uuid5(NAMESPACE_URL, "https://rebuilding.anci.lombardia.it/registry")

ROLE_ORGANISATIONS = {
    "responsabile_ufficio_di_piano": {"ufficio_di_piano"},
    "responsabile_servizi_sociali": {"comune", "ufficio_di_piano"},
    "operatore": {"ufficio_di_piano", "comune", "ats", "cpi"},
    "referente_ats": {"ats"},
    "referente_cpi": {"cpi"},
    "staff_anci": {"anci"},
}
ROLES = tuple(ROLE_ORGANISATIONS)
ORGANISATION_KINDS = ("ufficio_di_piano", "comune", "ats", "cpi", "anci")


def comune_id(istat_code: str) -> UUID:
    return uuid5(_NAMESPACE, f"comune/{istat_code}")


def imported_ambito_id(ats: str, name: str) -> UUID:
    """The id of an Ambito first named by an imported mapping, so re-imports find it again."""
    return uuid5(_NAMESPACE, f"ambito/{ats}/{name.strip().casefold()}")


def email_claim_id(email: str) -> UUID:
    return uuid5(_NAMESPACE, f"email/{email.strip().casefold()}")


class Comune(Aggregate):
    """A Comune from the ISTAT file, with its ATS and its Ambito, if any."""

    @staticmethod
    def create_id(istat_code: str) -> UUID:
        return comune_id(istat_code)

    @event("Registered")
    def __init__(self, istat_code: str, name: str, province_abbr: str, province_name: str,
                 population: int, piccolo: bool, ats: str | None, ats_provisional: bool):
        self.istat_code = istat_code
        self.name = name
        self.province_abbr = province_abbr
        self.province_name = province_name
        self.population = population
        self.piccolo = piccolo
        self.ats = ats
        self.ats_provisional = ats_provisional
        self.ambito_id = None

    def assign(self, ambito_id: str, move: bool = False) -> bool:
        """Join an Ambito; a Comune in another Ambito joins only when moved. False if already there."""
        if self.ambito_id == ambito_id:
            return False
        if self.ambito_id is not None and not move:
            raise Conflict(
                f"{self.name} ({self.istat_code}) already belongs to Ambito {self.ambito_id}",
                {"reason": "comune_in_another_ambito", "istat_code": self.istat_code, "ambito_id": self.ambito_id},
            )
        self._assigned(ambito_id=ambito_id, previous_ambito_id=self.ambito_id, istat_code=self.istat_code)
        return True

    def unassign(self) -> None:
        if self.ambito_id is None:
            raise Refused(f"{self.name} ({self.istat_code}) is in no Ambito", {"reason": "not_assigned"})
        self._unassigned(ambito_id=self.ambito_id, istat_code=self.istat_code)

    def confirm_ats(self, ats: str) -> bool:
        """Take the ATS an authoritative mapping gives; False if nothing changes."""
        if ats not in possible_ats(self.province_abbr):
            raise Refused(
                f"{self.name} ({self.province_abbr}) cannot belong to ATS {ats}",
                {"reason": "ats_mismatch", "istat_code": self.istat_code},
            )
        if ats == self.ats and not self.ats_provisional:
            return False
        self._ats_confirmed(ats=ats, istat_code=self.istat_code)
        return True

    @event("Assigned")
    def _assigned(self, ambito_id: str, previous_ambito_id: str | None, istat_code: str):
        self.ambito_id = ambito_id

    @event("Unassigned")
    def _unassigned(self, ambito_id: str, istat_code: str):
        self.ambito_id = None

    @event("AtsConfirmed")
    def _ats_confirmed(self, ats: str, istat_code: str):
        self.ats = ats
        self.ats_provisional = False


class Ambito(Aggregate):
    """An Ambito territoriale: Comuni that plan social welfare through one Ufficio di Piano.

    The Ufficio di Piano is the Ambito's own office, led by its capofila Comune.
    Membership lives on the Comuni. The id is given: a new one for an Ambito
    created by hand, one derived from ATS and name for an imported one.
    """

    @event("Created")
    def __init__(self, id: UUID, name: str, ats: str, capofila_istat: str | None = None):  # noqa: A002
        self.name = name
        self.ats = ats
        self.capofila_istat = capofila_istat
        self.dissolved = False
        self.merged_into = None

    @property
    def active(self) -> bool:
        return not self.dissolved and self.merged_into is None

    @property
    def ufficio_di_piano(self) -> str:
        return ufficio_di_piano_name(self.name)

    def require_active(self) -> None:
        if not self.active:
            raise Refused(f"Ambito {self.name} is closed", {"reason": "ambito_closed", "ambito_id": str(self.id)})

    def rename(self, name: str) -> None:
        self.require_active()
        if name != self.name:
            self._renamed(name=name)

    def change_capofila(self, capofila: Comune) -> bool:
        self.require_active()
        if capofila.ambito_id != str(self.id):
            raise Refused(f"{capofila.name} is not a Comune of this Ambito", {"reason": "capofila_not_member"})
        if capofila.istat_code == self.capofila_istat:
            return False
        self._capofila_changed(capofila_istat=capofila.istat_code)
        return True

    def take_in(self, istat_codes: list[str]) -> None:
        """Record the Comuni that joined. It changes the Ambito itself, so an assignment
        that races a merge or a dissolution of this Ambito conflicts with it and is decided
        again, instead of leaving a Comune in a closed Ambito."""
        self.require_active()
        if istat_codes:
            self._comuni_joined(istat_codes=list(istat_codes))

    def dissolve(self) -> None:
        self.require_active()
        self._dissolved()

    def merge_into(self, other: "Ambito") -> None:
        self.require_active()
        other.require_active()
        if other.id == self.id:
            raise Refused("an Ambito cannot be merged into itself", {"reason": "same_ambito"})
        if other.ats != self.ats:
            raise Refused("Ambiti of different ATS cannot merge", {"reason": "ats_mismatch"})
        self._merged(into_ambito_id=str(other.id))

    @event("ComuniJoined")
    def _comuni_joined(self, istat_codes: list[str]):
        pass

    @event("Renamed")
    def _renamed(self, name: str):
        self.name = name

    @event("CapofilaChanged")
    def _capofila_changed(self, capofila_istat: str):
        self.capofila_istat = capofila_istat

    @event("Dissolved")
    def _dissolved(self):
        self.dissolved = True

    @event("Merged")
    def _merged(self, into_ambito_id: str):
        self.merged_into = into_ambito_id


def ufficio_di_piano_name(ambito_name: str) -> str:
    return f"Ufficio di Piano – {ambito_name}"


def require_ats_match(comune: Comune, ambito: Ambito) -> None:
    if comune.ats != ambito.ats:
        raise Refused(
            f"{comune.name} is in ATS {comune.ats}, Ambito {ambito.name} in ATS {ambito.ats}",
            {"reason": "ats_mismatch", "istat_code": comune.istat_code},
        )


def require_role_fits(role: str, organisation: dict) -> None:
    if organisation["kind"] not in ROLE_ORGANISATIONS[role]:
        raise Refused(
            f"a {role} cannot work for a {organisation['kind']}",
            {"reason": "role_not_in_organisation", "role": role, "organisation": organisation["kind"]},
        )


class Person(Aggregate):
    """Someone who works for an organisation of the programme, in one role.

    ``organisation`` is ``{kind, name, ambito_id, comune_istat, ats}`` as the
    registry knew it when the event happened.
    """

    @classmethod
    def register(cls, name: str, email: str, role: str, organisation: dict) -> "Person":
        require_role_fits(role, organisation)
        return cls(name=name, email=email, role=role, organisation=organisation)

    @event("Registered")
    def __init__(self, name: str, email: str, role: str, organisation: dict):
        self.name = name
        self.email = email
        self.role = role
        self.organisation = organisation

    def change(self, role: str | None = None, organisation: dict | None = None) -> None:
        """Change role, organisation or both; the pair that results must fit."""
        require_role_fits(role or self.role, organisation or self.organisation)
        if role and role != self.role:
            self._role_changed(role=role)
        if organisation and organisation != self.organisation:
            self._organisation_changed(organisation=organisation)

    @event("RoleChanged")
    def _role_changed(self, role: str):
        self.role = role

    @event("OrganisationChanged")
    def _organisation_changed(self, organisation: dict):
        self.organisation = organisation


class EmailClaim(Aggregate):
    """An e-mail address, held by one person: its id derives from the address."""

    @staticmethod
    def create_id(email: str) -> UUID:
        return email_claim_id(email)

    @event("Claimed")
    def __init__(self, email: str, person_id: str):
        self.person_id = person_id


def token_revocation_id(jti: str) -> UUID:
    return uuid5(_NAMESPACE, f"token/{jti}")


class TokenRevocation(Aggregate):
    """A bearer token refused before it expires, named by its ``jti``: its id derives from it,
    so a token is revoked once however many instances are asked at once."""

    @staticmethod
    def create_id(jti: str) -> UUID:
        return token_revocation_id(jti)

    @event("Revoked")
    def __init__(self, jti: str, reason: str, revoked_by: str):
        self.jti = jti
        self.reason = reason
        self.revoked_by = revoked_by
