"""The migration runner's pure parts (callflow/migrate.py): the URL yoyo is given (one host or
the multi-host failover URL, reaching libpq unchanged), and what the app's and the portal's
start-up check says about a database's applied migrations."""

from __future__ import annotations

import pytest
from yoyo.connections import parse_uri

from callflow.migrate import compare, shipped, yoyo_url


def test_a_single_host_url_keeps_every_part() -> None:
    uri = parse_uri(yoyo_url("postgresql://anshin:p%40ss@db:5432/anshin"))
    assert uri.scheme == "postgresql+psycopg" and uri.database == "anshin"
    assert uri.args == {"user": "anshin", "password": "p@ss", "host": "db", "port": "5432",
                        "connect_timeout": "10"}


def test_the_multi_host_failover_url_reaches_libpq_as_it_is() -> None:
    url = ("postgresql://anshin:pw@10.0.0.11:5432,10.0.0.12:5433/anshin"
           "?target_session_attrs=read-write&connect_timeout=3")
    uri = parse_uri(yoyo_url(url))
    assert uri.hostname is None and uri.database == "anshin"
    assert uri.args["host"] == "10.0.0.11,10.0.0.12" and uri.args["port"] == "5432,5433"
    assert uri.args["target_session_attrs"] == "read-write"
    assert uri.args["connect_timeout"] == "3"  # the URL's own wins


@pytest.mark.parametrize("url", ["mysql://root@db/anshin", "postgresql://db/x?no_such_option=1"])
def test_not_a_postgresql_url(url: str) -> None:
    with pytest.raises(ValueError):
        yoyo_url(url)


def test_the_start_up_check_names_what_is_pending_or_unknown() -> None:
    ids = shipped()
    assert ids and ids[0] == "0001_baseline"
    assert compare(ids, ids).problem() is None
    behind = compare(ids, ids[:1])
    assert behind.pending == tuple(ids[1:]) and behind.unknown == ()
    problem = behind.problem()
    assert problem is not None and "behind this release" in problem
    assert "python -m callflow.migrate upgrade" in problem
    ahead = compare(ids, [*ids, "9001_future"])
    assert ahead.unknown == ("9001_future",)
    problem = ahead.problem()
    assert problem is not None and "newer than this release" in problem and "9001_future" in problem
