"""REGISTER guard (callflow/register_guard.py): what a security log line says, and when a
source or an account is blocked and released."""

from __future__ import annotations

from callflow.register_guard import (
    ACCOUNT_FAILURES,
    BLOCK_S,
    SOURCE_FAILURES,
    SOURCE_WINDOW_S,
    AccountBlock,
    AuthFailure,
    Guard,
    parse,
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
