"""SIPp-based call harness for the 050 Anshin Number tests.

Import as ``harness``: ``tests`` is on ``sys.path`` via ``pythonpath`` in
``[tool.pytest.ini_options]`` (and ``mypy_path``).

* :mod:`harness.rtp` - RTP/pcap generation (RFC 4733 DTMF, PCMU audio) and an
  asyncio RTP receiver that measures what the far end sent.
* :mod:`harness.scenario_xml` - SIPp 3.6 scenario XML generation (UAC and UAS).
* :mod:`harness.sipp` - the async runner: :func:`harness.sipp.place_call` and
  :class:`harness.sipp.Uas`.
* :mod:`harness.wait` - :func:`harness.wait.wait_until`, the bounded poll tests wait with.
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
