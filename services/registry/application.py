"""The registry's application: commands on ATS, Ambiti, Comuni and people, and their read models."""

from datetime import datetime
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from rebuilding import auth
from rebuilding.errors import Conflict, Forbidden, NotFound, Refused
from rebuilding.eventstore import ServiceApplication, aggregate_id
from rebuilding.views import catch_up, chunks
from services.registry import mapping
from services.registry.domain import (
    Ambito, Comune, EmailClaim, Person, TokenRevocation, comune_id, email_claim_id, imported_ambito_id,
    require_ats_match, token_revocation_id, ufficio_di_piano_name,
)
from services.registry.projections import Directory, Revocations
from services.registry.territory import ATS_NAMES, ISTAT_CREDIT, SUB_PROVINCIAL_EXCEPTIONS, ats_provinces, read_istat

SAVE_BATCH = 1000
REVOCATION_MEMORY = auth.MAX_TTL_SECONDS + 3600
"""A revoked token is listed for as long as it could live, and an hour to spare for clocks:
it was minted before it was revoked, and no token lives longer than ``auth.MAX_TTL_SECONDS``."""


class RegistryApplication(ServiceApplication):
    name = "registry"
    projection_classes = (Directory, Revocations)

    # Loading aggregates

    def _get(self, cls: type, id_: UUID, what: str):
        try:
            found = self.repository.get(id_)
        except AggregateNotFoundError:
            found = None
        if not isinstance(found, cls):
            raise NotFound(f"no {what} {id_}")
        return found

    def _ambito(self, ambito_id) -> Ambito:
        return self._get(Ambito, aggregate_id(ambito_id, "Ambito"), "Ambito")

    def _comune(self, istat_code: str) -> Comune:
        try:
            return self._get(Comune, comune_id(istat_code), "Comune")
        except NotFound:
            raise NotFound(f"no Comune with ISTAT code {istat_code}") from None

    @property
    def directory(self) -> Directory:
        return self.projection(Directory)

    def _caught_up(self) -> Directory:
        """The directory with every event so far applied: for commands that read it."""
        while catch_up(self, self.directory):
            pass
        return self.directory

    # Seeding

    def seed(self, all_italy: bool = False) -> dict:
        """Register the Comuni of the ISTAT file not yet registered; running it again adds nothing."""
        istat = read_istat(all_italy)
        for attempt in range(5):
            known = self._caught_up().istat_codes()
            new = [
                Comune(istat_code=c.istat_code, name=c.name, province_abbr=c.province_abbr,
                       province_name=c.province_name, population=c.population, piccolo=c.piccolo,
                       ats=c.ats, ats_provisional=c.ats_provisional)
                for c in istat if c.istat_code not in known
            ]
            try:
                for batch in chunks(new, SAVE_BATCH):
                    self.save(*batch)
                return {"registered": len(new), "already_registered": len(istat) - len(new)}
            except IntegrityError:  # another seed ran at once: look again
                continue
        raise Conflict("another seed kept running; try again", {"reason": "busy"})

    # ATS

    def list_ats(self) -> list[dict]:
        counts = self.directory.ats_counts()
        return [self._ats(code, counts.get(code, {})) for code in ATS_NAMES]

    def get_ats(self, code: str) -> dict:
        if code not in ATS_NAMES:
            raise NotFound(f"no ATS {code}")
        return self._ats(code, self.directory.ats_counts().get(code, {}))

    @staticmethod
    def _ats(code: str, counts: dict) -> dict:
        provinces = ats_provinces(code)
        return {
            "code": code,
            "name": ATS_NAMES[code],
            "provinces": provinces,
            "provisional_districts": sorted(SUB_PROVINCIAL_EXCEPTIONS[p] for p in provinces if p in SUB_PROVINCIAL_EXCEPTIONS),
            "ambiti": counts.get("ambiti", 0),
            "comuni": counts.get("comuni", 0),
            "comuni_provisional": counts.get("provisional", 0),
            "piccoli_comuni": counts.get("piccoli", 0),
            "population": counts.get("population", 0),
            "credit": ISTAT_CREDIT,
        }

    # Ambiti

    def create_ambito(self, name: str, ats: str, capofila_istat: str | None = None) -> dict:
        def create():
            ambito = Ambito(id=uuid4(), name=name, ats=ats, capofila_istat=capofila_istat)
            if capofila_istat is None:
                return [ambito], str(ambito.id)
            capofila = self._comune(capofila_istat)
            require_ats_match(capofila, ambito)
            capofila.assign(str(ambito.id))
            return [ambito, capofila], str(ambito.id)

        ambito_id = self.decide(create)
        return {"id": ambito_id, "name": name, "ats": ats, "capofila_istat": capofila_istat}

    def list_ambiti(self, ats: str | None = None) -> list[dict]:
        return self.directory.ambiti(ats)

    def get_ambito(self, ambito_id: str) -> dict:
        ambito = self.directory.ambito(aggregate_id(ambito_id, "Ambito"))
        if ambito is None:
            raise NotFound(f"no Ambito {ambito_id}")
        comuni = self.directory.comuni_of(ambito["id"])
        capofila = next((c for c in comuni if c["istat_code"] == ambito["capofila_istat"]), None)
        return {
            **ambito,
            "ufficio_di_piano": {
                "name": ufficio_di_piano_name(ambito["name"]),
                "capofila": capofila and {"istat_code": capofila["istat_code"], "name": capofila["name"]},
            },
            "comuni": comuni,
            "comuni_count": len(comuni),
            "population": sum(c["population"] for c in comuni),
            "piccoli_comuni": sum(c["piccolo"] for c in comuni),
            "credit": ISTAT_CREDIT,
        }

    def rename_ambito(self, ambito_id: str, name: str) -> None:
        self.change(self._ambito(ambito_id).id, lambda ambito: ambito.rename(name))

    def change_capofila(self, ambito_id: str, istat_code: str) -> None:
        def change():
            ambito = self._ambito(ambito_id)
            ambito.change_capofila(self._comune(istat_code))
            return [ambito], None

        self.decide(change)

    def assign_comuni(self, ambito_id: str, istat_codes: list[str], move: bool = False) -> dict:
        """Put Comuni in an Ambito, all or none; one in another Ambito only if ``move``."""
        def assign():
            ambito = self._ambito(ambito_id)
            ambito.require_active()
            comuni, joined = [], []
            for code in dict.fromkeys(istat_codes):
                comune = self._comune(code)
                require_ats_match(comune, ambito)
                if comune.ambito_id and comune.istat_code == self._capofila_of(comune.ambito_id):
                    raise Refused(f"{comune.name} is the capofila of its Ambito", {"reason": "capofila"})
                if comune.assign(str(ambito.id), move=move):
                    joined.append(code)
                comuni.append(comune)
            ambito.take_in(joined)
            return [ambito, *comuni], joined

        joined = self.decide(assign)
        return {"assigned": joined, "unchanged": [c for c in dict.fromkeys(istat_codes) if c not in joined]}

    def unassign_comune(self, ambito_id: str, istat_code: str) -> None:
        def unassign():
            comune = self._comune(istat_code)
            if comune.ambito_id != str(self._ambito(ambito_id).id):
                raise NotFound(f"{comune.name} is not a Comune of Ambito {ambito_id}")
            if comune.istat_code == self._capofila_of(comune.ambito_id):
                raise Refused(f"{comune.name} is the capofila: choose another first", {"reason": "capofila"})
            comune.unassign()
            return [comune], None

        self.decide(unassign)

    def _capofila_of(self, ambito_id: str) -> str | None:
        return self._ambito(ambito_id).capofila_istat

    def merge_ambito(self, ambito_id: str, into_ambito_id: str) -> dict:
        """Close an Ambito and move its Comuni into another of the same ATS, in one transaction."""
        def merge():
            absorbed, into = self._ambito(ambito_id), self._ambito(into_ambito_id)
            absorbed.merge_into(into)
            members = self._members(absorbed)
            for comune in members:
                comune.assign(str(into.id), move=True)
            into.take_in([c.istat_code for c in members])
            return [absorbed, into, *members], [c.istat_code for c in members]

        moved = self.decide(merge)
        return {"id": into_ambito_id, "moved": moved}

    def dissolve_ambito(self, ambito_id: str) -> dict:
        """Close an Ambito; its Comuni leave it in the same transaction."""
        def dissolve():
            ambito = self._ambito(ambito_id)
            ambito.dissolve()
            members = self._members(ambito)
            for comune in members:
                comune.unassign()
            return [ambito, *members], [c.istat_code for c in members]

        return {"id": ambito_id, "released": self.decide(dissolve)}

    def _members(self, ambito: Ambito) -> list[Comune]:
        comuni = (self._comune(c["istat_code"]) for c in self._caught_up().comuni_of(ambito.id))
        return [c for c in comuni if c.ambito_id == str(ambito.id)]

    def membership_as_of(self, ambito_id: str, moment: datetime) -> dict:
        ambito = self.get_ambito(ambito_id)
        comuni = self.directory.comuni_as_of(ambito["id"], moment)
        return {"id": ambito["id"], "name": ambito["name"], "as_of": moment.isoformat(),
                "comuni": [{**c, "since": c["since"].isoformat(), "until": c["until"] and c["until"].isoformat()}
                           for c in comuni]}

    # Comuni

    def list_comuni(self, **filters) -> dict:
        return {**self.directory.search_comuni(**filters), "credit": ISTAT_CREDIT}

    def get_comune(self, istat_code: str) -> dict:
        comune = self.directory.comune(istat_code)
        if comune is None:
            raise NotFound(f"no Comune with ISTAT code {istat_code}")
        return {**comune, "credit": ISTAT_CREDIT}

    # Import

    def import_mapping(self, text: str) -> dict:
        rows, malformed = mapping.parse(text)

        def apply():
            aggregates, rejected = self._apply_mapping(rows)
            return aggregates, (sum(len(a.pending_events) for a in aggregates), rejected)

        events, rejected = self.decide(apply)
        rejected = sorted(malformed + rejected, key=lambda r: r["line"])
        return {"rows": len(rows) + len(malformed), "applied": len(rows) + len(malformed) - len(rejected),
                "events": events, "rejected": rejected}

    def _apply_mapping(self, rows: list[mapping.Row]) -> tuple[list, list[dict]]:
        """The aggregates the rows change, and the rows rejected; a rejected row changes nothing."""
        comuni, rejected = {}, []
        for row in rows:
            try:
                comuni[row.istat_code] = comuni.get(row.istat_code) or self._comune(row.istat_code)
                comuni[row.istat_code].confirm_ats(row.ats)
            except NotFound:
                rejected.append(mapping.rejection(row.line, row.istat_code, "unknown_code",
                                                  f"no Comune has the ISTAT code {row.istat_code}"))
            except Refused as refusal:
                rejected.append(mapping.rejection(row.line, row.istat_code, refusal.details["reason"], refusal.message))
        valid = [row for row in rows if row.istat_code not in {r["istat_code"] for r in rejected}]
        capofila = {row.ambito_key: row.istat_code for row in valid if row.capofila}
        ambiti, accepted, joined = {}, {}, {}
        for row in valid:
            try:
                ambito = ambiti.get(row.ambito_key) or self._imported_ambito(row, capofila.get(row.ambito_key))
                ambito.require_active()
            except Refused as refusal:
                rejected.append(mapping.rejection(row.line, row.istat_code, refusal.details["reason"], refusal.message))
                continue
            ambiti[row.ambito_key] = ambito
            accepted[row.istat_code] = comuni[row.istat_code]
            if accepted[row.istat_code].assign(str(ambito.id), move=True):
                joined.setdefault(row.ambito_key, []).append(row.istat_code)
        for key, codes in joined.items():
            ambiti[key].take_in(codes)
        for key, code in capofila.items():
            if key in ambiti:
                ambiti[key].change_capofila(accepted[code])
        return [*ambiti.values(), *accepted.values()], rejected

    def _imported_ambito(self, row: mapping.Row, capofila_istat: str | None) -> Ambito:
        """The Ambito a mapping row names: one imported before, one of that name, or a new one."""
        derived = imported_ambito_id(row.ats, row.ambito)
        try:
            return self._get(Ambito, derived, "Ambito")
        except NotFound:
            pass
        named = self._caught_up().active_ambiti_named(row.ats, row.ambito)
        if len(named) == 1:
            return self._ambito(named[0])
        if len(named) > 1:
            raise Refused(f"{len(named)} Ambiti of ATS {row.ats} are named {row.ambito}", {"reason": "ambiguous_ambito"})
        return Ambito(id=derived, name=row.ambito, ats=row.ats, capofila_istat=capofila_istat)

    # People

    def organisation(self, spec: dict) -> dict:
        """An organisation as events record it, with what the registry knows of where it is."""
        kind = spec["kind"]
        found = {"kind": kind, "name": spec.get("name"), "ambito_id": None, "comune_istat": None, "ats": spec.get("ats")}
        if kind == "ufficio_di_piano":
            ambito = self._ambito(spec["ambito_id"])
            ambito.require_active()
            found.update(name=ambito.ufficio_di_piano, ambito_id=str(ambito.id), ats=ambito.ats)
        elif kind == "comune":
            comune = self._comune(spec["comune_istat"])
            found.update(name=f"Comune di {comune.name}", comune_istat=comune.istat_code,
                         ambito_id=comune.ambito_id, ats=comune.ats)
        elif kind == "ats":
            found.update(name=ATS_NAMES[spec["ats"]])
        elif kind == "anci":
            found.update(name="ANCI Lombardia")
        return found

    def _ambito_now(self, organisation: dict) -> str | None:
        """The Ambito an organisation is in today: a Comune may have joined one since."""
        if organisation["kind"] == "comune":
            return self._comune(organisation["comune_istat"]).ambito_id
        return organisation["ambito_id"]

    def register_person(self, name: str, email: str, role: str, organisation: dict) -> dict:
        def register():
            if email_claim_id(email) in self.repository:  # a claim saved at once by another wins: decide again
                raise Conflict(f"{email} belongs to someone already", {"email": ["already registered"]})
            person = Person.register(name=name, email=email, role=role, organisation=self.organisation(organisation))
            return [person, EmailClaim(email=email, person_id=str(person.id))], str(person.id)

        return self.get_person(self.decide(register))

    def change_person(self, person_id: str, role: str | None = None, organisation: dict | None = None,
                      within_ambito: str | None = None) -> dict:
        """Change a person's role or organisation; ``within_ambito`` limits who and where to one Ambito."""
        id_ = aggregate_id(person_id, "person")
        resolved = self.organisation(organisation) if organisation else None

        def command(person: Person):
            if not isinstance(person, Person):
                raise NotFound(f"no person {person_id}")
            if within_ambito is not None:
                for org in (person.organisation, resolved or person.organisation):
                    if self._ambito_now(org) != within_ambito:
                        raise Forbidden("an Ambito's staff change only their own Ambito's people")
            person.change(role=role, organisation=resolved)

        self.change(id_, command)
        return self.get_person(person_id)

    def get_person(self, person_id: str, as_of: datetime | None = None, within_ambito: str | None = None) -> dict:
        """A person as their events tell, up to ``as_of`` if given.

        ``within_ambito`` is the Ambito of a caller who may see only its own people: a person
        whose organisation is not in it today is ``Forbidden``, whatever ``as_of`` says.
        """
        id_ = aggregate_id(person_id, "person")
        events = list(self.events.get(id_))
        if not all(isinstance(e, (Person.Registered, Person.RoleChanged, Person.OrganisationChanged)) for e in events):
            raise NotFound(f"no person {person_id}")
        if within_ambito is not None and events:
            organisation = [e.organisation for e in events if hasattr(e, "organisation")][-1]
            if self._ambito_now(organisation) != within_ambito:
                raise Forbidden(f"{person_id} is not a person of Ambito {within_ambito}")
        person, history = {}, []
        for event in events:
            if as_of is not None and event.timestamp > as_of:
                break
            changes = {k: getattr(event, k) for k in ("name", "email", "role", "organisation") if hasattr(event, k)}
            person.update(changes)
            history.append({"at": event.timestamp.isoformat(), **changes})
        if not person:
            raise NotFound(f"no person {person_id}" + (f" as of {as_of.isoformat()}" if as_of else ""))
        return {"id": str(id_), **person, "history": history} | ({"as_of": as_of.isoformat()} if as_of else {})

    # Bearer tokens revoked before they expire

    @property
    def revocations(self) -> Revocations:
        return self.projection(Revocations)

    def revoke_token(self, jti: str, reason: str, revoked_by: str) -> dict:
        """Record that the token ``jti`` is refused from now on; a token is revoked once."""
        def revoke():
            if token_revocation_id(jti) in self.repository:
                raise Conflict(f"the token {jti} is revoked already", {"jti": ["already revoked"]})
            revocation = TokenRevocation(jti=jti, reason=reason, revoked_by=revoked_by)
            return [revocation], revocation.modified_on.isoformat()

        revoked_at = self.decide(revoke)
        return {"jti": jti, "reason": reason, "revoked_by": revoked_by, "revoked_at": revoked_at}

    def revoked_tokens(self) -> list[str]:
        """The ids of the revoked tokens that could still be alive, with every revocation so far applied."""
        while catch_up(self, self.revocations):
            pass
        return self.revocations.revoked_since(REVOCATION_MEMORY)

    def token_revocations(self) -> list[dict]:
        return [{**r, "revoked_at": r["revoked_at"].isoformat()} for r in self.revocations.all()]
