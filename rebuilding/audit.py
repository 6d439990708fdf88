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
        findings = list(chain.verify(conninfo, service, chain.events_table(service)))
        if findings:
            raise SystemExit("\n".join(map(str, findings)) + f"\n{service}: the chain does not hold; no head signed")
        if (head := chain.head(conninfo, service)) is not None:
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
        print(f"{head['service']}: position {head['position']} {head['hash']} "
              f"({head['time']}): {'NOT held' if problems else 'held'}")
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
        with source_log(app, projection.source) as source:
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
