"""The shipped Asterisk configuration (asterisk-conf/, dialplan/) as an attacker reads it:
no endpoint takes calls without being the carrier or authenticating (the benchmark's
dialplan-only endpoint lives in the bench's own lab only), and no value a caller chooses
reaches an application's arguments unfiltered (a ',' adds an argument, a '&' a Dial target).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.lab import BENCH_CONFIG
from labkit.render import LabConfig, LabPorts, render

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted([*(REPO / "asterisk-conf").glob("*.conf"), *(REPO / "dialplan").glob("*.conf")])
CONFIG = LabConfig(instance="x", ports=LabPorts(sip=1, http=2, rtp_start=3, rtp_end=4,
                                                carrier=5))
# Dialplan expressions whose value the caller chooses: the request URI's user part, SIP
# headers, the caller id; ANSHIN_PRIVACY holds the raw Privacy header (Set in the dialplan).
CALLER_CHOSEN = re.compile(r"\$\{EXTEN\}|\$\{PJSIP_HEADER\(|\$\{CALLERID\((num|name|all)"
                           r"|\bANSHIN_PRIVACY\b|\$\{SIP_HEADER\(")


def sections(text: str) -> dict[str, dict[str, str]]:
    """pjsip.conf-style sections with their templates merged in, keyed "name/type" (an
    endpoint, its aor and its auth share a name)."""
    raw: list[tuple[str, list[str], bool, dict[str, str]]] = []
    for line in text.splitlines():
        line = line.split(";", 1)[0].strip()
        if m := re.fullmatch(r"\[([^\]]+)\](?:\(([^)]*)\))?", line):
            marks = [p.strip() for p in (m.group(2) or "").split(",") if p.strip()]
            raw.append((m.group(1), [p for p in marks if p != "!"], "!" in marks, {}))
        elif "=" in line and raw:
            key, value = (part.strip() for part in line.split("=", 1))
            raw[-1][3][key] = value
    templates = {name: (parents, opts) for name, parents, is_template, opts in raw
                 if is_template}

    def resolved(parents: list[str], opts: dict[str, str]) -> dict[str, str]:
        merged: dict[str, str] = {}
        for parent in parents:
            merged.update(resolved(*templates[parent]))
        return {**merged, **opts}

    out: dict[str, dict[str, str]] = {}
    for name, parents, is_template, opts in raw:
        if not is_template:
            merged = resolved(parents, opts)
            out[f"{name}/{merged.get('type', '?')}"] = merged
    return out


def test_no_endpoint_takes_calls_unauthenticated() -> None:
    """The carrier is identified by its address; every other endpoint authenticates. The
    bench's `[bench]` endpoint (no auth, straight into Dial) must not be shipped."""
    pjsip = sections((REPO / "asterisk-conf/pjsip.conf").read_text())
    endpoints = {key.split("/")[0]: opts for key, opts in pjsip.items()
                 if key.endswith("/endpoint")}
    assert "carrier" in endpoints
    unauthenticated = [name for name, opts in endpoints.items()
                       if name != "carrier" and not opts.get("auth")]
    assert unauthenticated == []
    assert "bench" not in endpoints


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_no_bench_in_shipped_configuration(path: Path) -> None:
    text = path.read_text()
    assert "[bench" not in text and "bench-baseline" not in text


def dialplan_lines() -> list[tuple[str, str]]:
    lines = []
    for path in SHIPPED:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.match(r"\s*(exten|same)\s*=>", line):
                lines.append((f"{path.name}:{n}", line))
    return lines


def filter_spans(text: str) -> list[tuple[int, int]]:
    """The string argument of every ${FILTER(allowed,string)}: [start, end) offsets."""
    spans = []
    for m in re.finditer(r"\$\{FILTER\(", text):
        depth, i = 1, m.end()
        comma = -1
        while depth and i < len(text):
            if text[i] == "(":
                depth += 1
            elif text[i] == ")":
                depth -= 1
            elif text[i] == "," and depth == 1 and comma < 0:
                comma = i
            i += 1
        assert comma > 0, text
        spans.append((comma + 1, i - 1))
    return spans


def test_caller_chosen_values_reach_applications_filtered() -> None:
    """Every Stasis/Dial/… argument built from a caller-chosen value is inside FILTER();
    only Set() may take one raw (it splits at the first '=' and nowhere else)."""
    lines = dialplan_lines()
    assert any("Stasis(" in line for _, line in lines)
    raw: list[str] = []
    for where, line in lines:
        body = line.split("=>", 1)[1]
        if line.lstrip().startswith("exten"):
            body = body.split(",", 1)[1]  # the pattern
        m = re.match(r"\s*[^,]+,(\w+)\((.*)\)\s*$", body)  # priority (label), App(args)
        assert m, f"{where}: cannot read {line!r}"
        app, args = m.group(1), m.group(2)
        if app == "Set":
            continue
        spans = filter_spans(args)
        for hit in CALLER_CHOSEN.finditer(args):
            if not any(start <= hit.start() < end for start, end in spans):
                raw.append(f"{where}: {app}: {hit.group(0)} unfiltered")
    assert raw == []


def test_filter_allows_no_separator() -> None:
    """FILTER's allowed set never admits ',' '&' '"' or a backslash'd comma."""
    for where, line in dialplan_lines():
        for m in re.finditer(r"\$\{FILTER\(([^,]*),", line):
            allowed = m.group(1)
            assert not set(allowed) & {"&", '"', "|"}, where
            assert "\\x2c" not in allowed.lower() and "\\," not in allowed, where


def test_the_bench_lab_adds_its_own_endpoint(tmp_path: Path) -> None:
    """bench/lab.py appends the dialplan-only endpoint to its own rendered configuration;
    its Dial takes only an 11-digit 050 number."""
    etc = render(CONFIG, tmp_path / "etc", BENCH_CONFIG)
    pjsip = sections((etc / "pjsip.conf").read_text())
    assert pjsip["bench/endpoint"]["context"] == "bench-baseline"
    assert "127.0.0.1" in pjsip["bench/endpoint"]["permit"]
    extensions = (etc / "extensions.conf").read_text()
    assert "[bench-baseline]" in extensions
    patterns = re.findall(r"exten\s*=>\s*([^,]+),", extensions.split("[bench-baseline]")[1])
    assert patterns == ["_050XXXXXXXX"]
    # and the plain render (every other lab, the stack) has none of it
    plain = render(CONFIG, tmp_path / "plain")
    assert "bench" not in (plain / "pjsip.conf").read_text()
