"""RTP helpers for the SIPp harness.

* G.711 mu-law (PCMU) encode/decode, RTP packet build/parse, RFC 4733
  telephone-event payloads.
* :class:`RtpStream` builds one continuous RTP stream (single SSRC, continuous
  sequence numbers and timestamps, 20 ms pacing) out of silence, speech-like
  audio and DTMF events.  This matters: the stock
  ``/usr/share/sip-tester/dtmf_2833_*.pcap`` files carry fixed sequence
  numbers/timestamps, so playing the same digit twice ("1111") reaches Asterisk
  as one digit.  One generated stream per call avoids that.
* :func:`write_pcap` / :func:`read_pcap`: classic libpcap files
  (Ethernet/IPv4/UDP, written with :mod:`struct`) for SIPp's
  ``play_pcap_audio``.  SIPp rewrites IPs/ports when it plays the file.
* :class:`RtpReceiver`: an asyncio datagram protocol that counts what the far
  end sent to our SDP media port (packets, bytes, payload types, non-silent
  audio, RFC 4733 digits).  See :mod:`labkit.harness.sipp` for how the SDP port is
  pointed at it while SIPp keeps sending from the same port.
"""

from __future__ import annotations

import asyncio
import io
import math
import random
import struct
import wave
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

SAMPLE_RATE = 8000
PTIME_S = 0.02
SAMPLES_PER_PACKET = 160  # 20 ms at 8 kHz
PT_PCMU = 0
PT_PCMA = 8
PT_TELEPHONE_EVENT = 101

#: RFC 4733 event codes for DTMF.
DTMF_EVENTS: dict[str, int] = {
    **{str(d): d for d in range(10)},
    "*": 10,
    "#": 11,
    "A": 12,
    "B": 13,
    "C": 14,
    "D": 15,
}
EVENT_TO_DIGIT: dict[int, str] = {v: k for k, v in DTMF_EVENTS.items()}

# --------------------------------------------------------------------------- G.711

_ULAW_BIAS = 0x84
_ULAW_CLIP = 32635


def linear_to_ulaw(sample: int) -> int:
    """Encode one signed 16-bit linear sample as G.711 mu-law."""
    sign = 0
    if sample < 0:
        sign = 0x80
        sample = -sample
    sample = min(sample, _ULAW_CLIP) + _ULAW_BIAS
    exponent = min(7, max(0, sample.bit_length() - 8))
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def ulaw_to_linear(value: int) -> int:
    """Decode one G.711 mu-law byte to a signed 16-bit linear sample."""
    value = ~value & 0xFF
    sign = value & 0x80
    exponent = (value >> 4) & 0x07
    mantissa = value & 0x0F
    sample = (((mantissa << 3) + _ULAW_BIAS) << exponent) - _ULAW_BIAS
    return -sample if sign else sample


def alaw_to_linear(value: int) -> int:
    """Decode one G.711 A-law byte to a signed 16-bit linear sample."""
    value ^= 0x55
    sign = value & 0x80
    exponent = (value >> 4) & 0x07
    mantissa = value & 0x0F
    sample = (mantissa << 4) + 8 if exponent == 0 else ((mantissa << 4) + 0x108) << (exponent - 1)
    return sample if sign else -sample


_ULAW_DECODE = [ulaw_to_linear(i) for i in range(256)]
_ALAW_DECODE = [alaw_to_linear(i) for i in range(256)]
ULAW_SILENCE = linear_to_ulaw(0)  # 0xFF


def mean_abs_amplitude(payload: bytes, payload_type: int = PT_PCMU) -> float:
    """Mean absolute linear amplitude of a G.711 payload (0 for empty)."""
    if not payload:
        return 0.0
    table = _ALAW_DECODE if payload_type == PT_PCMA else _ULAW_DECODE
    return sum(abs(table[b]) for b in payload) / len(payload)


# --------------------------------------------------------------------------- RTP


@dataclass(frozen=True)
class RtpPacket:
    """A parsed RTP packet (RFC 3550 fixed header + payload)."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool
    payload: bytes
    version: int = 2
    csrc: tuple[int, ...] = ()


def build_rtp(
    *,
    payload_type: int,
    sequence: int,
    timestamp: int,
    ssrc: int,
    payload: bytes,
    marker: bool = False,
) -> bytes:
    """Serialise an RTP packet with no CSRCs, padding or extension."""
    byte0 = 0x80  # V=2
    byte1 = (0x80 if marker else 0) | (payload_type & 0x7F)
    header = struct.pack(
        "!BBHII", byte0, byte1, sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc & 0xFFFFFFFF
    )
    return header + payload


def parse_rtp(data: bytes) -> RtpPacket | None:
    """Parse an RTP packet; ``None`` if it is not RTP version 2."""
    if len(data) < 12:
        return None
    byte0, byte1, seq, ts, ssrc = struct.unpack("!BBHII", data[:12])
    version = byte0 >> 6
    if version != 2:
        return None
    cc = byte0 & 0x0F
    offset = 12 + 4 * cc
    if len(data) < offset:
        return None
    csrc = struct.unpack(f"!{cc}I", data[12:offset]) if cc else ()
    if byte0 & 0x10:  # header extension
        if len(data) < offset + 4:
            return None
        (ext_words,) = struct.unpack("!H", data[offset + 2 : offset + 4])
        offset += 4 + 4 * ext_words
    end = len(data)
    if byte0 & 0x20 and end > offset:  # padding
        end -= data[-1]
    return RtpPacket(
        payload_type=byte1 & 0x7F,
        sequence=seq,
        timestamp=ts,
        ssrc=ssrc,
        marker=bool(byte1 & 0x80),
        payload=data[offset : max(offset, end)],
        version=version,
        csrc=tuple(csrc),
    )


@dataclass(frozen=True)
class TelephoneEvent:
    """An RFC 4733 telephone-event payload."""

    event: int
    end: bool
    volume: int
    duration: int

    @property
    def digit(self) -> str | None:
        return EVENT_TO_DIGIT.get(self.event)


def build_telephone_event(event: int, *, end: bool, volume: int, duration: int) -> bytes:
    return struct.pack(
        "!BBH", event & 0xFF, (0x80 if end else 0) | (volume & 0x3F), duration & 0xFFFF
    )


def parse_telephone_event(payload: bytes) -> TelephoneEvent | None:
    if len(payload) < 4:
        return None
    event, flags, duration = struct.unpack("!BBH", payload[:4])
    return TelephoneEvent(
        event=event, end=bool(flags & 0x80), volume=flags & 0x3F, duration=duration
    )


# --------------------------------------------------------------------------- stream builder


@dataclass(frozen=True)
class TimedPacket:
    """An RTP packet and when to send it (seconds from stream start)."""

    offset_s: float
    data: bytes


def _ticks(seconds: float) -> int:
    return max(0, round(seconds / PTIME_S))


class RtpStream:
    """Builds one continuous RTP stream paced at 20 ms.

    Every call appends to the stream; sequence numbers increase by one per
    packet and the RTP clock advances 160 per 20 ms tick over the whole stream,
    so silence, audio and DTMF can be mixed freely.  DTMF events follow
    RFC 4733: the first packet has the marker bit, the duration grows by 160
    per packet, the event timestamp is the clock at event start, and the end is
    signalled by three packets with the E bit (each on its own 20 ms tick).
    """

    def __init__(
        self,
        *,
        ssrc: int | None = None,
        first_sequence: int | None = None,
        first_timestamp: int | None = None,
        audio_payload_type: int = PT_PCMU,
        event_payload_type: int = PT_TELEPHONE_EVENT,
        rng: random.Random | None = None,
    ) -> None:
        r = rng or random.Random()
        self.ssrc = r.getrandbits(32) if ssrc is None else ssrc
        self.first_sequence = r.randrange(0, 0x8000) if first_sequence is None else first_sequence
        self.first_timestamp = (
            r.randrange(0, 0x7FFFFFFF) if first_timestamp is None else first_timestamp
        )
        self.audio_payload_type = audio_payload_type
        self.event_payload_type = event_payload_type
        self.packets: list[TimedPacket] = []
        self._tick = 0
        self._seq = self.first_sequence
        self._tone_phase_samples = 0
        self._marker_next_audio = True

    @property
    def duration_s(self) -> float:
        """Stream length so far (ticks * 20 ms)."""
        return self._tick * PTIME_S

    @property
    def _clock(self) -> int:
        return (self.first_timestamp + self._tick * SAMPLES_PER_PACKET) & 0xFFFFFFFF

    def _emit(self, payload_type: int, timestamp: int, payload: bytes, marker: bool) -> None:
        data = build_rtp(
            payload_type=payload_type,
            sequence=self._seq,
            timestamp=timestamp,
            ssrc=self.ssrc,
            payload=payload,
            marker=marker,
        )
        self.packets.append(TimedPacket(self._tick * PTIME_S, data))
        self._seq = (self._seq + 1) & 0xFFFF
        self._tick += 1

    def _audio_frame(self, payload: bytes) -> None:
        marker = self._marker_next_audio
        self._marker_next_audio = False
        self._emit(self.audio_payload_type, self._clock, payload, marker)

    def silence(self, seconds: float) -> RtpStream:
        """Append PCMU silence (digital silence, 0xFF)."""
        frame = bytes([ULAW_SILENCE]) * SAMPLES_PER_PACKET
        for _ in range(_ticks(seconds)):
            self._audio_frame(frame)
        return self

    def pause(self, seconds: float) -> RtpStream:
        """Send nothing for ``seconds``, as a phone with silence suppression (VAD/DTX)
        does while its user is quiet: the RTP clock runs on and the next talkspurt's first
        packet carries the marker bit (RFC 3551 4.1)."""
        self._tick += _ticks(seconds)
        self._marker_next_audio = True
        return self

    def speech(
        self,
        seconds: float,
        *,
        frequency_hz: float = 400.0,
        on_s: float = 0.3,
        off_s: float = 0.1,
        amplitude: int = 8000,
    ) -> RtpStream:
        """Append speech-like PCMU: a tone gated on/off (syllable rhythm).

        400 Hz is not a DTMF frequency, so in-band DTMF detectors stay quiet,
        while talk/silence detectors (voicemail) see voice energy.
        """
        period = on_s + off_s
        for _ in range(_ticks(seconds)):
            samples = bytearray()
            for _ in range(SAMPLES_PER_PACKET):
                n = self._tone_phase_samples
                self._tone_phase_samples += 1
                t = n / SAMPLE_RATE
                gate = (t % period) < on_s if period > 0 else True
                value = int(amplitude * math.sin(2 * math.pi * frequency_hz * t)) if gate else 0
                samples.append(linear_to_ulaw(value))
            self._audio_frame(bytes(samples))
        return self

    def voice(self, wav: bytes) -> RtpStream:
        """Append a recording (8 kHz 16-bit mono WAV, e.g. Open JTalk speech) as PCMU,
        the last frame padded with silence."""
        with wave.open(io.BytesIO(wav), "rb") as w:
            if (w.getframerate(), w.getsampwidth(), w.getnchannels()) != (SAMPLE_RATE, 2, 1):
                raise ValueError("expected an 8 kHz 16-bit mono WAV")
            frames = w.readframes(w.getnframes())
        samples = struct.unpack(f"<{len(frames) // 2}h", frames)
        for start in range(0, len(samples), SAMPLES_PER_PACKET):
            chunk = samples[start : start + SAMPLES_PER_PACKET]
            payload = bytes(linear_to_ulaw(v) for v in chunk)
            self._audio_frame(payload.ljust(SAMPLES_PER_PACKET, bytes([ULAW_SILENCE])))
        return self

    def dtmf(
        self,
        digits: str,
        *,
        duration_s: float = 0.16,
        gap_s: float = 0.1,
        volume: int = 10,
    ) -> RtpStream:
        """Append RFC 4733 events for ``digits``; gaps are PCMU silence.

        Per digit: ``duration_s`` of event packets (marker on the first),
        three end packets (E bit, final duration), then ``gap_s`` of silence.
        """
        n_packets = max(1, _ticks(duration_s))
        for ch in digits:
            event = dtmf_event_code(ch)
            event_ts = self._clock
            for i in range(n_packets):
                payload = build_telephone_event(
                    event, end=False, volume=volume, duration=(i + 1) * SAMPLES_PER_PACKET
                )
                self._emit(self.event_payload_type, event_ts, payload, marker=i == 0)
            final = build_telephone_event(
                event, end=True, volume=volume, duration=n_packets * SAMPLES_PER_PACKET
            )
            for _ in range(3):
                self._emit(self.event_payload_type, event_ts, final, marker=False)
            self.silence(gap_s)
        return self


def dtmf_event_code(digit: str) -> int:
    try:
        return DTMF_EVENTS[digit.upper()]
    except KeyError:
        raise ValueError(f"not a DTMF digit: {digit!r}") from None


def dtmf_digit_period_s(duration_s: float = 0.16, gap_s: float = 0.1) -> float:
    """Time one digit occupies in :meth:`RtpStream.dtmf` (events + 3 end packets + gap)."""
    return (max(1, _ticks(duration_s)) + 3 + _ticks(gap_s)) * PTIME_S


# --------------------------------------------------------------------------- pcap

PCAP_MAGIC = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1
_PCAP_BASE_EPOCH = 1_700_000_000


def _ipv4_checksum(header: bytes) -> int:
    total = 0
    for (word,) in struct.iter_unpack("!H", header):
        total += word
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ip_bytes(ip: str) -> bytes:
    parts = [int(p) for p in ip.split(".")]
    if len(parts) != 4 or not all(0 <= p <= 255 for p in parts):
        raise ValueError(f"not an IPv4 address: {ip!r}")
    return bytes(parts)


def _udp_checksum(src: bytes, dst: bytes, udp: bytes) -> int:
    pseudo = src + dst + struct.pack("!BBH", 0, 17, len(udp))
    data = pseudo + udp
    if len(data) % 2:
        data += b"\x00"
    checksum = _ipv4_checksum(data)
    return checksum or 0xFFFF


def ethernet_ipv4_udp_frame(
    payload: bytes, *, src_ip: str, dst_ip: str, src_port: int, dst_port: int, ip_id: int
) -> bytes:
    src, dst = _ip_bytes(src_ip), _ip_bytes(dst_ip)
    udp_len = 8 + len(payload)
    udp_no_sum = struct.pack("!HHHH", src_port, dst_port, udp_len, 0) + payload
    udp = (
        struct.pack("!HHHH", src_port, dst_port, udp_len, _udp_checksum(src, dst, udp_no_sum))
        + payload
    )
    ip_wo_sum = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, ip_id & 0xFFFF, 0x4000, 64, 17, 0, src, dst
    )
    ip_header = ip_wo_sum[:10] + struct.pack("!H", _ipv4_checksum(ip_wo_sum)) + ip_wo_sum[12:]
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + struct.pack("!H", 0x0800)
    return eth + ip_header + udp


def write_pcap(
    path: Path | str,
    packets: Iterable[TimedPacket],
    *,
    src_ip: str = "127.0.0.1",
    dst_ip: str = "127.0.0.1",
    src_port: int = 6000,
    dst_port: int = 6000,
) -> Path:
    """Write UDP payloads as a classic pcap (Ethernet/IPv4/UDP, usec stamps)."""
    out = Path(path)
    chunks = [struct.pack("<IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, 65535, LINKTYPE_ETHERNET)]
    for i, pkt in enumerate(packets):
        frame = ethernet_ipv4_udp_frame(
            pkt.data, src_ip=src_ip, dst_ip=dst_ip, src_port=src_port, dst_port=dst_port, ip_id=i
        )
        micros = round(pkt.offset_s * 1_000_000)
        sec, usec = divmod(micros, 1_000_000)
        chunks.append(struct.pack("<IIII", _PCAP_BASE_EPOCH + sec, usec, len(frame), len(frame)))
        chunks.append(frame)
    out.write_bytes(b"".join(chunks))
    return out


@dataclass(frozen=True)
class PcapRecord:
    """One UDP datagram read back from a pcap file."""

    timestamp: float
    src_ip: str
    dst_ip: str
    src_port: int
    dst_port: int
    payload: bytes
    udp_checksum_ok: bool
    ip_checksum_ok: bool


def read_pcap(path: Path | str) -> list[PcapRecord]:
    """Parse a classic little-endian Ethernet pcap with IPv4/UDP frames."""
    data = Path(path).read_bytes()
    magic, major, minor, _zone, _sig, _snap, link = struct.unpack("<IHHiIII", data[:24])
    if magic != PCAP_MAGIC or (major, minor) != (2, 4) or link != LINKTYPE_ETHERNET:
        raise ValueError("not a classic little-endian Ethernet pcap")
    records: list[PcapRecord] = []
    pos = 24
    while pos < len(data):
        sec, usec, incl, orig = struct.unpack("<IIII", data[pos : pos + 16])
        pos += 16
        frame = data[pos : pos + incl]
        pos += incl
        if incl != orig or len(frame) != incl:
            raise ValueError("truncated pcap record")
        (ethertype,) = struct.unpack("!H", frame[12:14])
        if ethertype != 0x0800:
            raise ValueError("not IPv4")
        ip = frame[14:34]
        if ip[0] != 0x45 or ip[9] != 17:
            raise ValueError("not a plain IPv4/UDP frame")
        (total_len,) = struct.unpack("!H", ip[2:4])
        udp = frame[34 : 14 + total_len]
        sport, dport, ulen, _usum = struct.unpack("!HHHH", udp[:8])
        if ulen != len(udp):
            raise ValueError("bad UDP length")
        records.append(
            PcapRecord(
                timestamp=sec + usec / 1_000_000,
                src_ip=".".join(str(b) for b in ip[12:16]),
                dst_ip=".".join(str(b) for b in ip[16:20]),
                src_port=sport,
                dst_port=dport,
                payload=udp[8:],
                udp_checksum_ok=_ipv4_checksum(
                    ip[12:20]
                    + struct.pack("!BBH", 0, 17, len(udp))
                    + udp
                    + (b"\x00" if len(udp) % 2 else b"")
                )
                == 0,
                ip_checksum_ok=_ipv4_checksum(ip) == 0,
            )
        )
    return records


def write_dtmf_pcap(
    path: Path | str,
    digits: str,
    *,
    lead_in_s: float = 0.2,
    duration_s: float = 0.16,
    gap_s: float = 0.1,
    tail_s: float = 0.2,
) -> Path:
    """A pcap with ``lead_in_s`` PCMU silence, the digits, ``tail_s`` silence."""
    stream = RtpStream().silence(lead_in_s).dtmf(digits, duration_s=duration_s, gap_s=gap_s)
    stream.silence(tail_s)
    return write_pcap(path, stream.packets)


def write_audio_pcap(path: Path | str, seconds: float, *, kind: str = "speech") -> Path:
    """A PCMU pcap of ``seconds`` of speech-like tone (``kind="speech"``) or silence."""
    stream = RtpStream()
    if kind == "speech":
        stream.speech(seconds)
    elif kind == "silence":
        stream.silence(seconds)
    else:
        raise ValueError(f"unknown audio kind {kind!r}")
    return write_pcap(path, stream.packets)


# --------------------------------------------------------------------------- receiver

#: raw audio bytes (a name of its own: RtpStats has a field called ``bytes``)
Pcm = bytes

#: mean |amplitude| above which a G.711 frame counts as "voice" (not silence/comfort noise)
VOICE_THRESHOLD = 200.0


@dataclass(frozen=True)
class RtpStats:
    """What arrived on the RTP port.  Times are seconds on the event-loop clock."""

    packets: int = 0
    bytes: int = 0  # UDP payload bytes (RTP header + payload)
    payload_types: dict[int, int] = field(default_factory=dict)
    audio_s: float = 0.0  # G.711 (PT 0/8) audio received, in seconds of samples
    voiced_s: float = 0.0  # of which non-silent
    dtmf_digits: str = ""  # RFC 4733 digits received (PT 101 or any PT carrying 4-byte events)
    ssrcs: tuple[int, ...] = ()
    sources: tuple[str, ...] = ()
    first_at: float | None = None
    last_at: float | None = None
    rtcp_packets: int = 0
    #: what the caller heard: the G.711 audio decoded to 16-bit little-endian linear PCM at
    #: 8 kHz, in arrival order, with the gaps when nothing arrived filled with silence
    pcm: Pcm = field(default=b"", repr=False, compare=False)
    #: (arrival time of the last audio packet before, seconds until the next one) for every
    #: pause in the received audio longer than PAUSE_S: what the caller heard as nothing
    pauses: tuple[tuple[float, float], ...] = field(default=(), repr=False, compare=False)

    def pause_around(self, at: float) -> float:
        """The length of the pause in the received audio that spans the instant `at`
        (loop time), 0.0 if audio was arriving then."""
        return next((length for start, length in self.pauses
                     if start <= at <= start + length), 0.0)

    @property
    def received_media(self) -> bool:
        return self.packets > 0

    def wav(self) -> Pcm:
        """What the caller heard as a WAV file (8 kHz, 16-bit, mono)."""
        return pcm_to_wav(self.pcm)


def pcm_to_wav(pcm: bytes, rate: int = SAMPLE_RATE) -> bytes:
    """16-bit mono linear PCM as a WAV file."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


#: RtpStats.pauses lists gaps between audio packets longer than this
PAUSE_S = 0.25


def _pauses(frames: Sequence[tuple[float, int, bytes]]) -> tuple[tuple[float, float], ...]:
    times = [f[0] for f in frames]
    return tuple((times[i], times[i + 1] - times[i]) for i in range(len(times) - 1)
                 if times[i + 1] - times[i] > PAUSE_S)


#: a pause between packets longer than this is heard as silence of that length (Asterisk
#: sends nothing between some announcements); shorter gaps are network jitter
_GAP_AS_SILENCE_S = 0.1


def heard_pcm(frames: Sequence[tuple[float, int, bytes]]) -> bytes:
    """Decode (arrival time, payload type, G.711 payload) frames to 16-bit linear PCM, laid
    out one after the other, with silence where the sender paused."""
    out = bytearray()
    if not frames:
        return b""
    first = frames[0][0]
    for arrived, payload_type, payload in frames:
        due = round((arrived - first) * SAMPLE_RATE)  # where this frame starts, by arrival
        have = len(out) // 2
        if due - have > _GAP_AS_SILENCE_S * SAMPLE_RATE:
            out += b"\x00\x00" * (due - have)
        table = _ALAW_DECODE if payload_type == PT_PCMA else _ULAW_DECODE
        out += struct.pack(f"<{len(payload)}h", *(table[b] for b in payload))
    return bytes(out)


class RtpReceiver(asyncio.DatagramProtocol):
    """Counts RTP arriving on a UDP port (and RTCP on a second one, optional)."""

    def __init__(self, *, event_payload_types: Sequence[int] = (PT_TELEPHONE_EVENT,)) -> None:
        self._event_pts = set(event_payload_types)
        self._loop = asyncio.get_running_loop()
        self.packets = 0
        self.bytes = 0
        self.payload_types: dict[int, int] = {}
        self.audio_s = 0.0
        self.voiced_s = 0.0
        self.digits: list[str] = []
        self._seen_events: set[tuple[int, int]] = set()
        self.ssrcs: list[int] = []
        self.sources: list[str] = []
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.rtcp_packets = 0
        self.transport: asyncio.DatagramTransport | None = None
        self._audio: list[tuple[float, int, bytes]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, int]) -> None:
        now = self._loop.time()
        pkt = parse_rtp(data)
        if pkt is None:
            return
        if 72 <= (data[1] & 0x7F) <= 76:  # RTCP multiplexed on the RTP port (SR/RR/...)
            self.rtcp_packets += 1
            return
        self.packets += 1
        self.bytes += len(data)
        self.payload_types[pkt.payload_type] = self.payload_types.get(pkt.payload_type, 0) + 1
        if self.first_at is None:
            self.first_at = now
        self.last_at = now
        if pkt.ssrc not in self.ssrcs:
            self.ssrcs.append(pkt.ssrc)
        source = f"{addr[0]}:{addr[1]}"
        if source not in self.sources:
            self.sources.append(source)
        if pkt.payload_type in (PT_PCMU, PT_PCMA):
            seconds = len(pkt.payload) / SAMPLE_RATE
            self.audio_s += seconds
            self._audio.append((now, pkt.payload_type, pkt.payload))
            if mean_abs_amplitude(pkt.payload, pkt.payload_type) > VOICE_THRESHOLD:
                self.voiced_s += seconds
        elif pkt.payload_type in self._event_pts or (
            96 <= pkt.payload_type <= 127 and len(pkt.payload) == 4
        ):
            ev = parse_telephone_event(pkt.payload)
            key = (pkt.ssrc, pkt.timestamp)
            if ev is not None and ev.digit is not None and key not in self._seen_events:
                self._seen_events.add(key)
                self.digits.append(ev.digit)

    def stats(self) -> RtpStats:
        return RtpStats(
            packets=self.packets,
            bytes=self.bytes,
            payload_types=dict(self.payload_types),
            audio_s=round(self.audio_s, 3),
            voiced_s=round(self.voiced_s, 3),
            dtmf_digits="".join(self.digits),
            ssrcs=tuple(self.ssrcs),
            sources=tuple(self.sources),
            first_at=self.first_at,
            last_at=self.last_at,
            rtcp_packets=self.rtcp_packets,
            pcm=heard_pcm(self._audio),
            pauses=_pauses(self._audio),
        )


class _RtcpSink(asyncio.DatagramProtocol):
    def __init__(self, owner: RtpReceiver) -> None:
        self._owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | int, int]) -> None:
        self._owner.rtcp_packets += 1
