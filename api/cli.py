"""The `punctual` command line: migrate, orgs, tokens, cron, status, dev."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

import psycopg

from shared.db import connect
from shared.errors import ConfigError, PunctualError
from shared.migrate import apply_migrations
from shared.secrets_at_rest import encrypt_plaintext_secrets
from shared.settings import load_settings
from shared.sql.organizations import (
    ApiToken,
    create_organization,
    create_token,
    get_organization,
    get_token,
    revoke_token,
)
from shared.sql.users import get_user

MAX_TOKEN_DAYS = 3650


def print_migration_progress(name: str, position: int, count: int, seconds: float | None) -> None:
    """One line on stderr as each migration starts and ends (stdout keeps the JSON result)."""
    if seconds is None:
        print(f"[{position}/{count}] applying {name} ...", file=sys.stderr, flush=True)
    else:
        print(f"[{position}/{count}] applied {name} in {seconds:.2f}s", file=sys.stderr, flush=True)


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = load_settings()
    with connect(settings) as conn:
        applied = apply_migrations(conn, progress=print_migration_progress)
        with conn.transaction():
            encrypted = encrypt_plaintext_secrets(conn, settings.secret_key)
    print(json.dumps({"applied": applied, "encrypted": encrypted}))
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


def _token_json(row: ApiToken) -> dict[str, object]:
    return {"id": str(row.id), "organization_id": str(row.organization_id), "name": row.name,
            "token_prefix": row.token_prefix, "user_id": str(row.user_id) if row.user_id else None,
            "created_at": row.created_at.isoformat(),
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None}


def _uuid_arg(value: str, option: str, what: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        print(f"error: {option} must be {what} (uuid)", file=sys.stderr)
        return None


def cmd_tokens_create(args: argparse.Namespace) -> int:
    org_id = _uuid_arg(args.org, "--org", "an organization id")
    user_id = _uuid_arg(args.user, "--user", "a user id") if args.user else None
    if org_id is None or (args.user and user_id is None):
        return 2
    name = args.name.strip()
    if not 1 <= len(name) <= 255:
        print("error: --name must be 1 to 255 characters", file=sys.stderr)
        return 2
    if args.expires_in is not None and not 1 <= args.expires_in <= MAX_TOKEN_DAYS:
        print(f"error: --expires-in must be 1 to {MAX_TOKEN_DAYS} days", file=sys.stderr)
        return 2
    expires_at = datetime.now(UTC) + timedelta(days=args.expires_in) if args.expires_in else None
    with connect(load_settings()) as conn, conn.transaction():
        if get_organization(conn, org_id) is None:
            print(f"error: organization {org_id} does not exist", file=sys.stderr)
            return 2
        if user_id is not None:
            user = get_user(conn, org_id, user_id)
            if user is None or user.kind != "member":
                print(f"error: user {user_id} is not a member user of organization {org_id}", file=sys.stderr)
                return 2
        row, token = create_token(conn, org_id, name, expires_at=expires_at, user_id=user_id)
    print(json.dumps({**_token_json(row), "token": token}))
    return 0


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    token_id = _uuid_arg(args.token_id, "TOKEN_ID", "a token id")
    if token_id is None:
        return 2
    with connect(load_settings()) as conn, conn.transaction():
        row = get_token(conn, token_id)
        if row is None:
            print(f"error: token {token_id} does not exist", file=sys.stderr)
            return 2
        revoke_token(conn, row.organization_id, token_id)  # already revoked: nothing changes
        row = get_token(conn, token_id)
    assert row is not None
    print(json.dumps(_token_json(row)))
    return 0


LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def cmd_flower(args: argparse.Namespace) -> int:
    settings = load_settings()
    env = dict(os.environ)
    if settings.flower_basic_auth:
        # Flower reads its --basic-auth from FLOWER_BASIC_AUTH too; there the password stays out of `ps`.
        env["FLOWER_BASIC_AUTH"] = settings.flower_basic_auth
    elif not (settings.dev_mode and args.address in LOOPBACK):
        print("error: PUNCTUAL_FLOWER_BASIC_AUTH=user:password is required (only `punctual dev` runs Flower "
              "without it, and only on 127.0.0.1)", file=sys.stderr)
        return 2
    else:
        env.pop("FLOWER_BASIC_AUTH", None)
    command = [sys.executable, "-m", "celery", "-A", "workers.app", "flower", f"--address={args.address}",
               f"--port={args.port}"]
    os.execve(sys.executable, command, env)  # noqa: S606 (becomes Flower, so signals reach it)
    return 0  # pragma: no cover - execve does not return


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
    create_tok.add_argument("--expires-in", type=int, metavar="DAYS", help="expire after DAYS days (default: never)")
    create_tok.add_argument("--user", metavar="USER_ID",
                            help="a member user the token acts for: schedules it creates are theirs")
    create_tok.set_defaults(func=cmd_tokens_create)
    revoke_tok = tokens.add_parser("revoke", help="revoke an API token at once")
    revoke_tok.add_argument("token_id", metavar="TOKEN_ID")
    revoke_tok.set_defaults(func=cmd_tokens_revoke)

    try:
        from api.cron_cli import add_cron_parser
    except ImportError:  # pragma: no cover - the time engine ships with the package
        pass
    else:
        add_cron_parser(sub)

    flower = sub.add_parser("flower", help="run Flower (needs PUNCTUAL_FLOWER_BASIC_AUTH outside `punctual dev`)")
    flower.add_argument("--address", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    flower.add_argument("--port", type=int, default=5555)
    flower.set_defaults(func=cmd_flower)

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
