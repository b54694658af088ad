"""Which module may import which (docs/architecture.md): a small AST walk over the packages.

Every `import` and `from … import` in a package file counts, wherever it stands (module level,
inside a function, under `if TYPE_CHECKING:`), for the RULES below: a type-only import of lab
tooling is still the product depending on it. The no-cycles check (CYCLE_FREE) ignores imports
under `if TYPE_CHECKING:` — they never run, and they are how a module types a back-reference.

To add a rule, append a Rule to RULES; to keep a package free of import cycles, add its name to
CYCLE_FREE.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from callflow.ari import errors as ari_errors

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("callflow", "portal", "ivr_prompts", "labkit")
PRODUCT = ("callflow", "portal", "ivr_prompts")


@dataclass(frozen=True)
class Rule:
    importer: str   # a module and everything under it, e.g. "portal"
    forbidden: str  # may not import this module or anything under it
    reason: str
    exempt: tuple[str, ...] = ()  # importers the rule does not apply to (entry points)
    allowed: tuple[str, ...] = ()  # modules under `forbidden` that may still be imported

    def __str__(self) -> str:
        return f"{self.importer} -/-> {self.forbidden}"


# What the portal may use of the callback feature: the service that writes call requests for
# the app to place (and reads their state), its refusal rules and outcome texts. Pure or
# database-only; none of them speaks to Asterisk.
CALLBACK_SERVICE = tuple(f"callflow.features.callback.{name}"
                         for name in ("service", "rules", "outcomes"))

# Pure decision modules (unit-tested without Asterisk or a database).
PURE_DECISIONS = ("callflow.routing", "callflow.numbers", "callflow.stasis_args", "callflow.pins",
                  "callflow.greeting", "callflow.features.ivr.greeting_menu",
                  "callflow.quiet_hours",
                  "callflow.speech", "callflow.clock", "callflow.features.inbound.screening",
                  "callflow.features.callback.legs", "callflow.features.callback.rules",
                  "callflow.features.callback.verification", "callflow.features.ivr.model",
                  "callflow.features.ivr.retrieval", "callflow.features.ivr.pin_change",
                  "callflow.call_state")
ARI_INTERNALS = tuple(f"callflow.ari.{m}"
                      for m in ("client", "dispatch", "stream", "transport", "ws_rest"))
FEATURES = ("inbound", "voicemail", "ivr", "callback")

RULES: list[Rule] = [
    *(Rule(product, lab, "the product never imports lab tooling or tests")
      for product in PRODUCT for lab in ("labkit", "bench", "tests")),
    # Speech recognition (the 'transcribe'/'hearing' extras) is loaded in one module, which
    # the transcription worker and the tests' ears (labkit.harness.hearing) share.
    *(Rule(package, "faster_whisper", "the recogniser is loaded by callflow.transcribe.model",
           exempt=("callflow.transcribe.model",)) for package in (*PRODUCT, "labkit")),
    # The transcription worker is its own process, off the call path: the app and the portal
    # share only its table (callflow.store.transcripts), and it knows nothing of calls.
    *(Rule(package, "callflow.transcribe", "the transcription worker runs in its own process; "
           "the app and the portal only share its table", exempt=("callflow.transcribe",))
      for package in PRODUCT),
    *(Rule("callflow.transcribe", up, "the transcription worker knows nothing of calls")
      for up in ("callflow.ari", "callflow.call", "callflow.features", "callflow.app",
                 "callflow.jobs", "callflow.services")),
    # The schema is migrated in one place, which runs before anything else exists.
    *(Rule(package, "yoyo", "schema migrations go through callflow.migrate",
           exempt=("callflow.migrate",)) for package in (*PRODUCT, "labkit")),
    Rule("callflow.migrate", "callflow", "the migration runner depends on nothing of the app",
         allowed=("callflow.migrate",)),
    *(Rule("portal", asterisk, "the portal reaches Asterisk only through the database and the "
           "callback service", allowed=CALLBACK_SERVICE)
      for asterisk in ("callflow.ari", "callflow.call", "callflow.features")),
    Rule("portal", "portal.app", "portal.app only assembles the application; routes share what "
         "they need through portal.request_context", exempt=("portal.__main__",)),
    # The call-control side, bottom up: the ARI client and the store know nothing of calls.
    Rule("callflow.ari", "callflow", "the ARI client is a library: it knows nothing of calls, "
         "features or the store", allowed=("callflow.ari",)),
    *(Rule(low, up, "the store and the mail outbox know nothing of calls and features")
      for low in ("callflow.store", "callflow.mail")
      for up in ("callflow.ari", "callflow.call", "callflow.features", "callflow.app",
                 "callflow.jobs")),
    Rule("callflow.store", "callflow.services", "the store takes a Database, not the container"),
    # Observability: log output is a leaf the app and the portal share; the metrics are fed
    # by the call (callflow.call) and read the store's figures, never the reverse.
    Rule("callflow.logs", "callflow", "log output depends on nothing of the app",
         allowed=("callflow.logs",)),
    *(Rule("callflow.metrics", up, "metrics are fed by calls and the app, never the reverse")
      for up in ("callflow.ari", "callflow.call", "callflow.features", "callflow.app",
                 "callflow.services")),
    # Decisions are pure: they take values and return values, never act.
    *(Rule(pure, effect, "a decision is pure: it never talks to Asterisk or owns a service")
      for pure in PURE_DECISIONS
      for effect in ("callflow.ari", "callflow.call", "callflow.services", "callflow.app")),
    # Features sit under the app's wiring and use the ARI client's public names only.
    *(Rule("callflow.features", up, "features are wired by the app, never the reverse")
      for up in ("callflow.app", "callflow.jobs", "callflow.status", "callflow.__main__")),
    *(Rule("callflow.features", internal, "features use callflow.ari's public names (events, "
           "errors, a call's event queue) and speak through Call and Services")
      for internal in ARI_INTERNALS),
    # A feature does not reach into another; the one hand-over is an unanswered forward
    # going on to the voicemail center.
    *(Rule(f"callflow.features.{a}", f"callflow.features.{b}",
           "features are independent rooms (inbound hands unanswered calls to voicemail)")
      for a in FEATURES for b in FEATURES
      if a != b and (a, b) != ("inbound", "voicemail")),
]

# The own greeting's media cache serves the deposit and the IVR alike (both features use it):
# it reads the store and writes files, and knows nothing of calls.
RULES += [Rule("callflow.greeting_media", up, "the greeting cache is shared by two features "
               "and knows nothing of calls")
          for up in ("callflow.ari", "callflow.call", "callflow.features", "callflow.services")]

CYCLE_FREE: list[str] = ["portal", "callflow"]


def under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    type_checking: bool


def module_files() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST, type_checking: bool = False
                  ) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, type_checking
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from _import_nodes(ast.Module(body=[child], type_ignores=[]), True)
            for child in node.orelse:
                yield from _import_nodes(ast.Module(body=[child], type_ignores=[]), type_checking)
        else:
            yield from _import_nodes(node, type_checking)


def imports_of(module: str, path: Path, known: Iterable[str]) -> Iterator[Import]:
    """The modules one file imports; `from pkg import name` is an import of pkg.name when that
    is a module, else of pkg."""
    known = set(known)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node, type_checking in _import_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno, type_checking)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join([*anchor, *([base] if base else [])])
        for alias in node.names:
            candidate = f"{base}.{alias.name}"
            yield Import(module, candidate if candidate in known else base, node.lineno,
                         type_checking)


def all_imports() -> list[Import]:
    modules = module_files()
    return [imp for module, path in modules.items() for imp in imports_of(module, path, modules)]


def violations(imports: Iterable[Import], rules: Iterable[Rule]) -> list[str]:
    return [f"{imp.importer}:{imp.line} imports {imp.imported} ({rule}: {rule.reason})"
            for rule in rules for imp in imports
            if under(imp.importer, rule.importer) and under(imp.imported, rule.forbidden)
            and not any(under(imp.importer, e) for e in rule.exempt)
            and not any(under(imp.imported, a) for a in rule.allowed)]


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module, or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan; the module graphs here are small
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def import_graph(imports: Iterable[Import], package: str) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if imp.type_checking or not under(imp.importer, package):
            continue
        graph.setdefault(imp.importer, set())
        if under(imp.imported, package):
            graph[imp.importer].add(imp.imported)
    return graph


IMPORTS = all_imports()


def test_the_walk_sees_the_packages() -> None:
    """Guard against a walk that finds nothing and so passes every rule."""
    edges = {(i.importer, i.imported) for i in IMPORTS}
    assert ("portal.__main__", "portal.app") in edges
    assert ("portal.app", "portal.web") in edges
    assert any(under(i.importer, "callflow") for i in IMPORTS)


@pytest.mark.parametrize("rule", RULES, ids=str)
def test_rule(rule: Rule) -> None:
    assert violations(IMPORTS, [rule]) == []


@pytest.mark.parametrize("package", CYCLE_FREE)
def test_no_import_cycles(package: str) -> None:
    assert cycles(import_graph(IMPORTS, package)) == []


def test_checks_catch_a_broken_rule_and_a_cycle(tmp_path: Path) -> None:
    """The checks themselves: a relative import of lab tooling and a two-module circle."""
    pkg = tmp_path / "portal"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from portal import b\nfrom ..labkit import ports\n")
    (pkg / "b.py").write_text("def f() -> None:\n    from portal.a import x\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\n"
                              "if TYPE_CHECKING:\n    from portal import a\n")
    known = ["portal", "portal.a", "portal.b", "portal.c"]
    found = [imp for m in known[1:] for imp in imports_of(m, pkg / f"{m[7:]}.py", known)]
    no_lab = [r for r in RULES if (r.importer, r.forbidden) == ("portal", "labkit")]
    assert [v.split(" ")[:3] for v in violations(found, no_lab)] == [
        ["portal.a:2", "imports", "labkit"]]
    assert cycles(import_graph(found, "portal")) == [["portal.a", "portal.b"]]
    assert any(i.importer == "portal.c" and i.type_checking for i in found)


# What a feature may take from the ARI package by name: its exception tree and the type of a
# call's event queue. Events are read by Call (callflow/call.py) and by the placed-call
# helper, which originates, follows and bridges the legs the app places itself.
ARI_NAMES_FOR_FEATURES = frozenset({*ari_errors.__all__, "CallEvents"})
PLACED_CALL_HELPER = "callflow.features.callback.calls"


def names_from_ari(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return {alias.name for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("callflow.ari")
            for alias in node.names}


def test_features_speak_to_asterisk_through_call() -> None:
    """Features never handle ARI events or models themselves (Call and the placed-call
    helper do); they catch the ARI exception tree."""
    offending = {module: sorted(names_from_ari(path) - ARI_NAMES_FOR_FEATURES)
                 for module, path in module_files().items()
                 if under(module, "callflow.features") and module != PLACED_CALL_HELPER}
    assert {m: n for m, n in offending.items() if n} == {}
