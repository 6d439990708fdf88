"""Demo data, loaded through the gateway like any client would. Every name says DEMO.

The Ambiti and labs here are invented for demonstration; they are not the
programme's real ones. Loading twice adds nothing the second time.
"""

import json
import sys
import time
import urllib.error
import urllib.request

from rebuilding import auth, config

AMBITI = [
    {"name": "Ambito DEMO Alta Valle (dati dimostrativi)", "ats": "montagna"},
    {"name": "Ambito DEMO Pianura Est (dati dimostrativi)", "ats": "val-padana"},
]
LABS = [
    {"title": "DEMO – Laboratorio: co-programmazione con il Terzo Settore", "ats": "montagna", "capacity": 25},
    {"title": "DEMO – Laboratorio: appalti pubblici nei servizi sociali", "ats": "val-padana", "capacity": 30},
]


class Client:
    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.token = auth.mint("demo-loader", ["staff"], ttl_seconds=600)

    def call(self, method: str, path: str, body=None):
        request = urllib.request.Request(
            self.base_url + path, method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


def load(base_url: str | None = None) -> None:
    client = Client(base_url or f"http://{config.gateway_address()}")
    if any(lab["title"].startswith("DEMO") for lab in client.call("GET", "/labs")):
        print("demo: the demo data is already there", file=sys.stderr)
        return
    for ambito in AMBITI:
        client.call("POST", "/registry/ambiti", ambito)
    for lab in LABS:
        client.call("POST", "/labs", lab)
    for _ in range(100):  # the read models follow the events within moments
        if sum(lab["title"].startswith("DEMO") for lab in client.call("GET", "/labs")) == len(LABS):
            break
        time.sleep(0.1)
    print(f"demo: loaded {len(AMBITI)} Ambiti and {len(LABS)} labs, all labelled DEMO", file=sys.stderr)
