"""SIPp-based call harness for the 050 Anshin Number tests.

Lab tooling shared by the tests and the benchmarks (``labkit.harness``); the product
never imports it.

* :mod:`labkit.harness.rtp` - RTP/pcap generation (RFC 4733 DTMF, PCMU audio) and an
  asyncio RTP receiver that measures what the far end sent.
* :mod:`labkit.harness.scenario_xml` - SIPp 3.6 scenario XML generation (UAC and UAS).
* :mod:`labkit.harness.sipp` - the async runner: :func:`labkit.harness.sipp.place_call` and
  :class:`labkit.harness.sipp.Uas`.
* :mod:`labkit.harness.wait` - :func:`labkit.harness.wait.wait_until`, the bounded poll
  tests wait with.
* :mod:`labkit.harness.register` - a SIP REGISTER client for lab phones.
* :mod:`labkit.harness.callback_uas` - a carrier UAS that behaves per called number
  (both あんしん発信 legs).
"""

from __future__ import annotations

from .rtp import RtpStats
from .sipp import (
    CallResult,
    Dtmf,
    Hangup,
    Quiet,
    SipMessage,
    Speak,
    Uas,
    Wait,
    place_call,
)

__all__ = [
    "CallResult",
    "Dtmf",
    "Hangup",
    "Quiet",
    "RtpStats",
    "SipMessage",
    "Speak",
    "Uas",
    "Wait",
    "place_call",
]
