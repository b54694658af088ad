"""Operator CLI: provision accounts, 050 numbers and contact numbers.

    python -m portal.admin [--database-url URL] account EMAIL [--password PW | --password-stdin]
    python -m portal.admin number EMAIL 050XXXXXXXX [--pin 1234]
    python -m portal.admin contact EMAIL 090XXXXXXXX [--label TEXT]
    python -m portal.admin show EMAIL

Every command is idempotent (re-running it updates instead of failing). Passwords and PINs
are stored argon2-hashed and never printed. The database is --database-url, else
ANSHIN_DATABASE_URL, else the lab's (`./lab up`). A refused input or an unreachable database
ends with one line `error: …` on stderr and exit status 1 (2 for a malformed command line).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import psycopg

from callflow.deployment import LAB_DATABASE_URL
from portal.auth import hash_secret
from portal.validation import Invalid, validate_email, validate_phone, validate_pin

Conn = psycopg.Connection[tuple[object, ...]]


class AdminError(Exception):
    pass


def _int(value: object) -> int:
    assert isinstance(value, int)
    return value


def _account_id(conn: Conn, email: str) -> int:
    row = conn.execute("SELECT id FROM accounts WHERE lower(email) = lower(%s)",
                       (email,)).fetchone()
    if row is None:
        raise AdminError(f"no account {email}")
    return _int(row[0])


def create_account(conn: Conn, email: str, password: str) -> int:
    email = validate_email(email)
    if len(password) < 8:
        raise AdminError("password: at least 8 characters")
    row = conn.execute(
        "INSERT INTO accounts (email, password_hash) VALUES (%s, %s)"
        " ON CONFLICT (email) DO UPDATE SET password_hash = EXCLUDED.password_hash RETURNING id",
        (email, hash_secret(password))).fetchone()
    assert row is not None
    return _int(row[0])


def add_number(conn: Conn, email: str, number: str, pin: str | None = None) -> str:
    canonical = validate_phone(number)
    if not canonical.startswith("050"):
        raise AdminError("not a 050 number")
    new_pin = validate_pin(pin) if pin is not None else None  # the IVR's rule; before any write
    acct = _account_id(conn, email)
    row = conn.execute("SELECT account_id FROM subscriber_numbers WHERE number = %s",
                       (canonical,)).fetchone()
    if row is not None and row[0] != acct:
        raise AdminError(f"{canonical} belongs to another account")
    conn.execute("INSERT INTO subscriber_numbers (number, account_id) VALUES (%s, %s)"
                 " ON CONFLICT (number) DO NOTHING", (canonical, acct))
    if new_pin is not None:
        conn.execute("UPDATE subscriber_numbers SET voicemail_pin_hash = %s WHERE number = %s",
                     (hash_secret(new_pin), canonical))
    return canonical


def add_contact(conn: Conn, email: str, number: str, label: str = "") -> str:
    canonical = validate_phone(number, allow_050=True)
    acct = _account_id(conn, email)
    conn.execute("INSERT INTO contact_numbers (account_id, number, label) VALUES (%s, %s, %s)"
                 " ON CONFLICT (account_id, number) DO UPDATE SET label = EXCLUDED.label",
                 (acct, canonical, label))
    return canonical


def show(conn: Conn, email: str) -> str:
    acct = _account_id(conn, email)
    numbers = [str(r[0]) for r in conn.execute(
        "SELECT number FROM subscriber_numbers WHERE account_id = %s ORDER BY number", (acct,))]
    contacts = [str(r[0]) for r in conn.execute(
        "SELECT number FROM contact_numbers WHERE account_id = %s ORDER BY id", (acct,))]
    return f"account {acct} {email}\n  050 numbers: {', '.join(numbers) or '-'}\n" \
           f"  contact numbers: {', '.join(contacts) or '-'}"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m portal.admin", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=os.environ.get(
        "ANSHIN_DATABASE_URL", LAB_DATABASE_URL))
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("account", help="create an account or reset its password")
    a.add_argument("email")
    g = a.add_mutually_exclusive_group(required=True)
    g.add_argument("--password")
    g.add_argument("--password-stdin", action="store_true")
    n = sub.add_parser("number", help="give an account a 050 number")
    n.add_argument("email")
    n.add_argument("number")
    n.add_argument("--pin", help="voicemail PIN (4 digits)")
    c = sub.add_parser("contact", help="add a contact number for two-factor codes")
    c.add_argument("email")
    c.add_argument("number")
    c.add_argument("--label", default="")
    s = sub.add_parser("show", help="show an account's numbers")
    s.add_argument("email")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        with psycopg.connect(args.database_url, autocommit=True, connect_timeout=10) as conn:
            if args.command == "account":
                password = (sys.stdin.readline().rstrip("\n") if args.password_stdin
                            else args.password)
                print(f"account {create_account(conn, args.email, password)} {args.email}")
            elif args.command == "number":
                print(f"number {add_number(conn, args.email, args.number, args.pin)}")
            elif args.command == "contact":
                print(f"contact {add_contact(conn, args.email, args.number, args.label)}")
            else:
                print(show(conn, args.email))
    except (AdminError, psycopg.Error) as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    except Invalid as exc:
        print(f"error: {_one_line(exc.message)}", file=sys.stderr)
        return 1
    return 0


def _one_line(message: str) -> str:
    """libpq's messages span lines ("connection failed: …\n\tIs the server running …")."""
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


if __name__ == "__main__":
    sys.exit(main())
