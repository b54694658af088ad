"""The prompt manifest: prompt id -> Japanese wording (and, where needed, reading).

The manifest lives next to this module as ``manifest.toml``; see the comment at
its top for the format. The app uses :data:`PROMPT_IDS` to check at startup that
every prompt id it may play exists; the generator (:mod:`ivr_prompts.generate`)
turns the manifest into ``<id>.wav`` files.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "PROMPT_IDS",
    "Manifest",
    "ManifestError",
    "Prompt",
    "Tone",
    "default_manifest_path",
    "load_manifest",
    "read_manifest",
]

_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_PROMPT_KEYS = frozenset({"text", "say"})
_TONE_KEYS = frozenset({"frequency", "duration"})


class ManifestError(ValueError):
    """The manifest file is malformed (bad id, duplicate id, empty text, ...)."""


@dataclass(frozen=True, slots=True)
class Prompt:
    """One spoken prompt. ``say`` is the text given to Open JTalk."""

    id: str
    text: str
    say: str
    group: str


@dataclass(frozen=True, slots=True)
class Tone:
    """A non-speech sound synthesised with sox (e.g. the voicemail beep)."""

    id: str
    frequency: float
    duration: float


@dataclass(frozen=True, slots=True)
class Manifest:
    prompts: dict[str, Prompt]
    tones: dict[str, Tone]

    @property
    def ids(self) -> frozenset[str]:
        """Every sound id the manifest defines (speech prompts and tones)."""
        return frozenset(self.prompts) | frozenset(self.tones)


def default_manifest_path() -> Path:
    return Path(__file__).with_name("manifest.toml")


def _check_id(pid: str, where: str) -> None:
    if not _ID_RE.fullmatch(pid):
        raise ManifestError(f"{where}: prompt id {pid!r} is not ASCII snake_case")


def _nonempty_str(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ManifestError(f"{what} must be a non-empty string")
    return value.strip()


def _parse_prompt(group: str, pid: str, value: Any) -> Prompt:
    where = f"prompts.{group}.{pid}"
    if isinstance(value, str):
        text = _nonempty_str(value, where)
        return Prompt(pid, text, text, group)
    if isinstance(value, dict):
        unknown = set(value) - _PROMPT_KEYS
        if unknown:
            raise ManifestError(f"{where}: unknown keys {sorted(unknown)}")
        text = _nonempty_str(value.get("text"), f"{where}.text")
        say = _nonempty_str(value.get("say", text), f"{where}.say")
        return Prompt(pid, text, say, group)
    raise ManifestError(f"{where}: expected a string or {{ text = ..., say = ... }}")


def _parse_tone(tid: str, value: Any) -> Tone:
    where = f"tones.{tid}"
    if not isinstance(value, dict) or set(value) != _TONE_KEYS:
        raise ManifestError(f"{where}: expected {{ frequency = Hz, duration = seconds }}")
    freq, dur = value["frequency"], value["duration"]
    if isinstance(freq, bool) or not isinstance(freq, int | float) or not 20 <= freq <= 3400:
        raise ManifestError(f"{where}.frequency must be 20..3400 Hz (telephone band)")
    if isinstance(dur, bool) or not isinstance(dur, int | float) or not 0 < dur <= 10:
        raise ManifestError(f"{where}.duration must be 0..10 seconds")
    return Tone(tid, float(freq), float(dur))


def parse_manifest(data: dict[str, Any]) -> Manifest:
    """Validate a decoded manifest document."""
    unknown = set(data) - {"prompts", "tones"}
    if unknown:
        raise ManifestError(f"unknown top-level tables {sorted(unknown)}")
    groups = data.get("prompts")
    if not isinstance(groups, dict) or not groups:
        raise ManifestError("[prompts.<group>] tables are missing")
    prompts: dict[str, Prompt] = {}
    for group, entries in groups.items():
        if not isinstance(entries, dict):
            raise ManifestError(f"prompts.{group} must be a table of prompts")
        for pid, value in entries.items():
            _check_id(pid, f"prompts.{group}")
            if pid in prompts:
                raise ManifestError(
                    f"prompt id {pid!r} defined in both {prompts[pid].group!r} and {group!r}"
                )
            prompts[pid] = _parse_prompt(group, pid, value)
    tones: dict[str, Tone] = {}
    raw_tones = data.get("tones", {})
    if not isinstance(raw_tones, dict):
        raise ManifestError("[tones] must be a table")
    for tid, value in raw_tones.items():
        _check_id(tid, "tones")
        if tid in prompts:
            raise ManifestError(f"tone id {tid!r} is also a prompt id")
        tones[tid] = _parse_tone(tid, value)
    return Manifest(prompts, tones)


def read_manifest(path: Path | str | None = None) -> Manifest:
    """Read and validate the manifest (the packaged one by default)."""
    p = Path(path) if path is not None else default_manifest_path()
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{p}: {exc}") from exc
    try:
        return parse_manifest(data)
    except ManifestError as exc:
        raise ManifestError(f"{p}: {exc}") from exc


def load_manifest(path: Path | str | None = None) -> dict[str, str]:
    """Prompt id -> Japanese wording (the ``text``, not the TTS reading).

    Only spoken prompts; tones (``beep``) are in :data:`PROMPT_IDS` too.
    """
    return {pid: p.text for pid, p in read_manifest(path).prompts.items()}


PROMPT_IDS: frozenset[str] = read_manifest().ids
"""Every sound id that ``python -m ivr_prompts`` generates (speech and tones)."""
