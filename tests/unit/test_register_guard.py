"""REGISTER guard (callflow/register_guard.py): what a security log line says, and when a
source or an account is blocked and released."""

from __future__ import annotations

from ipaddress import IPv4Network

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callflow.config import Settings
from callflow.register_guard import (
    ACCOUNT_FAILURES,
    BLOCK_S,
    SOURCE_FAILURES,
    SOURCE_WINDOW_S,
    SPRAY_FAILURES,
    SPRAY_WINDOW_S,
    AccountBlock,
    AuthFailure,
    Guard,
    SourceFailure,
    parse,
    parse_source_failure,
    source_bans_config,
)

FAILED = ('[2026-11-29 20:06:27.901] SECURITY[50] res_security_log.c: '
          'SecurityEvent="ChallengeResponseFailed",EventTV="2026-11-29T20:06:27.899+0000",'
          'Severity="Error",Service="PJSIP",EventVersion="1",AccountID="sp05011112222",'
          'SessionID="5306",LocalAddress="IPV4/TLS/127.0.0.1/52607",'
          'RemoteAddress="IPV4/TLS/10.1.2.3/59674",Challenge="1/9b",Response="92",'
          'ExpectedResponse=""')


def test_parse_takes_failed_softphone_authentications_only() -> None:
    assert parse(FAILED) == AuthFailure("sp05011112222", "10.1.2.3")
    assert parse(FAILED.replace("ChallengeResponseFailed", "SuccessfulAuth")) is None
    assert parse(FAILED.replace("ChallengeResponseFailed", "ChallengeSent")) is None
    assert parse(FAILED.replace('AccountID="sp05011112222"', 'AccountID="carrier"')) is None
    assert parse("[2026-11-29] Asterisk 22.10.1 built by nobody") is None


def test_a_source_is_denied_on_the_account_after_repeated_failures_then_released() -> None:
    guard = Guard()
    bad = AuthFailure("sp05011112222", "10.1.2.3")
    assert [guard.failed(bad, t) for t in range(SOURCE_FAILURES - 1)] == \
        [None] * (SOURCE_FAILURES - 1)
    block = guard.failed(bad, SOURCE_FAILURES)
    assert block == AccountBlock("sp05011112222", ("10.1.2.3",), False)
    assert guard.failed(bad, SOURCE_FAILURES + 1) is None  # already denied
    assert guard.expire(SOURCE_FAILURES + BLOCK_S - 1) == []
    assert guard.expire(SOURCE_FAILURES + BLOCK_S) == [AccountBlock("sp05011112222")]


def test_failures_spread_over_time_do_not_block() -> None:
    guard = Guard()
    bad = AuthFailure("sp05011112222", "10.1.2.3")
    gap = SOURCE_WINDOW_S / (SOURCE_FAILURES - 1) + 1
    assert all(guard.failed(bad, i * gap) is None for i in range(3 * SOURCE_FAILURES))


def test_an_account_attacked_from_many_sources_is_locked() -> None:
    guard = Guard()
    blocks = [guard.failed(AuthFailure("sp05011112222", f"10.0.{i}.1"), float(i))
              for i in range(ACCOUNT_FAILURES)]
    assert blocks[:-1] == [None] * (ACCOUNT_FAILURES - 1)
    assert blocks[-1] is not None and blocks[-1].locked and blocks[-1].denied_sources == ()
    # another account is untouched
    assert guard.block("sp05099998888") == AccountBlock("sp05099998888")


# ---- the spraying rule: one source over many account names ------------------------------

UNKNOWN = ('[2026-11-29 20:06:27.901] SECURITY[50] res_security_log.c: '
           'SecurityEvent="InvalidAccountID",EventTV="2026-11-29T20:06:27.899+0000",'
           'Severity="Error",Service="PJSIP",EventVersion="1",AccountID="sp05000000000",'
           'SessionID="abc",LocalAddress="IPV4/TLS/127.0.0.1/5061",'
           'RemoteAddress="IPV4/TLS/10.9.9.9/40000"')
NO_SUCH_AOR = ('[2026-11-29 20:06:27.901] SECURITY[50] res_security_log.c: '
               'SecurityEvent="RequestNotSupported",EventTV="2026-11-29T20:06:27.899+0000",'
               'Severity="Error",Service="PJSIP",EventVersion="1",AccountID="carrier",'
               'SessionID="def",LocalAddress="IPV4/TLS/127.0.0.1/5061",'
               'RemoteAddress="IPV4/TLS/127.0.0.9/40000",'
               'RequestType="registrar_requested_aor_not_found"')


def test_parse_source_failure_takes_any_account_name() -> None:
    assert parse_source_failure(FAILED) == SourceFailure("10.1.2.3", "sp05011112222\n5306")
    # the lab phones' and unknown names count too
    assert parse_source_failure(FAILED.replace("sp05011112222", "09000000001")) == \
        SourceFailure("10.1.2.3", "09000000001\n5306")
    assert parse_source_failure(UNKNOWN) == SourceFailure("10.9.9.9", "sp05000000000\nabc")
    assert parse_source_failure(NO_SUCH_AOR) == SourceFailure("127.0.0.9", "carrier\ndef")
    # the placeholder endpoint's digest failure repeats the InvalidAccountID of its request
    assert parse_source_failure(FAILED.replace("sp05011112222", "<unknown>")) is None
    assert parse_source_failure(NO_SUCH_AOR.replace(
        "registrar_requested_aor_not_found", "registrar_attempt_without_registration_permitted")
    ) is None
    assert parse_source_failure(FAILED.replace("ChallengeResponseFailed", "ChallengeSent")) \
        is None
    assert parse_source_failure(FAILED.replace("ChallengeResponseFailed", "SuccessfulAuth")) \
        is None
    assert parse_source_failure("[2026-11-29] Asterisk 22.10.1 built by nobody") is None


def _attempts(source: str, count: int) -> list[SourceFailure]:
    return [SourceFailure(source, f"sp050{i:08d}\ncall{i}") for i in range(count)]


def test_a_spraying_source_is_banned_from_every_account_then_released() -> None:
    guard = Guard()
    results = [guard.source_failed(f, float(t))
               for t, f in enumerate(_attempts("10.9.9.9", SPRAY_FAILURES))]
    assert results == [False] * (SPRAY_FAILURES - 1) + [True]
    assert guard.banned_sources() == ("10.9.9.9",)
    assert not guard.source_failed(SourceFailure("10.9.9.9", "x\ny"), SPRAY_FAILURES)
    # the per-account rules saw nothing of it
    assert guard.block("sp05000000001") == AccountBlock("sp05000000001")
    banned_at = SPRAY_FAILURES - 1
    assert guard.expire_bans(banned_at + BLOCK_S - 1) == []
    assert guard.expire_bans(banned_at + BLOCK_S) == ["10.9.9.9"]
    assert guard.banned_sources() == ()


def test_one_attempt_repeated_counts_once() -> None:
    # a phone with a revoked account re-registers with the same Call-ID: never a ban
    guard = Guard()
    stale = SourceFailure("10.9.9.9", "sp05011112222\nsame-call-id")
    assert not any(guard.source_failed(stale, float(t)) for t in range(10 * SPRAY_FAILURES))


def test_a_trusted_network_is_never_banned() -> None:
    guard = Guard(never_ban=(IPv4Network("192.0.2.0/24"),))
    assert not any(guard.source_failed(f, 0.0) for f in _attempts("192.0.2.7", 50))
    assert guard.banned_sources() == ()
    assert any(guard.source_failed(f, 0.0) for f in _attempts("198.51.100.7", 50))


def test_source_bans_config_is_an_acl_denying_only_the_banned() -> None:
    assert source_bans_config([], 0) == (
        "; written by the app's REGISTER guard (callflow/register_guard.py): do not edit\n"
        "[anshin-source-bans-0]\ntype = acl\n")
    text = source_bans_config(["10.9.9.9", "10.1.2.3", "10.9.9.9"], 1)
    assert text.splitlines()[1:] == ["[anshin-source-bans-1]", "type = acl",
                                     "deny = 10.1.2.3/32", "deny = 10.9.9.9/32"]
    assert "permit" not in text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 10_000), st.integers(0, 30)), max_size=80))
def test_a_source_under_the_limit_in_every_window_is_never_banned(
        events: list[tuple[float, int]]) -> None:
    """Whatever the timing, a source is banned exactly when some window of SPRAY_WINDOW_S
    holds SPRAY_FAILURES distinct attempts (while no ban was in force); bans expire."""
    guard = Guard()
    seen: dict[str, float] = {}
    banned_until = None
    for now, n in sorted(events):
        if banned_until is not None and banned_until <= now:
            assert guard.expire_bans(now) == ["10.9.9.9"]
            banned_until, seen = None, {}
        else:
            assert guard.expire_bans(now) == []
        failure = SourceFailure("10.9.9.9", f"a{n}\nc{n}")
        banned = guard.source_failed(failure, now)
        if banned_until is None:
            seen[failure.attempt] = now
            seen = {a: t for a, t in seen.items() if t > now - SPRAY_WINDOW_S}
            assert banned == (len(seen) >= SPRAY_FAILURES)
            if banned:
                banned_until, seen = now + BLOCK_S, {}
        else:
            assert not banned
        assert guard.banned_sources() == (("10.9.9.9",) if banned_until is not None else ())


def test_never_ban_networks_are_parsed_at_start_and_a_typo_refuses_to_start() -> None:
    settings = Settings(register_guard_never_ban="192.0.2.0/24, 127.0.0.1/32")
    assert settings.never_banned_networks == (IPv4Network("192.0.2.0/24"),
                                              IPv4Network("127.0.0.1/32"))
    assert Settings().never_banned_networks == ()
    with pytest.raises(pydantic.ValidationError, match="register_guard_never_ban"):
        Settings(register_guard_never_ban="192.0.2.0/33")
