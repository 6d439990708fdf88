"""Fixtures of the labs tests: the real registry, whose events labs learns, and DEMO people in it."""

import itertools

import pytest

from rebuilding.views import catch_up
from services.labs.application import LabsApplication
from services.registry.application import RegistryApplication
from services.registry.territory import read_istat


@pytest.fixture(scope="session")
def registry(database):
    """The registry's application, with the ISTAT Comuni of Lombardy registered."""
    app = RegistryApplication()
    app.seed()
    yield app
    app.close()


@pytest.fixture
def labs(database):
    """The labs application in this process; ``settle`` stands in for a running service's projector."""
    app = LabsApplication()
    yield app
    app.close()


def settle(labs: LabsApplication) -> None:
    """Bring labs' own read models (and its mail follower) up to its last event."""
    for projection in labs.projections:
        if projection.source == labs.name:
            while catch_up(labs, projection):
                pass


def learn(labs: LabsApplication, registry: RegistryApplication) -> None:
    """Feed labs every registry event it has not seen, as its subscription would."""
    while catch_up(registry, labs.facts):
        pass


_numbers = itertools.count(1)


class Territory:
    """Registers DEMO Ambiti and people in the registry; real Comuni from the ISTAT file."""

    def __init__(self, registry: RegistryApplication, unique: str):
        self.registry, self.unique = registry, unique

    def ambito(self, ats: str = "bergamo") -> str:
        return self.registry.create_ambito(f"Ambito DEMO {self.unique}-{next(_numbers)}", ats)["id"]

    def comune(self, ambito_id: str, piccolo: bool) -> str:
        """A Comune of the province of Bergamo, piccolo or not, moved into ``ambito_id``.

        Taken from the end of the province's list: the registry's tests use its first Comuni.
        """
        code = next(c.istat_code for c in reversed(read_istat()) if c.province_abbr == "BG" and c.piccolo is piccolo)
        self.registry.assign_comuni(ambito_id, [code], move=True)
        return code

    def person(self, ambito_id: str, role: str = "responsabile_ufficio_di_piano", comune_istat: str | None = None) -> str:
        n = next(_numbers)
        organisation = ({"kind": "comune", "comune_istat": comune_istat} if comune_istat
                        else {"kind": "ufficio_di_piano", "ambito_id": ambito_id})
        return self.registry.register_person(
            f"Persona DEMO {n}", f"demo-{self.unique}-{n}@example.org", role, organisation)["id"]


@pytest.fixture
def territory(registry, unique) -> Territory:
    return Territory(registry, unique)
