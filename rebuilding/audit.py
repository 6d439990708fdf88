"""``rebuilding audit``: the commands an auditor runs, across every service's own event store."""

import json
import sys
from pathlib import Path

from rebuilding import chain, chainhead, config


def services_named(names: list[str] | None) -> list[str]:
    for name in names or ():
        if name not in config.SERVICES:
            raise SystemExit(f"unknown service {name!r}; the services are: {', '.join(config.SERVICES)}")
    return list(names or config.SERVICES)


def cmd_verify_chain(args) -> None:
    """Walk each service's chain; print what it proves, and every finding; exit 1 on any."""
    conninfo = config.database().conninfo()
    damaged = False
    for service in services_named(args.services):
        if not chain.exists(conninfo, service):
            print(f"{service}: no log yet")
            continue
        walk = chain.Walk(service)
        findings = list(chain.verify(conninfo, service, chain.events_table(service), walk))
        for finding in findings:
            print(finding)
        damaged |= bool(findings)
        verdict = f"{len(findings)} findings" if findings else "the chain holds"
        print(f"{service}: {walk.events} events, {verdict}, head at position {walk.position} ({walk.hash.hex()})")
    if damaged:
        raise SystemExit(1)


def cmd_chain_head(args) -> None:
    """Print (or write) the signed heads of the services' chains, after checking each chain."""
    conninfo = config.database().conninfo()
    heads = []
    for service in services_named(args.services):
        if not chain.exists(conninfo, service):
            continue
        try:
            head = chain.checked_head(conninfo, service)
        except chain.ChainBroken as error:
            raise SystemExit(f"{error}; no head signed") from None
        if head is not None:
            heads.append(head)
    key_path = Path(args.key) if args.key else chainhead.key_path()
    document = json.dumps(chainhead.sign(heads, chainhead.signing_key(key_path)), indent=2, ensure_ascii=False)
    if args.output:
        Path(args.output).write_text(document + "\n", encoding="utf-8")
        print(f"signed {len(heads)} heads into {args.output}; key {chainhead.public_path(key_path)}", file=sys.stderr)
    else:
        print(document)


def cmd_verify_head(args) -> None:
    """Check a signed head: its signature, then that each log still holds the history it was taken of."""
    try:
        document = json.loads(Path(args.head).read_text(encoding="utf-8"))
        document["heads"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SystemExit(f"{args.head} is not a chain head: {error}") from None
    if args.public_key:
        key_file = Path(args.public_key)
    else:
        key_file = chainhead.public_path(chainhead.key_path())
        print(f"checking the signature with the platform's own key {key_file}; "
              "pass --public-key with the one you kept to prove more", file=sys.stderr)
    if not chainhead.signature_holds(document, chainhead.load_public_key(key_file)):
        raise SystemExit(f"{args.head}: the signature does not hold with {key_file}")
    problems = chainhead.check(document, config.database().conninfo())
    for problem in problems:
        print(problem)
    for head in document["heads"]:
        broken = any(problem.startswith(f"{head['service']}:") or problem.startswith(f"{head['service']} ")
                     for problem in problems)
        print(f"{head['service']}: position {head['position']} {head['hash']} "
              f"({head['time']}): {'NOT held' if broken else 'held'}")
    if problems:
        raise SystemExit(1)
    print(f"signature good; history unchanged up to every head exported {document['exported']}")


def add_commands(audit) -> None:
    """The chain's subcommands of ``rebuilding audit``."""
    verify_chain = audit.add_parser("verify-chain", help="walk each log's hash chain; name every event "
                                    "altered, inserted or deleted behind the platform's back (exit 1)")
    verify_chain.add_argument("services", nargs="*", metavar="SERVICE", help="all by default")
    verify_chain.set_defaults(run=cmd_verify_chain)

    head = audit.add_parser("chain-head", help="export each log's chain head (service, position, hash, time), "
                            "signed with the platform's Ed25519 key")
    head.add_argument("services", nargs="*", metavar="SERVICE", help="all by default")
    head.add_argument("--key", help="the private key (made on first use); default "
                      "$REBUILDING_STATE_DIR/audit/chain-head.ed25519 or $REBUILDING_AUDIT_KEY")
    head.add_argument("--output", "-o", help="write the signed head to this file instead of stdout")
    head.set_defaults(run=cmd_chain_head)

    verify_head = audit.add_parser("verify-head", help="check a signed chain head against the logs as they are now")
    verify_head.add_argument("head", help="a file written by chain-head")
    verify_head.add_argument("--public-key", help="the public key (PEM) you kept; default the platform's own")
    verify_head.set_defaults(run=cmd_verify_head)


def cmd_verify(args) -> None:
    """Rebuild each read model into a scratch copy and compare it with the live one; exit 1 on any difference."""
    from rebuilding.cli import Progress, application_class, selected_projections, source_log
    from rebuilding.rebuilds import verify

    app = application_class(args.service)()
    different = False
    for projection in selected_projections(app, args.projection):
        with source_log(app, projection.source, projection.source_generation) as source:
            progress = Progress(projection.position(projection.source), f"{args.service}.{projection.name}",
                                args.progress)
            comparisons = verify(source, projection, on_progress=progress.advance, limit=args.limit)
        progress.close()
        for comparison in comparisons:
            verdict = "same" if comparison.same else "DIFFERENT"
            print(f"{args.service}.{comparison.table}: {verdict}; live {comparison.live_rows} rows "
                  f"(md5 {comparison.live_checksum}), rebuilt {comparison.rebuilt_rows} rows "
                  f"(md5 {comparison.rebuilt_checksum})")
            for difference in comparison.differences:
                print(f"  {difference}")
            different |= not comparison.same
    if different:
        raise SystemExit(1)


def add_read_model_commands(audit) -> None:
    verify = audit.add_parser("verify", help="rebuild a service's read models into a scratch copy and compare "
                              "them with the live ones, row by row (exit 1 on any difference)")
    verify.add_argument("service", choices=config.SERVICES)
    verify.add_argument("--projection", help="only this read model")
    verify.add_argument("--limit", type=int, default=1000, help="differing rows named per table, at most")
    verify.add_argument("--progress", action="store_true", default=None, help="show a progress bar on stderr")
    verify.set_defaults(run=cmd_verify)


def applications(names: list[str]) -> list:
    from rebuilding.services import application_class

    return [application_class(name)() for name in services_named(names)]


def history_filters(args) -> "history.Filters":
    from rebuilding import history
    from rebuilding.eventstore import aggregate_id

    try:
        since = history.moment(args.since) if args.since else None
        until = history.moment(args.until_time) if args.until_time else None
    except ValueError as error:
        raise SystemExit(str(error)) from None
    return history.Filters(
        aggregate=aggregate_id(args.aggregate, "aggregate") if args.aggregate else None,
        types=args.type or [], since=since, until=until, mentions=args.person or [],
        after=args.after, stop=args.until)


def cmd_events(args) -> None:
    """Print the events of every service (or those named) that pass the filters, as JSON lines or a table."""
    from rebuilding import history
    from rebuilding.errors import NotFound
    from rebuilding.progress import Progress

    try:
        filters = history_filters(args)
    except NotFound as error:
        raise SystemExit(str(error)) from None
    apps = applications(args.services)
    if args.at:
        return show_state_at(apps, filters, args)
    progress = Progress(sum(max(app.last_position() - filters.after, 0) for app in apps), "events", args.progress)
    reached: dict[str, int] = {}

    def on_position(service: str, position: int) -> None:
        reached[service] = position - filters.after
        progress.reach(sum(reached.values()))

    write = table_writer(sys.stdout) if args.format == "table" else jsonl_writer(sys.stdout)
    shown = 0
    for envelope in history.merged(apps, filters, on_position):
        write(envelope)
        shown += 1
    progress.close()
    if progress.enabled:
        print(f"{shown} events shown", file=sys.stderr)


def show_state_at(apps, filters, args) -> None:
    from rebuilding import history

    if filters.aggregate is None:
        raise SystemExit("--at needs --aggregate: the aggregate whose state to show")
    try:
        at = history.moment(args.at)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    found = history.state_at(apps, filters.aggregate, at)
    if found is None:
        raise SystemExit(f"no aggregate {filters.aggregate} existed at {at.isoformat()}")
    if args.format != "table":
        sys.stdout.write(json.dumps(found, ensure_ascii=False) + "\n")
        return
    print(f"{found['kind']} {found['aggregate']} ({found['service']}) at {found['at']}: version {found['version']}")
    for name, value in found["state"].items():
        print(f"  {name}: {json.dumps(value, ensure_ascii=False)}")
    print(f"from these {len(found['events'])} events:")
    write = table_writer(sys.stdout)
    for envelope in found["events"]:
        write(envelope)


def jsonl_writer(out):
    return lambda envelope: out.write(json.dumps(envelope, ensure_ascii=False) + "\n")


TABLE_COLUMNS = ("time (UTC)", "service", "position", "event", "subject", "data")


def table_writer(out, data_width: int = 100):
    """A readable table, one event a line: its header first, then each row as it comes (nothing is held)."""
    out.write(f"{TABLE_COLUMNS[0]:<19}  {TABLE_COLUMNS[1]:<9} {TABLE_COLUMNS[2]:>8}  {TABLE_COLUMNS[3]:<36} "
              f"{TABLE_COLUMNS[4]:<36}  {TABLE_COLUMNS[5]}\n")

    def write(envelope) -> None:
        from datetime import datetime, timezone

        at = datetime.fromisoformat(envelope["time"]).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        event = ".".join(envelope["type"].split(".")[-3:])
        data = json.dumps(envelope["data"], ensure_ascii=False, separators=(",", ":"))
        if len(data) > data_width:
            data = data[:data_width - 1] + "…"
        service = envelope["source"].rpartition("/")[2]
        out.write(f"{at:<19}  {service:<9} {envelope['position']:>8}  {event:<36} {envelope['subject']:<36}  {data}\n")

    return write


def add_history_commands(audit) -> None:
    events = audit.add_parser("events", help="print the events of every service, merged by time, as JSON lines "
                              "or a table; or, with --at, an aggregate's state at a moment")
    events.add_argument("services", nargs="*", metavar="SERVICE", help="all by default")
    events.add_argument("--aggregate", help="only the events of this aggregate id")
    events.add_argument("--type", action="append", help="only this event type: lab.enrolment_confirmed, "
                        "enrolment_confirmed or the whole type; again for more")
    events.add_argument("--person", action="append", help="only events that name this id (a person, a lab, "
                        "an Ambito), as their subject or in their data; again for more")
    events.add_argument("--since", help="only events at or after this time (ISO 8601; Italian time without offset)")
    events.add_argument("--until-time", help="only events at or before this time")
    events.add_argument("--after", type=int, default=0, help="start after this log position")
    events.add_argument("--until", type=int, help="stop at this log position")
    events.add_argument("--at", help="show the state of --aggregate at this time, with the events that made it")
    events.add_argument("--format", choices=["jsonl", "table"], default=None,
                        help="JSON lines (the default, and for --at the state as one JSON line) or a table")
    events.add_argument("--progress", action="store_true", default=None,
                        help="show progress and rate on stderr (the default on a terminal)")
    events.set_defaults(run=cmd_events)


def cmd_pack(args) -> None:
    """Write the audit pack of one lab, Ambito or person in a date range."""
    from rebuilding import history, pack
    from rebuilding.eventstore import aggregate_id
    from rebuilding.errors import NotFound

    kind, identifier = next((k, getattr(args, k)) for k in pack.KINDS if getattr(args, k))
    try:
        identifier = str(aggregate_id(identifier, kind))
        since = history.moment(args.since) if args.since else None
        until = history.moment(args.until_time) if args.until_time else None
    except (ValueError, NotFound) as error:
        raise SystemExit(str(error)) from None
    output = Path(args.output or f"pacchetto-audit-{kind}-{identifier[:8]}.zip")
    key = Path(args.key) if args.key else chainhead.key_path()
    try:
        manifest = pack.build(output, applications(None), kind, identifier, since, until, key)
    except chain.ChainBroken as error:
        raise SystemExit(f"{error}; no pack written") from None
    print(f"{output}: {manifest['events']} events, {manifest['aggregates']} aggregates, "
          f"checked against {len(manifest['chain_heads']['heads'])} chain heads")


def add_pack_command(audit) -> None:
    pack = audit.add_parser("pack", help="a zip of everything that happened to one lab, Ambito or person: "
                            "events, the state they produced, signed chain heads, a manifest, a README")
    whom = pack.add_mutually_exclusive_group(required=True)
    whom.add_argument("--lab", help="a lab's id")
    whom.add_argument("--ambito", help="an Ambito's id")
    whom.add_argument("--person", help="a person's id")
    pack.add_argument("--since", help="only events at or after this time (ISO 8601; Italian time without offset)")
    pack.add_argument("--until-time", help="only events at or before this time; the state is as of then")
    pack.add_argument("--output", "-o", help="the zip to write (default pacchetto-audit-<kind>-<id>.zip)")
    pack.add_argument("--key", help="the key that signs the chain heads (as for chain-head)")
    pack.set_defaults(run=cmd_pack)
