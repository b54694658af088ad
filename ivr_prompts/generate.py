"""Generate the prompt audio: manifest.toml -> <outdir>/<id>.wav.

Each spoken prompt is synthesised with Open JTalk (48 kHz) and converted by sox
to 8 kHz, 16-bit, mono PCM WAV, the format Asterisk plays natively as ``slin``
without transcoding (``Playback(sound:<id>)`` with the outdir on its sounds
path). Levels are normalised so that prompts played back to back in one
playback list (e.g. "新しいメッセージが" + "さんけん" + "あります。") match, and
100 ms of silence is appended so that concatenated pieces do not run together.

Outputs are cached by content: ``<outdir>/.hashes.json`` records, per id, a
hash over the TTS reading, the voice file's content, the dictionary's file list,
the tool arguments and :data:`GENERATOR_VERSION`. Only prompts whose hash
changed (or whose file is missing) are regenerated; ids no longer in the
manifest are removed, if (and only if) the generator created them.

Usage::

    python -m ivr_prompts [--out build/prompts] [--jobs N] [--check] [--force]
    python -m ivr_prompts --readings ID...     # show how Open JTalk reads prompts
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ivr_prompts.manifest import Manifest, ManifestError, Prompt, Tone, read_manifest

__all__ = [
    "GENERATOR_VERSION",
    "GenerateError",
    "Result",
    "Toolchain",
    "check",
    "generate",
    "main",
    "reading",
]

# Bump when the way audio is produced changes in a way the hashed inputs below
# do not capture; every prompt is then regenerated.
GENERATOR_VERSION = "1"

DEFAULT_DIC = "/var/lib/mecab/dic/open-jtalk/naist-jdic"
DEFAULT_VOICE = "/usr/share/hts-voice/nitech-jp-atr503-m001/nitech_jp_atr503_m001.htsvoice"
DEFAULT_OUT = Path("build/prompts")
CACHE_FILE = ".hashes.json"
SAMPLE_RATE = 8000
PAD_SECONDS = 0.1
SUBPROCESS_TIMEOUT = 60.0

# Extra Open JTalk synthesis options (none: the voice's defaults).
OPEN_JTALK_ARGS: tuple[str, ...] = ()
# sox output format + effects for speech. The rate change 48k -> 8k is added by
# sox itself (high-quality `rate`, which low-passes below 4 kHz).
_SOX_FORMAT = ("-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer")
# Open JTalk surrounds every utterance with ~0.4 s of near-silence; trimmed
# (below -54 dBFS after normalising) so that pieces played back to back
# ("新しいメッセージが" + "サンケン" + "あります。", digit by digit) do not have
# second-long gaps, then 30 ms lead-in and PAD_SECONDS of silence are added.
SOX_SPEECH_EFFECTS: tuple[str, ...] = (
    "norm", "-3",
    "silence", "1", "0.02", "0.2%", "reverse", "silence", "1", "0.02", "0.2%", "reverse",
    "pad", "0.03", str(PAD_SECONDS),
)  # fmt: skip


def _tone_effects(tone: Tone) -> tuple[str, ...]:
    # 10 ms fades avoid clicks at the edges; -6 dBFS is a comfortable beep level.
    d = f"{tone.duration:g}"
    return ("synth", d, "sine", f"{tone.frequency:g}", "gain", "-6", "fade", "t", "0.01", d, "0.01")


class GenerateError(RuntimeError):
    """A tool is missing or failed; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Toolchain:
    open_jtalk: str | None
    sox: str | None
    dic: Path
    voice: Path

    @classmethod
    def from_env(cls) -> Toolchain:
        """Locate tools; OPEN_JTALK_DIC / OPEN_JTALK_VOICE override the data paths."""
        return cls(
            open_jtalk=shutil.which(os.environ.get("OPEN_JTALK_BIN", "open_jtalk")),
            sox=shutil.which(os.environ.get("SOX_BIN", "sox")),
            dic=Path(os.environ.get("OPEN_JTALK_DIC", DEFAULT_DIC)),
            voice=Path(os.environ.get("OPEN_JTALK_VOICE", DEFAULT_VOICE)),
        )

    def check_data(self) -> None:
        if not (self.dic / "sys.dic").is_file():
            raise GenerateError(
                f"Open JTalk dictionary not found at {self.dic} (no sys.dic). Install "
                "open-jtalk-mecab-naist-jdic or set OPEN_JTALK_DIC to the dictionary directory."
            )
        if not self.voice.is_file():
            raise GenerateError(
                f"HTS voice not found at {self.voice}. Install hts-voice-nitech-jp-atr503-m001 "
                "or set OPEN_JTALK_VOICE to a .htsvoice file."
            )

    def require_open_jtalk(self) -> str:
        if self.open_jtalk is None:
            raise GenerateError(
                "open_jtalk not found on PATH. Install it (Debian/Ubuntu: "
                "apt-get install open-jtalk open-jtalk-mecab-naist-jdic "
                "hts-voice-nitech-jp-atr503-m001) or set OPEN_JTALK_BIN."
            )
        return self.open_jtalk

    def require_sox(self) -> str:
        if self.sox is None:
            raise GenerateError("sox not found on PATH (apt-get install sox) or set SOX_BIN.")
        return self.sox


@dataclass(frozen=True, slots=True)
class Result:
    generated: list[str]
    up_to_date: list[str]
    removed: list[str]
    failed: dict[str, str]
    seconds: float


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _dic_fingerprint(dic: Path) -> list[tuple[str, int]]:
    # The dictionary is ~100 MB; its file names and sizes identify a version well
    # enough (a reinstall of the same package does not force a rebuild).
    return sorted((p.name, p.stat().st_size) for p in dic.iterdir() if p.is_file())


def _hash(obj: object) -> str:
    blob = json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def content_hashes(manifest: Manifest, tools: Toolchain) -> dict[str, str]:
    """id -> hash of everything that determines that id's audio."""
    tools.check_data()
    base = {
        "generator": GENERATOR_VERSION,
        "rate": SAMPLE_RATE,
        "sox_format": list(_SOX_FORMAT),
    }
    speech = {
        **base,
        "voice": _sha256_file(tools.voice),
        "dic": _dic_fingerprint(tools.dic),
        "open_jtalk": list(OPEN_JTALK_ARGS),
        "effects": list(SOX_SPEECH_EFFECTS),
    }
    out = {pid: _hash({**speech, "say": p.say}) for pid, p in manifest.prompts.items()}
    out.update(
        {tid: _hash({**base, "tone": list(_tone_effects(t))}) for tid, t in manifest.tones.items()}
    )
    return out


def _read_cache(outdir: Path) -> dict[str, str]:
    try:
        data = json.loads((outdir / CACHE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    entries = data.get("prompts") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        return {}
    return {k: v for k, v in entries.items() if isinstance(k, str) and isinstance(v, str)}


def _write_cache(outdir: Path, entries: dict[str, str]) -> None:
    doc = {"generator": GENERATOR_VERSION, "prompts": dict(sorted(entries.items()))}
    tmp = outdir / f"{CACHE_FILE}.tmp"
    tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, outdir / CACHE_FILE)


def _run(cmd: Sequence[str], what: str) -> None:
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            timeout=SUBPROCESS_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise GenerateError(f"{what}: timed out after {SUBPROCESS_TIMEOUT:g}s") from exc
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()[-500:]
        raise GenerateError(f"{what}: exit status {proc.returncode}: {err}")


def _synth_prompt(prompt: Prompt, tools: Toolchain, outdir: Path) -> None:
    synthesise(prompt.say, outdir / f"{prompt.id}.wav", tools, what=prompt.id)


def synthesise(say: str, dest: Path, tools: Toolchain, *, what: str = "speech") -> None:
    """Speak ``say`` with Open JTalk into ``dest`` exactly as a prompt is made (8 kHz 16-bit
    mono, normalised, edges trimmed); the tests use it for callers who talk."""
    jtalk, sox = tools.require_open_jtalk(), tools.require_sox()
    with tempfile.TemporaryDirectory(prefix=f".tmp-{what}-", dir=dest.parent) as tmp:
        tmpdir = Path(tmp)
        text_file = tmpdir / "text.txt"
        raw, wav = tmpdir / "raw.wav", tmpdir / "out.wav"
        text_file.write_text(say + "\n", encoding="utf-8")
        _run(
            [
                jtalk,
                "-x",
                str(tools.dic),
                "-m",
                str(tools.voice),
                *OPEN_JTALK_ARGS,
                "-ow",
                str(raw),
                str(text_file),
            ],
            f"open_jtalk ({what})",
        )
        if not raw.is_file() or raw.stat().st_size <= 44:
            raise GenerateError(f"open_jtalk ({what}): produced no audio")
        _run([sox, str(raw), *_SOX_FORMAT, str(wav), *SOX_SPEECH_EFFECTS], f"sox ({what})")
        os.replace(wav, dest)


def _synth_tone(tone: Tone, tools: Toolchain, outdir: Path) -> None:
    sox = tools.require_sox()
    with tempfile.TemporaryDirectory(prefix=f".tmp-{tone.id}-", dir=outdir) as tmp:
        wav = Path(tmp) / "out.wav"
        _run([sox, "-n", *_SOX_FORMAT, str(wav), *_tone_effects(tone)], f"sox ({tone.id})")
        os.replace(wav, outdir / f"{tone.id}.wav")


def stale_ids(manifest: Manifest, outdir: Path, hashes: dict[str, str]) -> list[str]:
    cache = _read_cache(outdir)
    return sorted(
        pid
        for pid, h in hashes.items()
        if cache.get(pid) != h or not (outdir / f"{pid}.wav").is_file()
    )


def generate(
    outdir: Path,
    manifest: Manifest | None = None,
    tools: Toolchain | None = None,
    jobs: int | None = None,
    force: bool = False,
) -> Result:
    """Bring ``outdir`` up to date with the manifest. Never raises for a single
    prompt's failure: failures are collected in :attr:`Result.failed`."""
    start = time.monotonic()
    manifest = manifest if manifest is not None else read_manifest()
    tools = tools if tools is not None else Toolchain.from_env()
    hashes = content_hashes(manifest, tools)
    outdir.mkdir(parents=True, exist_ok=True)
    cache = _read_cache(outdir)
    todo = sorted(hashes) if force else stale_ids(manifest, outdir, hashes)
    if any(pid in manifest.prompts for pid in todo):
        tools.require_open_jtalk()
    if todo:
        tools.require_sox()

    def work(pid: str) -> tuple[str, str | None]:
        try:
            if pid in manifest.prompts:
                _synth_prompt(manifest.prompts[pid], tools, outdir)
            else:
                _synth_tone(manifest.tones[pid], tools, outdir)
        except (GenerateError, OSError) as exc:
            return pid, str(exc)
        return pid, None

    workers = max(1, jobs if jobs is not None else (os.cpu_count() or 2))
    failed: dict[str, str] = {}
    generated: list[str] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for pid, error in pool.map(work, todo):
            if error is None:
                cache[pid] = hashes[pid]
                generated.append(pid)
            else:
                cache.pop(pid, None)
                failed[pid] = error

    removed = []
    for pid in sorted(set(cache) - set(hashes)):
        (outdir / f"{pid}.wav").unlink(missing_ok=True)
        del cache[pid]
        removed.append(pid)
    _write_cache(outdir, cache)
    up_to_date = sorted(set(hashes) - set(todo))
    return Result(generated, up_to_date, removed, failed, time.monotonic() - start)


def check(
    outdir: Path, manifest: Manifest | None = None, tools: Toolchain | None = None
) -> list[str]:
    """Ids that are missing or out of date in ``outdir`` (empty: all good)."""
    manifest = manifest if manifest is not None else read_manifest()
    tools = tools if tools is not None else Toolchain.from_env()
    return stale_ids(manifest, outdir, content_hashes(manifest, tools))


def reading(text: str, tools: Toolchain | None = None) -> str:
    """The katakana pronunciation Open JTalk derives for ``text`` (for review)."""
    tools = tools if tools is not None else Toolchain.from_env()
    tools.check_data()
    jtalk = tools.require_open_jtalk()
    with tempfile.TemporaryDirectory(prefix="ivr-reading-") as tmp:
        src, trace = Path(tmp) / "text.txt", Path(tmp) / "trace.txt"
        src.write_text(text + "\n", encoding="utf-8")
        _run(
            [
                jtalk,
                "-x",
                str(tools.dic),
                "-m",
                str(tools.voice),
                "-ow",
                os.devnull,
                "-ot",
                str(trace),
                str(src),
            ],
            "open_jtalk",
        )
        lines = trace.read_text(encoding="utf-8", errors="replace").splitlines()
    out: list[str] = []
    inside = False
    for line in lines:
        if line.startswith("[Text analysis result]"):
            inside = True
        elif inside and not line.strip():
            break
        elif inside:
            fields = line.split(",")
            if len(fields) > 9:
                out.append(fields[9])
    return "".join(out)


def _print_lines(lines: Iterable[str]) -> None:
    for line in lines:
        print(line)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ivr_prompts", description=__doc__.split("\n")[0])
    ap.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output dir (default: %(default)s)"
    )
    ap.add_argument("--manifest", type=Path, default=None, help="manifest (default: packaged one)")
    ap.add_argument("--jobs", "-j", type=int, default=None, help="parallel jobs (default: CPUs)")
    ap.add_argument("--force", action="store_true", help="regenerate everything")
    ap.add_argument(
        "--check", action="store_true", help="exit 1 unless every prompt is present and up to date"
    )
    ap.add_argument("--readings", nargs="*", metavar="ID", help="print Open JTalk's reading")
    args = ap.parse_args(argv)
    try:
        manifest = read_manifest(args.manifest)
        tools = Toolchain.from_env()
        if args.readings is not None:
            ids = args.readings or sorted(manifest.prompts)
            unknown = [i for i in ids if i not in manifest.prompts]
            if unknown:
                print(f"unknown prompt ids: {', '.join(unknown)}", file=sys.stderr)
                return 2
            _print_lines(
                f"{i}\t{manifest.prompts[i].say}\t{reading(manifest.prompts[i].say, tools)}"
                for i in ids
            )
            return 0
        if args.check:
            stale = check(args.out, manifest, tools)
            if stale:
                print(
                    f"{len(stale)} prompt(s) missing or out of date in {args.out}: "
                    + ", ".join(stale),
                    file=sys.stderr,
                )
                return 1
            print(f"all {len(manifest.ids)} prompts up to date in {args.out}")
            return 0
        result = generate(args.out, manifest, tools, jobs=args.jobs, force=args.force)
    except (GenerateError, ManifestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    size = sum(f.stat().st_size for f in args.out.glob("*.wav"))
    print(
        f"{len(result.generated)} generated, {len(result.up_to_date)} up to date, "
        f"{len(result.removed)} removed, {len(result.failed)} failed in {result.seconds:.1f}s; "
        f"{args.out}: {size / 1e6:.1f} MB"
    )
    for pid, err in sorted(result.failed.items()):
        print(f"error: {pid}: {err}", file=sys.stderr)
    return 1 if result.failed else 0
