"""The `punctual` command line: migrate, orgs, tokens, cron, status, dev."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from uuid import UUID

import psycopg

from shared.db import connect
from shared.errors import ConfigError, PunctualError
from shared.migrate import apply_migrations
from shared.settings import load_settings
from shared.sql.organizations import create_organization, create_token, get_organization


def print_migration_progress(name: str, position: int, count: int, seconds: float | None) -> None:
    """One line on stderr as each migration starts and ends (stdout keeps the JSON result)."""
    if seconds is None:
        print(f"[{position}/{count}] applying {name} ...", file=sys.stderr, flush=True)
    else:
        print(f"[{position}/{count}] applied {name} in {seconds:.2f}s", file=sys.stderr, flush=True)


def cmd_migrate(args: argparse.Namespace) -> int:
    with connect(load_settings()) as conn:
        applied = apply_migrations(conn, progress=print_migration_progress)
    print(json.dumps({"applied": applied}))
    return 0


def cmd_orgs_create(args: argparse.Namespace) -> int:
    name = args.name.strip()
    if not 1 <= len(name) <= 255:
        print("error: NAME must be 1 to 255 characters", file=sys.stderr)
        return 2
    with connect(load_settings()) as conn, conn.transaction():
        org = create_organization(conn, name)
    print(json.dumps({"id": str(org.id), "name": org.name, "created_at": org.created_at.isoformat()}))
    return 0


def cmd_tokens_create(args: argparse.Namespace) -> int:
    try:
        org_id = UUID(args.org)
    except ValueError:
        print("error: --org must be an organization id (uuid)", file=sys.stderr)
        return 2
    with connect(load_settings()) as conn, conn.transaction():
        if get_organization(conn, org_id) is None:
            print(f"error: organization {org_id} does not exist", file=sys.stderr)
            return 2
        row, token = create_token(conn, org_id, args.name)
    print(json.dumps({"id": str(row.id), "organization_id": str(org_id), "name": row.name,
                      "token": token}))
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    from api.dev import run_dev

    return run_dev(port=args.port, flower_port=args.flower_port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="punctual", description="Punctual: scheduled deliveries.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)

    orgs = sub.add_parser("orgs", help="organizations").add_subparsers(dest="orgs_command", required=True)
    create_org = orgs.add_parser("create", help="create an organization")
    create_org.add_argument("name")
    create_org.set_defaults(func=cmd_orgs_create)

    tokens = sub.add_parser("tokens", help="API tokens").add_subparsers(dest="tokens_command", required=True)
    create_tok = tokens.add_parser("create", help="create an API token (printed once)")
    create_tok.add_argument("--org", required=True, help="organization id")
    create_tok.add_argument("--name", default="default")
    create_tok.set_defaults(func=cmd_tokens_create)

    try:
        from api.cron_cli import add_cron_parser
    except ImportError:  # pragma: no cover - the time engine ships with the package
        pass
    else:
        add_cron_parser(sub)

    from api.status_cli import add_status_parser

    add_status_parser(sub)

    dev = sub.add_parser("dev", help="run the whole system locally (what `make run` calls)")
    dev.add_argument("--port", type=int, default=None, help="API port (default PORT or 8000)")
    dev.add_argument("--flower-port", type=int, default=5555)
    dev.set_defaults(func=cmd_dev)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if hasattr(args, "handler"):
        return int(args.handler(args, sys.stdout, sys.stderr))
    try:
        return int(args.func(args))
    except (ConfigError, PunctualError) as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 2
    except psycopg.OperationalError as exc:
        print(f"error: cannot reach the database: {str(exc).splitlines()[0] if str(exc) else exc}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
