"""The walls of the package layout, checked statically over every module of ``canfar_tui``.

Every ``.py`` file under ``canfar_tui/`` is parsed (nothing is imported, no list of files is
kept by hand) and its imports are read from the syntax tree, including the ones inside
functions, under ``if TYPE_CHECKING:`` and ``importlib.import_module("...")`` with a literal
name. The rules:

* **headless** — the headless packages (clients, detection, batch, models, config) import no
  Textual and nothing of the UI (widgets, screens, app), not even lazily;
* **sandbox** — no module imports a sandbox backend (a module with a dotted-name component
  that starts with ``sandbox``) except the sandbox modules themselves and the composition root
  :mod:`canfar_tui.clients.bundle`, not even lazily;
* **app** — only the command line (:mod:`canfar_tui.cli`) imports :mod:`canfar_tui.app`;
* **cycle** — no import cycle between the package's modules at module level (the imports that
  run when a module is imported: not the ones in functions nor under ``if TYPE_CHECKING:``);
* **size** — no source file over :data:`MAX_LINES` lines.

The runtime counterpart (what importing a module really loads) is ``test_import_hygiene.py``.
The checker itself is tested on small synthetic packages at the end of this file.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "canfar_tui"
PACKAGE_ROOT = Path(__file__).resolve().parents[2] / PACKAGE

MAX_LINES = 1000

#: Packages (and modules) that run without a terminal: no Textual, nothing of the UI.
HEADLESS = (
    "canfar_tui.clients",
    "canfar_tui.detection",
    "canfar_tui.batch",
    "canfar_tui.models",
    "canfar_tui.config",
)
#: What the headless packages must not import.
UI = ("textual", "canfar_tui.widgets", "canfar_tui.screens", "canfar_tui.app")
#: The one module outside the sandbox backends that may import them.
COMPOSITION_ROOT = "canfar_tui.clients.bundle"
APP = "canfar_tui.app"
COMMAND_LINE = "canfar_tui.cli"

#: The violations that exist today, each fixed on its own branch of the layout renovation
#: (issue 12). THIS LIST MUST ONLY SHRINK, TO EMPTY: never add to it to make a test pass. An
#: entry that is no longer a violation fails the test too, so remove it with the fix.
#: Keys: ("size", file path), ("headless" | "sandbox" | "app", "importer -> imported"),
#: ("cycle", "member <-> member <-> ...").
KNOWN_VIOLATIONS: frozenset[tuple[str, str]] = frozenset()

RULES = ("headless", "sandbox", "app", "cycle", "size")

RULE_TEXT = {
    "headless": (
        f"Headless packages ({', '.join(HEADLESS)}) must not import Textual or the UI "
        f"({', '.join(UI[1:])}), not even inside a function or through another module"
    ),
    "sandbox": (
        "Only the sandbox modules themselves and the composition root "
        f"{COMPOSITION_ROOT} may import a sandbox module, not even inside a function"
    ),
    "app": f"Only {COMMAND_LINE}.* may import {APP}",
    "cycle": (
        "Import cycles between modules at module level (imports inside functions and under "
        "`if TYPE_CHECKING:` do not count)"
    ),
    "size": f"Source files over {MAX_LINES} lines",
}


# --------------------------------------------------------------------------- the checker


@dataclass(frozen=True)
class Import:
    """One module an import statement (or a literal ``import_module``) of a module loads."""

    importer: str
    target: str
    path: Path
    line: int
    #: Inside a function (or lambda) body: runs when called, not when the module is imported.
    lazy: bool
    #: Under ``if TYPE_CHECKING:``: never runs.
    typing_only: bool

    @property
    def module_level(self) -> bool:
        return not self.lazy and not self.typing_only

    def where(self) -> str:
        how = "lazy, " if self.lazy else "TYPE_CHECKING, " if self.typing_only else ""
        return f"{self.path}:{self.line} ({how}imports {self.target})"


@dataclass(frozen=True)
class Module:
    """One ``.py`` file of the package."""

    name: str
    path: Path
    is_package: bool
    lines: int
    imports: tuple[Import, ...]


@dataclass(frozen=True)
class Violation:
    """A broken rule: ``key`` is stable (no line numbers) and is what KNOWN_VIOLATIONS lists."""

    rule: str
    key: str
    detail: str


def module_name(root: Path, path: Path) -> str:
    """``root/a/b.py`` -> ``pkg.a.b`` and ``root/a/__init__.py`` -> ``pkg.a``, pkg = root's name."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def scan_package(root: Path) -> dict[str, Module]:
    """Every module under ``root`` (a package directory) with the imports it makes."""
    paths = sorted(path for path in root.rglob("*.py") if "__pycache__" not in path.parts)
    names = {module_name(root, path): path for path in paths}
    shown_from = root.parent  # paths in messages start with the package directory
    modules: dict[str, Module] = {}
    for name, path in names.items():
        source = path.read_text(encoding="utf-8")
        is_package = path.name == "__init__.py"
        finder = _ImportFinder(name, is_package, path.relative_to(shown_from), set(names))
        finder.visit_body(ast.parse(source, filename=str(path)).body)
        modules[name] = Module(
            name, path.relative_to(shown_from), is_package, len(source.splitlines()), finder.found()
        )
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _is_import_module_call(node: ast.Call) -> bool:
    function = node.func
    name = (
        function.attr
        if isinstance(function, ast.Attribute)
        else function.id
        if isinstance(function, ast.Name)
        else ""
    )
    return (
        name in ("import_module", "__import__")
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    )


class _ImportFinder:
    """Walks one module's syntax tree, knowing whether it is in a function or TYPE_CHECKING."""

    def __init__(self, name: str, is_package: bool, path: Path, known: set[str]) -> None:
        self.name = name
        self.package = name if is_package else name.rpartition(".")[0]
        self.path = path
        self.known = known
        self.imports: list[Import] = []
        self.lazy = False
        self.typing_only = False

    def found(self) -> tuple[Import, ...]:
        return tuple(self.imports)

    def add(self, target: str, line: int) -> None:
        self.imports.append(Import(self.name, target, self.path, line, self.lazy, self.typing_only))

    def visit_body(self, nodes: Iterable[ast.AST], *, lazy: bool | None = None) -> None:
        saved = self.lazy
        if lazy is not None:
            self.lazy = lazy
        for node in nodes:
            self.visit(node)
        self.lazy = saved

    def visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                self.add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            for target in self.resolve_from(node):
                self.add(target, node.lineno)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            # Decorators and defaults run with the ``def``; the body when called.
            self.visit_body(node.decorator_list)
            self.visit_body(node.args.defaults)
            self.visit_body(default for default in node.args.kw_defaults if default)
            self.visit_body(node.body, lazy=True)
        elif isinstance(node, ast.Lambda):
            self.visit_body(node.args.defaults)
            self.visit_body([node.body], lazy=True)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            saved = self.typing_only
            self.typing_only = True
            self.visit_body(node.body)
            self.typing_only = saved
            self.visit_body(node.orelse)  # the ``else:`` of TYPE_CHECKING runs
        else:
            if isinstance(node, ast.Call) and _is_import_module_call(node):
                first = node.args[0]
                assert isinstance(first, ast.Constant)
                self.add(str(first.value), node.lineno)
            self.visit_body(ast.iter_child_nodes(node))

    def resolve_from(self, node: ast.ImportFrom) -> list[str]:
        """The modules ``from X import a, b`` loads: ``X.a`` where that is a module, else X."""
        if node.level:
            parts = self.package.split(".")
            base_parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join([*base_parts, node.module] if node.module else base_parts)
        else:
            base = node.module or ""
        targets: list[str] = []
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            target = submodule if submodule in self.known else base
            if target not in targets:
                targets.append(target)
        return targets


def _within(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def is_sandbox_module(name: str) -> bool:
    """A module of a sandbox backend: a component of its dotted name starts with ``sandbox``."""
    return any(part.startswith("sandbox") for part in name.split(".")[1:])


def _with_parents(name: str, modules: Mapping[str, Module]) -> list[str]:
    """``a.b.c`` and the packages importing it runs first (``a``, ``a.b``), those of the scan."""
    parts = name.split(".")
    chain = [".".join(parts[:end]) for end in range(1, len(parts) + 1)]
    return [module for module in chain if module in modules]


def headless_violations(modules: Mapping[str, Module]) -> list[Violation]:
    """Direct imports of the UI (lazy ones too), and module-level ones through other modules."""
    violations = [
        Violation("headless", f"{item.importer} -> {item.target}", item.where())
        for module in modules.values()
        if _within(module.name, HEADLESS)
        for item in module.imports
        if _within(item.target, UI)
    ]
    for start in sorted(name for name in modules if _within(name, HEADLESS)):
        # What importing ``start`` runs: follow module-level imports (and the packages they
        # imply) through the modules outside the headless packages, which are checked above,
        # up to the first UI module (the import that reaches it is the violation).
        came_from: dict[str, Import | None] = dict.fromkeys(_with_parents(start, modules))
        frontier = list(came_from)
        while frontier:
            name = frontier.pop()
            for item in modules[name].imports:
                if not item.module_level:
                    continue
                if _within(item.target, UI) and not _within(name, HEADLESS):
                    chain = [item]
                    while (previous := came_from[chain[0].importer]) is not None:
                        chain.insert(0, previous)
                    detail = " -> ".join(step.where() for step in chain)
                    violations.append(Violation("headless", f"{start} -> {item.target}", detail))
                for reached in _with_parents(item.target, modules):
                    if reached not in came_from and not _within(reached, UI):
                        came_from[reached] = item
                        frontier.append(reached)
    return violations


def sandbox_violations(modules: Mapping[str, Module]) -> list[Violation]:
    return [
        Violation("sandbox", f"{item.importer} -> {item.target}", item.where())
        for module in modules.values()
        if module.name != COMPOSITION_ROOT and not is_sandbox_module(module.name)
        for item in module.imports
        if _within(item.target, [PACKAGE]) and is_sandbox_module(item.target)
    ]


def app_violations(modules: Mapping[str, Module]) -> list[Violation]:
    return [
        Violation("app", f"{item.importer} -> {item.target}", item.where())
        for module in modules.values()
        if not _within(module.name, [COMMAND_LINE, APP])
        for item in module.imports
        if _within(item.target, [APP])
    ]


def size_violations(modules: Mapping[str, Module]) -> list[Violation]:
    return [
        Violation("size", module.path.as_posix(), f"{module.path}: {module.lines} lines")
        for module in modules.values()
        if module.lines > MAX_LINES
    ]


def module_level_graph(modules: Mapping[str, Module]) -> dict[str, dict[str, Import]]:
    """importer -> {imported module of the package: the first import that loads it}."""
    graph: dict[str, dict[str, Import]] = {name: {} for name in modules}
    for module in modules.values():
        for item in module.imports:
            if item.module_level and item.target in modules:
                graph[module.name].setdefault(item.target, item)
    return graph


def strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative), each sorted by name."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def _one_cycle(graph: Mapping[str, Mapping[str, Import]], members: list[str]) -> list[Import]:
    """The shortest cycle through the first member, as the imports that make it."""
    inside = set(members)
    start = members[0]
    came_from: dict[str, Import] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for child, item in sorted(graph[node].items()):
                if child not in inside:
                    continue
                if child == start:
                    path = [item]
                    while path[0].importer != start:
                        path.insert(0, came_from[path[0].importer])
                    return path
                if child not in came_from:
                    came_from[child] = item
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover - a component has one


def cycle_violations(modules: Mapping[str, Module]) -> list[Violation]:
    graph = module_level_graph(modules)
    violations = []
    for members in strongly_connected(graph):
        if len(members) == 1 and members[0] not in graph[members[0]]:
            continue
        cycle = _one_cycle(graph, members)
        steps = " -> ".join(f"{item.where()}" for item in cycle)
        violations.append(Violation("cycle", " <-> ".join(members), f"cycle: {steps}"))
    return violations


CHECKS = {
    "headless": headless_violations,
    "sandbox": sandbox_violations,
    "app": app_violations,
    "cycle": cycle_violations,
    "size": size_violations,
}


def problems(
    rule: str, violations: list[Violation], known: Iterable[tuple[str, str]] = KNOWN_VIOLATIONS
) -> list[str]:
    """What is wrong for ``rule``: new violations, and allow-listed ones that are fixed."""
    allowed = {key for known_rule, key in known if known_rule == rule}
    new = sorted({v.detail for v in violations if v.key not in allowed})
    stale = sorted(allowed - {v.key for v in violations})
    found: list[str] = []
    if new:
        found.append(f"{RULE_TEXT[rule]}. Offenders:\n  " + "\n  ".join(new))
    if stale:
        found.append(
            f"KNOWN_VIOLATIONS lists {rule!r} entries that are no longer violations; remove "
            "them from the list in tests/unit/test_layout.py:\n  " + "\n  ".join(stale)
        )
    return found


# --------------------------------------------------------------------------- the rules


@pytest.fixture(scope="module")
def package() -> dict[str, Module]:
    return scan_package(PACKAGE_ROOT)


@pytest.mark.parametrize("rule", RULES)
def test_the_package_keeps_its_walls(rule: str, package: dict[str, Module]) -> None:
    found = problems(rule, CHECKS[rule](package))
    if found:
        pytest.fail("\n\n".join(found), pytrace=False)


def test_known_violations_name_a_rule() -> None:
    assert {rule for rule, _ in KNOWN_VIOLATIONS} <= set(RULES)


def test_the_scan_covers_the_whole_package(package: dict[str, Module]) -> None:
    files = {path for path in PACKAGE_ROOT.rglob("*.py") if "__pycache__" not in path.parts}
    assert len(package) == len(files) > 50
    assert {"canfar_tui", "canfar_tui.app", "canfar_tui.clients.base", COMPOSITION_ROOT} <= set(
        package
    )
    # The exemptions are really exercised: the composition root imports the sandbox backends
    # (lazily) and the command line imports the app.
    assert any(is_sandbox_module(item.target) for item in package[COMPOSITION_ROOT].imports)
    assert any(
        item.target == APP
        for module in package.values()
        if _within(module.name, [COMMAND_LINE])
        for item in module.imports
    )


# --------------------------------------------------------------------------- the checker's tests


def write_package(root: Path, files: Mapping[str, str]) -> Path:
    """Write ``{"canfar_tui/a/b.py": source}`` under ``root``; returns the package directory."""
    for relative, source in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return root / PACKAGE


def keys(violations: Iterable[Violation]) -> set[str]:
    return {violation.key for violation in violations}


def test_modules_get_dotted_names_and_relative_imports_resolve(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {
            "canfar_tui/__init__.py": "",
            "canfar_tui/a/__init__.py": "from . import b\nfrom .b import thing\n",
            "canfar_tui/a/b.py": "from .. import c\nfrom ..c import name\nimport canfar_tui.a\n",
            "canfar_tui/c.py": "from canfar_tui.a import b, not_a_module\n",
        },
    )
    modules = scan_package(root)
    assert set(modules) == {"canfar_tui", "canfar_tui.a", "canfar_tui.a.b", "canfar_tui.c"}
    assert modules["canfar_tui.a"].is_package
    targets = {name: [item.target for item in m.imports] for name, m in modules.items()}
    assert targets["canfar_tui.a"] == ["canfar_tui.a.b", "canfar_tui.a.b"]
    assert targets["canfar_tui.a.b"] == ["canfar_tui.c", "canfar_tui.c", "canfar_tui.a"]
    assert targets["canfar_tui.c"] == ["canfar_tui.a.b", "canfar_tui.a"]


def test_a_cycle_is_found_through_from_imports_of_submodules(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {
            "canfar_tui/__init__.py": "",
            "canfar_tui/one.py": "from canfar_tui import two\n",
            "canfar_tui/two.py": "from canfar_tui.three import x\n",
            "canfar_tui/three.py": (
                "try:\n    import canfar_tui.one\nexcept ImportError:\n    pass\n"
            ),
            "canfar_tui/four.py": "import canfar_tui.one\n",
        },
    )
    violations = cycle_violations(scan_package(root))
    assert keys(violations) == {"canfar_tui.one <-> canfar_tui.three <-> canfar_tui.two"}
    detail = violations[0].detail
    assert "canfar_tui/one.py:1" in detail and "canfar_tui/three.py:2" in detail


def test_a_module_importing_itself_is_a_cycle(tmp_path: Path) -> None:
    root = write_package(
        tmp_path, {"canfar_tui/__init__.py": "", "canfar_tui/one.py": "import canfar_tui.one\n"}
    )
    assert keys(cycle_violations(scan_package(root))) == {"canfar_tui.one"}


def test_lazy_and_type_checking_imports_make_no_cycle(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {
            "canfar_tui/__init__.py": "",
            "canfar_tui/one.py": "import canfar_tui.two\n",
            "canfar_tui/two.py": (
                "from typing import TYPE_CHECKING\nimport typing\n"
                "if TYPE_CHECKING:\n    from canfar_tui import one\n"
                "if typing.TYPE_CHECKING:\n    import canfar_tui.one\n"
                "def later():\n    from canfar_tui.one import x\n"
                "f = lambda: __import__('canfar_tui.one')\n"
            ),
        },
    )
    modules = scan_package(root)
    assert cycle_violations(modules) == []
    flags = [(item.lazy, item.typing_only) for item in modules["canfar_tui.two"].imports]
    assert flags == [
        (False, False),  # typing
        (False, False),  # typing
        (False, True),
        (False, True),
        (True, False),
        (True, False),
    ]


def test_the_else_of_type_checking_and_class_bodies_run_at_import(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {
            "canfar_tui/__init__.py": "",
            "canfar_tui/one.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    pass\nelse:\n    import canfar_tui.two\n"
            ),
            "canfar_tui/two.py": "class A:\n    import canfar_tui.one\n",
        },
    )
    assert keys(cycle_violations(scan_package(root))) == {"canfar_tui.one <-> canfar_tui.two"}


def test_a_lazy_sandbox_import_is_found_in_every_spelling(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {
            "canfar_tui/__init__.py": "",
            "canfar_tui/clients/__init__.py": "",
            "canfar_tui/clients/bundle.py": "def f():\n    import canfar_tui.clients.sandbox\n",
            "canfar_tui/clients/sandbox.py": "from canfar_tui.clients import sandbox_store\n",
            "canfar_tui/clients/sandbox_store.py": "",
            "canfar_tui/clients/queue/__init__.py": "",
            "canfar_tui/clients/queue/sandbox/__init__.py": "",
            "canfar_tui/clients/queue/sandbox/runner.py": "from . import helpers\n",
            "canfar_tui/clients/queue/sandbox/helpers.py": "from ...sandbox import x\n",
            "canfar_tui/clients/real.py": (
                "import os\n"
                "async def f():\n    from canfar_tui.clients import sandbox_store\n"
                "def g():\n    from .queue.sandbox.runner import Runner\n"
            ),
            "canfar_tui/widgets/view.py": (
                "import importlib\n"
                "class V:\n    def m(self):\n"
                "        return importlib.import_module('canfar_tui.clients.queue.sandbox')\n"
            ),
            "canfar_tui/widgets/other.py": "from canfar_tui.clients.queue import sandbox\n",
            "canfar_tui/widgets/safe.py": "import sandboxing_lib\nimport canfar_tui.clients.real\n",
        },
    )
    assert keys(sandbox_violations(scan_package(root))) == {
        "canfar_tui.clients.real -> canfar_tui.clients.sandbox_store",
        "canfar_tui.clients.real -> canfar_tui.clients.queue.sandbox.runner",
        "canfar_tui.widgets.view -> canfar_tui.clients.queue.sandbox",
        "canfar_tui.widgets.other -> canfar_tui.clients.queue.sandbox",
    }


def test_headless_packages_may_not_import_textual_or_the_ui(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {
            "canfar_tui/__init__.py": "",
            "canfar_tui/models.py": "def f():\n    from textual.widgets import Static\n",
            "canfar_tui/config.py": "import textual_fspicker\nimport rich\n",
            "canfar_tui/detection/__init__.py": "",
            "canfar_tui/detection/engine.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from canfar_tui.widgets.view import View\n"
            ),
            "canfar_tui/batch/x.py": "from canfar_tui import app\n",
            "canfar_tui/clients/y.py": "import canfar_tui.screens.dialog as d\n",
            "canfar_tui/widgets/view.py": "import textual\nfrom canfar_tui import app\n",
            "canfar_tui/screens/dialog.py": "import textual.screen\n",
            "canfar_tui/app.py": "import textual\n",
            "canfar_tui/modelsx.py": "import textual\n",
        },
    )
    assert keys(headless_violations(scan_package(root))) == {
        "canfar_tui.models -> textual.widgets",
        "canfar_tui.detection.engine -> canfar_tui.widgets.view",
        "canfar_tui.batch.x -> canfar_tui.app",
        "canfar_tui.clients.y -> canfar_tui.screens.dialog",
    }


def test_headless_packages_may_not_reach_the_ui_through_another_module(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {
            "canfar_tui/__init__.py": "",
            "canfar_tui/logs.py": "import canfar_tui.helpers\n",
            "canfar_tui/helpers.py": "from textual.app import App\n",
            "canfar_tui/lazy.py": "def f():\n    import textual\n",
            "canfar_tui/ui/__init__.py": "from canfar_tui.widgets import view\n",
            "canfar_tui/ui/names.py": "",
            "canfar_tui/widgets/__init__.py": "",
            "canfar_tui/widgets/view.py": "",
            "canfar_tui/clients/__init__.py": "",
            "canfar_tui/clients/a.py": "from canfar_tui import logs\n",
            "canfar_tui/clients/b.py": "import canfar_tui.lazy\n",
            "canfar_tui/clients/c.py": "def f():\n    import canfar_tui.logs\n",
            "canfar_tui/clients/d.py": "from canfar_tui.ui.names import X\n",
        },
    )
    violations = headless_violations(scan_package(root))
    assert keys(violations) == {
        "canfar_tui.clients.a -> textual.app",
        "canfar_tui.clients.d -> canfar_tui.widgets.view",
    }
    chain = next(v.detail for v in violations if v.key.startswith("canfar_tui.clients.a "))
    assert chain == (
        "canfar_tui/clients/a.py:1 (imports canfar_tui.logs) -> "
        "canfar_tui/logs.py:1 (imports canfar_tui.helpers) -> "
        "canfar_tui/helpers.py:1 (imports textual.app)"
    )


def test_only_the_command_line_may_import_the_app(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {
            "canfar_tui/__init__.py": "",
            "canfar_tui/__main__.py": "def main():\n    from canfar_tui.app import CanfarApp\n",
            "canfar_tui/app.py": "",
            "canfar_tui/cli/__init__.py": "",
            "canfar_tui/cli/main.py": "def main():\n    from canfar_tui.app import create_app\n",
            "canfar_tui/widgets/tabs.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from canfar_tui.app import CanfarApp\n"
            ),
            "canfar_tui/application.py": "",
            "canfar_tui/uses_application.py": "import canfar_tui.application\n",
        },
    )
    assert keys(app_violations(scan_package(root))) == {
        "canfar_tui.__main__ -> canfar_tui.app",
        "canfar_tui.widgets.tabs -> canfar_tui.app",
    }


def test_a_file_over_the_limit_is_found(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {
            "canfar_tui/__init__.py": "",
            "canfar_tui/big.py": "x = 1\n" * (MAX_LINES + 1),
            "canfar_tui/sub/just_fits.py": "x = 1\n" * MAX_LINES,
        },
    )
    violations = size_violations(scan_package(root))
    assert keys(violations) == {"canfar_tui/big.py"}
    assert violations[0].detail == f"canfar_tui/big.py: {MAX_LINES + 1} lines"


def test_problems_reports_new_and_stale_allow_list_entries() -> None:
    violations = [
        Violation("sandbox", "a -> a.sandbox", "a.py:3 (imports a.sandbox)"),
        Violation("sandbox", "b -> b.sandbox", "b.py:7 (lazy, imports b.sandbox)"),
    ]
    known = {("sandbox", "a -> a.sandbox"), ("sandbox", "c -> c.sandbox"), ("size", "c.py")}
    new, stale = problems("sandbox", violations, known)
    assert new.endswith("Offenders:\n  b.py:7 (lazy, imports b.sandbox)")
    assert "no longer violations" in stale and stale.endswith("\n  c -> c.sandbox")
    assert problems("sandbox", violations[:1], [("sandbox", "a -> a.sandbox")]) == []
    assert problems("cycle", [], known) == []
