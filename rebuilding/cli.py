"""``rebuilding``: the command line for operators and developers."""

import warnings

# An operator reads this command's stderr: not the deprecation notes that eventlet and the
# dnspython it loads print on import (the platform pins both; see pyproject.toml).
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(eventlet|dns|nameko)(\.|$)")
warnings.filterwarnings("ignore", message=r"(DSA|Eventlet) is deprecated")

import argparse  # noqa: E402
import json
import logging
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager

from rebuilding import config
from rebuilding.progress import Progress
from rebuilding.services import application_class, sends_mail


def cmd_token(args) -> None:
    import jwt

    from rebuilding import auth

    try:
        token = auth.mint(args.sub, args.role, ambito=args.ambito, ttl_seconds=args.ttl)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    claims = jwt.decode(token, options={"verify_signature": False})
    expires = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(claims["exp"]))
    print(f"jti {claims['jti']} (to revoke it: POST /auth/revocations), expires {expires}", file=sys.stderr)
    print(token)


def cmd_roles(args) -> None:
    """The table of roles in docs/operating.md, from services/gateway/authorisation.py."""
    from services.gateway import authorisation

    if not args.write:
        sys.stdout.write(authorisation.markdown())
        return
    path = authorisation.OPERATING_DOC
    path.write_text(authorisation.with_table(path.read_text()))
    print(path)


def cmd_relay(args) -> None:
    """Relay until SIGTERM or SIGINT (exit 0), or until a relay fails fatally (exit 1).

    Database and broker outages are waited out; see ``rebuilding.relay``.
    """
    from rebuilding.relay import serve

    serve_until_signalled("relay", "relaying", args.services, serve)


def cmd_mail(args) -> None:
    """Send the services' mail until SIGTERM or SIGINT (exit 0), or until it fails fatally (exit 1).

    Database outages are waited out, and a refused message is retried; see ``rebuilding.mail``.
    """
    from rebuilding.mail import serve

    for service in args.services:
        if not sends_mail(service):
            raise SystemExit(f"{service} sends no mail: it has no mail follower")
    serve_until_signalled("mail", "sending the mail of", args.services, serve)


def serve_until_signalled(command: str, doing: str, services: list[str], serve) -> None:
    """Run ``serve(application_classes, stop)`` (``rebuilding.loops.serve``) until SIGTERM or SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(threadName)s %(message)s")
    # libpq names the process's sessions in pg_stat_activity.application_name.
    os.environ.setdefault("PGAPPNAME", f"rebuilding {command} {' '.join(services)}")
    classes = [application_class(name) for name in services]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"{doing} {', '.join(services)}", file=sys.stderr, flush=True)
    status = serve(classes, stop)
    if status:
        raise SystemExit(status)


def cmd_audit_rebuild(args) -> None:
    from rebuilding.views import rebuild

    app = application_class(args.service)()
    for projection in selected_projections(app, args.projection):
        with source_log(app, projection.source, projection.source_generation) as source:
            progress = Progress(source.last_position(), f"{args.service}.{projection.name}", args.progress)
            started = time.monotonic()
            count = rebuild(source, projection, on_progress=progress.advance)
        progress.close()
        rate = count / max(time.monotonic() - started, 1e-9)
        print(f"{args.service}.{projection.name}: rebuilt from {count} events of {projection.source} "
              f"({rate:,.0f} events/s), swapped in at position {projection.position(projection.source)}")


def selected_projections(app, name: str | None) -> list:
    """The service's read models that can be rebuilt (all, or the one named); followers that send mail are not."""
    chosen = [p for p in app.projections if name in (None, p.name)]
    if name and not chosen:
        raise SystemExit(f"{app.name} has no read model {name!r}; it has: {', '.join(p.name for p in app.projections)}")
    for projection in chosen:
        if not projection.rebuildable:
            print(f"{app.name}.{projection.name}: not rebuilt (what it did leaves the platform)", file=sys.stderr)
    return [p for p in chosen if p.rebuildable]


@contextmanager
def source_log(app, source: str, generation: int = 1):
    """The log a read model is built from: the service's own, or another's over RPC (never its tables)."""
    if source == app.name:
        yield app
        return
    from nameko.standalone.rpc import ClusterRpcProxy

    from rebuilding.followers import RemoteLog

    with ClusterRpcProxy({"AMQP_URI": config.amqp_uri()}, timeout=60) as rpc:
        yield RemoteLog(source, rpc, generation, page_timeout=60)


def cmd_status(args) -> None:
    statuses = [application_class(service)().status() for service in args.services or config.SERVICES]
    for status in statuses:
        print("\n".join(describe_status(status)))
    if any(status["status"] != "ok" for status in statuses):
        raise SystemExit(1)


def describe_status(status: dict) -> list[str]:
    """A service's status for an operator: its relay and mail sender when at fault, and each read model
    with the failure it is stuck on."""
    relay = status["relay"]
    lines = [f"{status['service']}: {status['status']}, {status['events']} events, "
             f"relay at {relay['position']} (lag {relay['lag']})"]
    for who in ("relay", "mail"):
        if who in status and status[who]["problem"]:
            lines.append(f"  {who}: {status[who]['problem']}")
    for name, projection in status["projections"].items():
        lines.append(f"  {name} ({projection['source']}): {projection['status']}, "
                     f"at {projection['position']} of {projection['head']} (lag {projection['lag']})")
        if "failure" in projection:
            failure = projection["failure"]
            lines.append(f"    stuck at position {failure['position']} ({failure['event_type']}) since "
                         f"{failure['since']}, {failure['attempts']} attempts: {failure['error']}")
    return lines


def cmd_feed(args) -> None:
    import requests

    token = args.token or os.environ.get("REBUILDING_TOKEN")
    if not token:
        raise SystemExit("the feed needs a token: --token or REBUILDING_TOKEN (role auditor or subscriber)")
    after = args.after
    while True:
        response = requests.get(f"{args.gateway.rstrip('/')}/events/{args.service}",
                                params={"after": after, "limit": args.limit},
                                headers={"Authorization": f"Bearer {token}"}, timeout=60)
        if response.status_code != 200:
            raise SystemExit(f"the gateway answered {response.status_code}: {response.text}")
        page = response.json()
        for envelope in page["events"]:
            sys.stdout.write(json.dumps(envelope, ensure_ascii=False) + "\n")
        if not page["events"]:
            return
        after = page["events"][-1]["position"]


def cmd_dlq(args) -> None:
    from rebuilding import dlq

    if args.action == "list":
        for queue, count in dlq.dead_letter_counts():
            print(f"{queue}\t{count}")
    elif args.action == "show":
        for message in dlq.peek(args.queue, args.limit):
            print(json.dumps(message, ensure_ascii=False))
    else:
        print(f"re-drove {dlq.redrive(args.queue)} messages to {args.queue}")


def cmd_registry(args) -> None:
    from services.registry.application import RegistryApplication

    app = RegistryApplication()
    if args.action == "seed":
        report = app.seed(all_italy=args.all_italy)
        print("Comuni from ISTAT, Codici statistici delle unità amministrative territoriali (Fonte: ISTAT)", file=sys.stderr)
    else:
        with open(args.file, encoding="utf-8") as handle:
            report = app.import_mapping(handle.read())
    print(json.dumps(report, ensure_ascii=False, indent=2))


def cmd_demo(args) -> None:
    from rebuilding import demo

    demo.load(args.gateway)


def cmd_contracts(args) -> None:
    from rebuilding import contracts

    for path in contracts.write():
        print(path)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="rebuilding", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    token = commands.add_parser("token", help="mint a bearer token (printed alone on stdout)")
    token.add_argument("--role", action="append", required=True,
                       help="staff, ambito, participant, auditor or subscriber (see `rebuilding roles`)")
    token.add_argument("--sub", required=True, help="who the token is for: a participant's person id")
    token.add_argument("--ambito", help="the Ambito an 'ambito' token is scoped to (required for it)")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds, 1 to 604800 (a week)")
    token.set_defaults(run=cmd_token)

    roles = commands.add_parser("roles", help="print the table of who may call what (docs/operating.md's)")
    roles.add_argument("--write", action="store_true", help="write it into docs/operating.md")
    roles.set_defaults(run=cmd_roles)

    relay = commands.add_parser("relay", help="publish services' new events to RabbitMQ")
    relay.add_argument("services", nargs="+", choices=config.SERVICES)
    relay.set_defaults(run=cmd_relay)

    mail = commands.add_parser("mail", help="send services' e-mail, in a process of its own (their mail followers)")
    mail.add_argument("services", nargs="+", choices=config.SERVICES)
    mail.set_defaults(run=cmd_mail)

    audit = commands.add_parser("audit", help="replay the event history").add_subparsers(dest="what", required=True)
    from rebuilding import audit as audit_commands

    audit_commands.add_history_commands(audit)
    rebuild = audit.add_parser("rebuild", help="rebuild a service's read models from its events")
    rebuild.add_argument("service", choices=config.SERVICES)
    rebuild.add_argument("--projection", help="only this read model")
    rebuild.add_argument("--progress", action="store_true", default=None, help="show a progress bar on stderr")
    rebuild.set_defaults(run=cmd_audit_rebuild)
    audit_commands.add_commands(audit)
    audit_commands.add_read_model_commands(audit)
    audit_commands.add_pack_command(audit)

    status = commands.add_parser("status", help="each service's log, relay and read models; exits 1 when degraded")
    status.add_argument("services", nargs="*", metavar="SERVICE", help=f"among {', '.join(config.SERVICES)}; all by default")
    status.set_defaults(run=cmd_status)

    feed = commands.add_parser("feed", help="a service's public events after a position, from the gateway, as JSON lines")
    feed.add_argument("service", choices=config.SERVICES)
    feed.add_argument("--after", type=int, default=0, help="the last position you have (0: from the start)")
    feed.add_argument("--limit", type=int, default=500, help="events per page")
    feed.add_argument("--gateway", default=f"http://{config.gateway_address()}", help="the gateway's base URL")
    feed.add_argument("--token", help="a bearer token (or REBUILDING_TOKEN)")
    feed.set_defaults(run=cmd_feed)

    dead = commands.add_parser("dlq", help="inspect and re-drive dead-lettered messages")
    dead.add_argument("action", choices=["list", "show", "redrive"])
    dead.add_argument("queue", nargs="?", help="a subscriber's queue (not its .dead-letter queue)")
    dead.add_argument("--limit", type=int, default=20)
    dead.set_defaults(run=cmd_dlq)

    registry = commands.add_parser("registry", help="seed the registry's Comuni, import an Ambiti mapping")
    registry_actions = registry.add_subparsers(dest="action", required=True)
    seed = registry_actions.add_parser("seed", help="register the Lombard Comuni of the ISTAT file; idempotent")
    seed.add_argument("--all-italy", action="store_true", help="every Italian Comune, not only Lombardy's")
    seed.set_defaults(run=cmd_registry)
    mapping = registry_actions.add_parser("import", help="apply a mapping CSV: istat_code, ats, ambito, capofila")
    mapping.add_argument("file")
    mapping.set_defaults(run=cmd_registry)

    demo = commands.add_parser("demo", help="load the demo data through the gateway (labelled DEMO)")
    demo.add_argument("--gateway", default=None, help="the gateway's base URL")
    demo.set_defaults(run=cmd_demo)
    contracts = commands.add_parser("contracts", help="write the RPC contracts in contracts/rpc from the code")
    contracts.set_defaults(run=cmd_contracts)
    return root


def main(argv=None) -> None:
    args = parser().parse_args(argv)
    if args.command == "dlq" and args.action != "list" and not args.queue:
        raise SystemExit("dlq show and dlq redrive need a queue")
    args.run(args)


if __name__ == "__main__":
    main()
