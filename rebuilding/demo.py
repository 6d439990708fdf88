"""Demo data, loaded through the gateway like any client would. Every name says DEMO.

The Ambiti, people and labs here are invented for demonstration: they are not the
programme's real ones, and every e-mail address ends in ``.invalid``. The Comuni
are the real ISTAT ones from the registry's seed. Loading twice adds nothing.
"""

import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import date, timedelta

from rebuilding import auth, config

AMBITI = [
    # (the Ambito, with its capofila; the other Comuni it takes in)
    ({"name": "Ambito DEMO Bergamo", "ats": "bergamo", "capofila_istat": "016024"}, ["016001", "016002", "016003"]),
    ({"name": "Ambito DEMO Varese", "ats": "insubria", "capofila_istat": "012133"}, ["012001", "012002"]),
]


def people(bergamo: str, varese: str) -> list[dict]:
    def person(name, email, role, organisation):
        return {"name": name, "email": f"{email}@demo.invalid", "role": role, "organisation": organisation}

    return [
        person("Responsabile DEMO Bergamo", "responsabile.bergamo", "responsabile_ufficio_di_piano",
               {"kind": "ufficio_di_piano", "ambito_id": bergamo}),
        person("Responsabile DEMO Servizi Sociali", "servizi.sociali", "responsabile_servizi_sociali",
               {"kind": "comune", "comune_istat": "016001"}),
        person("Responsabile DEMO Varese", "responsabile.varese", "responsabile_ufficio_di_piano",
               {"kind": "ufficio_di_piano", "ambito_id": varese}),
        person("Operatrice DEMO", "operatrice", "operatore", {"kind": "comune", "comune_istat": "016024"}),
        person("Staff DEMO ANCI", "staff.anci", "staff_anci", {"kind": "anci"}),
    ]


def labs(today: date) -> list[dict]:
    def session(days, start="09:30", end="13:00"):
        return {"date": (today + timedelta(days=days)).isoformat(), "start": start, "end": end,
                "place": "Sede DEMO (dati dimostrativi)"}

    return [
        {"title": "DEMO – Co-programmazione e co-progettazione con il Terzo Settore", "ats": "bergamo",
         "themes": ["co-programmazione", "terzo-settore"], "capacity": 25, "conductors": ["Conduttrice DEMO"],
         "description": "Laboratorio dimostrativo: non è un laboratorio reale del programma.",
         "modules": [{"title": "Modulo DEMO 1", "sessions": [session(30), session(37)]},
                     {"title": "Modulo DEMO 2", "sessions": [session(44)]}]},
        {"title": "DEMO – Appalti pubblici nei servizi sociali", "ats": "insubria",
         "themes": ["contratti-pubblici"], "capacity": 30, "conductors": ["Conduttore DEMO"],
         "description": "Laboratorio dimostrativo: non è un laboratorio reale del programma.",
         "modules": [{"title": "Modulo DEMO unico", "sessions": [session(40, "14:00", "17:30")]}]},
    ]


def needs_assessment(today: date, themes: list[dict]) -> dict:
    return {
        "title": "DEMO – Rilevazione dei fabbisogni formativi", "kind": "needs_assessment",
        "audience": {"type": "ambiti"}, "opens": today.isoformat(), "closes": (today + timedelta(days=30)).isoformat(),
        "questions": [{"id": "priorita", "type": "ranking",
                       "text": "Ordini le macro-sezioni formative dalla più alla meno utile per il Suo Ambito (DEMO).",
                       "items": [{"id": t["code"], "label": t["title"]} for t in themes]}],
    }


GUIDELINE = {
    "kind": "guideline", "title": "DEMO – Linee guida dimostrative per la co-progettazione",
    "description": "Documento dimostrativo: non è un atto reale del programma.",
    "themes": ["co-programmazione"], "legal_references": ["D.Lgs. 117/2017 art. 55"],
    "author": "Autrice DEMO", "organisation": "ANCI Lombardia (DEMO)", "reason": "prima versione (DEMO)",
}
GUIDELINE_TEXT = "DEMO – Linee guida dimostrative.\nQuesto testo serve solo a provare la cassetta degli attrezzi.\n"


def multipart(fields: dict, filename: str, content: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body: each field (a list as repeated fields) and one file."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{item}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 "Content-Type: text/plain\r\n\r\n".encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Client:
    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.token = auth.mint("demo-loader", ["staff"], ttl_seconds=600)

    def call(self, method: str, path: str, body=None, form: tuple[bytes, str] | None = None):
        data, content_type = form or (json.dumps(body).encode() if body is not None else None, "application/json")
        request = urllib.request.Request(
            self.base_url + path, method=method, data=data,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": content_type},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise SystemExit(f"demo: {method} {path} answered {error.code}: {error.read().decode()}") from None

    def until(self, method: str, path: str, body=None, attempts: int = 100):
        """Retry while labs has not yet heard of the registry's latest events."""
        for _ in range(attempts - 1):
            try:
                return self.call(method, path, body)
            except SystemExit:
                time.sleep(0.1)
        return self.call(method, path, body)


def load(base_url: str | None = None) -> None:
    client = Client(base_url or f"http://{config.gateway_address()}")
    if any(lab["title"].startswith("DEMO") for lab in client.call("GET", "/labs")):
        print("demo: the demo data is already there", file=sys.stderr)
        return
    ambito_ids = []
    for ambito, comuni in AMBITI:
        ambito_id = client.call("POST", "/registry/ambiti", ambito)["id"]
        client.call("POST", f"/registry/ambiti/{ambito_id}/comuni", {"istat_codes": comuni})
        ambito_ids.append(ambito_id)
    person_ids = [client.call("POST", "/registry/people", p)["id"] for p in people(*ambito_ids)]
    lab_ids = []
    for lab in labs(date.today()):
        lab_id = client.call("POST", "/labs", lab)["id"]
        client.call("POST", f"/labs/{lab_id}/publish")
        lab_ids.append(lab_id)
    client.until("POST", f"/labs/{lab_ids[0]}/enrollments", {"person_id": person_ids[0]})
    client.until("POST", f"/labs/{lab_ids[0]}/enrollments", {"person_id": person_ids[1]})
    survey_id = client.call("POST", "/surveys", needs_assessment(date.today(), client.call("GET", "/programme/themes")))["id"]
    client.call("POST", f"/surveys/{survey_id}/open")
    client.call("POST", "/toolkit/documents",
                form=multipart(GUIDELINE, "linee-guida-demo.txt", GUIDELINE_TEXT.encode()))
    print(f"demo: loaded {len(ambito_ids)} Ambiti, {len(person_ids)} people and {len(lab_ids)} labs, "
          "an open needs assessment and a toolkit guideline, all labelled DEMO, with two enrolments", file=sys.stderr)
