"""The shape of the package, checked from its source with ``ast`` (nothing is imported).

- **Layers import downward only** (docs/architecture.md): a module imports its own top-level
  package and lower-ranked ones. The rank belongs to the top-level package, so a new module or
  sub-package (``server/endpoints/``, ``transport/native/``) takes its package's rank; a new
  top-level package is given one in :data:`RANK`.
- **The SDK stays a client.** ``sdk`` imports only the shared wire schema; of the rest only client
  tooling (``cli``, ``bench``) and ``agents`` (a voice agent joins calls as an SDK client) import it.
- **proto, sfu, signaling and the modules of** :data:`NO_IO_FILES` **are sans-I/O**: no sockets,
  event loops, clocks, sleeps, threads, timers or processes; time comes in as a ``now`` argument
  and packets go out through an interface. What counts: importing a module of
  :data:`NO_IO_MODULES` (or one below it), and naming anything in :data:`NO_IO_NAMES` (called or
  not: ``clock=time.monotonic`` counts), after resolving import aliases
  (``from datetime import datetime as dt; dt.now()`` is ``datetime.datetime.now``).
  Imports inside functions and under ``if TYPE_CHECKING:`` count too. Not covered: file I/O,
  ``logging``, ``random``/``secrets`` (entropy is not a clock).
- **Domain packages own no endpoint and no network client**: rooms and messaging import no web
  framework, server or HTTP client (:data:`DOMAIN_PACKAGES`, :data:`NETWORK_MODULES`).
- **No import cycle**, run-time or type-level: the graph has an edge for every import statement
  anywhere in a module (functions, ``if TYPE_CHECKING:``), relative imports resolved;
  ``from pkg import sub`` is an edge to the module ``pkg.sub``, ``from pkg import Name`` an edge to
  ``pkg`` (its ``__init__``). A strongly connected component of more than one module fails, with
  one shortest cycle through it printed.
- **No module over** :data:`MAX_LINES` lines.

Each rule has an allow-list of what breaks it today, one reason per entry. Entries only go: a new
violation fails, and so does an entry that nothing needs any more (delete it).
"""

from __future__ import annotations

import ast
import itertools
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "hubbub"

# Lower numbers are lower layers. A package may import its own modules and any lower layer.
RANK = {
    "util": 0,
    "config": 0,
    "schema": 0,
    "proto": 1,
    "storage": 1,
    "cluster": 1,
    "netsim": 1,
    "transport": 2,
    "sfu": 3,
    "rooms": 4,
    "messaging": 4,
    "control": 5,
    "api": 6,
    "signaling": 6,
    "agents": 6,
    "server": 7,
    "bench": 8,
    "cli": 9,
}
# The client SDK ships to customers: it may use only the shared wire schema.
SDK_ALLOWED = {"sdk", "schema"}
# Client tooling that drives a server through the SDK, and the voice agent (an SDK client).
SDK_IMPORTERS = {"cli", "bench", "agents"}

# -- sans-I/O ----------------------------------------------------------------------------------

# signaling: the /rtc/v1 protocol handler; the connection host (server/connection.py) owns the socket
NO_IO_PACKAGES = ("proto", "sfu", "signaling")
# sans-I/O modules of packages that also do I/O: netsim's engine, profiles and timelines (its relay owns the sockets)
NO_IO_FILES = ("netsim/engine.py", "netsim/framing.py", "netsim/profiles.py", "netsim/timeline.py")
NO_IO_MODULES = (
    # sockets, event loops, tasks, sleeps and timeouts (asyncio.sleep, wait_for, loop.time())
    *("socket", "socketserver", "ssl", "select", "selectors", "asyncio", "uvloop"),
    # clocks and sleeps (time.time, monotonic, perf_counter, sleep, ...)
    *("time", "sched"),
    # threads, timers, signals, processes
    *("threading", "_thread", "signal", "subprocess", "multiprocessing", "concurrent", "pty"),
    # network clients and servers
    *("http.client", "http.server", "urllib.request", "httpx", "websockets", "aiohttp", "requests"),
)
NO_IO_NAMES = (
    # processes started or waited for outside subprocess
    *("os.system", "os.popen", "os.fork", "os.forkpty", "os.posix_spawn", "os.posix_spawnp"),
    *("os.kill", "os.killpg", "os.wait", "os.waitpid", "os.wait3", "os.wait4", "os.waitid"),
    *(f"os.exec{s}" for s in ("l", "le", "lp", "lpe", "v", "ve", "vp", "vpe")),
    *(f"os.spawn{s}" for s in ("l", "le", "lp", "lpe", "v", "ve", "vp", "vpe")),
    # clocks outside time
    *("os.times", "datetime.datetime.now", "datetime.datetime.utcnow", "datetime.datetime.today"),
    "datetime.date.today",
)
# "file: what" -> why it is still there. Entries only go.
IO_ALLOWED: dict[str, str] = {}

# -- domain packages ---------------------------------------------------------------------------

# Use cases: the composition root mounts their endpoints and wires their network clients.
DOMAIN_PACKAGES = ("rooms", "messaging")
NETWORK_MODULES = (
    *("fastapi", "starlette", "uvicorn", "websockets", "httpx", "aiohttp", "requests"),
    *("socket", "http.client", "http.server", "urllib.request"),
)

# -- cycles ------------------------------------------------------------------------------------

# The modules of one strongly connected component (without "hubbub.") -> why it is still there.
# A component passes when it lies inside an entry. Entries only go.
CYCLES_ALLOWED: dict[frozenset[str], str] = {}

# -- size --------------------------------------------------------------------------------------

MAX_LINES = 600
# path under src/hubbub -> why it is still longer. Entries only go.
SIZE_ALLOWED: dict[str, str] = {}


# -- reading the source ------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    line: int
    source: str  # the module an ``import`` names, or the module a ``from ... import`` reads
    names: tuple[str, ...]  # what ``from source import`` takes ("*" included); () for ``import``
    bound: tuple[tuple[str, str], ...]  # local name -> the qualified name it stands for


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module

    @property
    def rel(self) -> str:
        return self.path.relative_to(SRC).as_posix()

    @property
    def layer(self) -> str:
        return self.path.relative_to(SRC).parts[0].removesuffix(".py")

    def imports(self) -> Iterator[Import]:
        """Every import statement anywhere in the module, relative imports resolved."""
        package = self.name if self.path.name == "__init__.py" else self.name.rpartition(".")[0]
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    local = (a.asname, a.name) if a.asname else (a.name.split(".")[0],) * 2
                    yield Import(node.lineno, a.name, (), (local,))
            elif isinstance(node, ast.ImportFrom):
                source = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1])
                    source = f"{base}.{source}" if source else base
                names = tuple(a.name for a in node.names)
                bound = tuple((a.asname or a.name, f"{source}.{a.name}") for a in node.names if a.name != "*")
                yield Import(node.lineno, source, names, bound)


@cache
def modules() -> dict[str, Module]:
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = ("hubbub", *path.relative_to(SRC).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = Module(name, path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return found


def _short(module: str) -> str:
    return module.removeprefix("hubbub.")


# -- layers ------------------------------------------------------------------------------------


def test_every_package_has_a_rank() -> None:
    packages = {p.name.removesuffix(".py") for p in SRC.iterdir() if not p.name.startswith("_")}
    packages -= {"py.typed", "__pycache__", "web"}  # web: static files (the Web SDK, demos, console)
    assert packages <= set(RANK) | {"sdk"}, packages - set(RANK)


def test_imports_go_downward_only() -> None:
    violations = []
    for module in modules().values():
        layer = module.layer
        if layer in ("__init__", "__main__"):
            continue
        for imp in module.imports():
            if imp.source == "hubbub":  # from hubbub import sdk (not: from hubbub import __version__)
                names = [f"hubbub.{name}" for name in imp.names if f"hubbub.{name}" in modules()]
            elif imp.source.startswith("hubbub."):
                names = [imp.source]
            else:
                continue
            for name in names:
                target = name.split(".")[1]
                if layer == "sdk":
                    ok = target in SDK_ALLOWED
                elif target == "sdk":
                    ok = layer in SDK_IMPORTERS
                else:
                    ok = target == layer or RANK.get(target, 99) < RANK.get(layer, -1)
                if not ok:
                    violations.append(f"{module.rel}:{imp.line} ({layer}) imports {name}")
    assert not violations, "\n".join(violations)


_TOKEN_MODULES = ("hubbub.schema.tokens", "hubbub.schema.token_builder", "hubbub.schema")


def test_token_schema_is_stdlib_only() -> None:
    """Customers copy the token builder and its schema into their backends: no dependencies."""
    for path in (SRC / "schema" / "tokens.py", SRC / "schema" / "token_builder.py", SRC / "sdk" / "token.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for n in names:
                top = n.split(".")[0]
                assert top in sys.stdlib_module_names or n in _TOKEN_MODULES, f"{path}: {n}"


# -- sans-I/O ----------------------------------------------------------------------------------


def _dotted(node: ast.expr) -> tuple[str, str] | None:
    """``a.b.c`` as ("a", "b.c"); None for anything not rooted at a plain name."""
    attrs: list[str] = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    return (node.id, ".".join(reversed(attrs))) if isinstance(node, ast.Name) and attrs else None


def _forbidden(qualified: str) -> str | None:
    for banned in NO_IO_MODULES:
        if qualified == banned or qualified.startswith(banned + "."):
            return banned
    return qualified if qualified in NO_IO_NAMES else None


def io_uses(module: Module) -> dict[str, int]:
    """``file: what`` -> first line, for each forbidden module or name the module uses.

    Aliases are read module-wide (a local variable that shadows an imported name still counts)."""
    found: dict[str, int] = {}
    aliases: dict[str, str] = {}

    def note(qualified: str, line: int) -> None:
        what = _forbidden(qualified)
        if what is not None:
            found.setdefault(f"{module.rel}: {what}", line)

    for imp in module.imports():
        aliases.update(imp.bound)
        note(imp.source, imp.line)
        for _, qualified in imp.bound:
            note(qualified, imp.line)
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Attribute) and (dotted := _dotted(node)) and dotted[0] in aliases:
            note(f"{aliases[dotted[0]]}.{dotted[1]}", node.lineno)
    return found


def test_sans_io_layers_do_no_io() -> None:
    found: dict[str, int] = {}
    for module in modules().values():
        if module.layer in NO_IO_PACKAGES or module.rel in NO_IO_FILES:
            found |= io_uses(module)
    new = [f"{key} (line {line})" for key, line in sorted(found.items()) if key not in IO_ALLOWED]
    assert not new, "sans-I/O layers use I/O (take `now` as an argument; sockets live in transport):\n" + "\n".join(new)
    stale = sorted(set(IO_ALLOWED) - set(found))
    assert not stale, "IO_ALLOWED entries no longer needed (delete them):\n" + "\n".join(stale)


def test_domain_packages_own_no_endpoint_or_network_client() -> None:
    found = []
    for module in modules().values():
        if module.layer not in DOMAIN_PACKAGES:
            continue
        for imp in module.imports():
            for banned in NETWORK_MODULES:
                if imp.source == banned or imp.source.startswith(banned + "."):
                    found.append(f"{module.rel}:{imp.line}: {imp.source}")
    assert not found, "domain packages import a web framework or network client:\n" + "\n".join(found)


def test_the_io_rule_sees_through_aliases() -> None:
    source = """
import asyncio as aio
from datetime import datetime as dt
from os import system
import concurrent.futures
import time
def f(now: float = time.monotonic()) -> None:
    dt.now()
    aio.get_event_loop().time()
"""
    module = Module("hubbub.proto.fake", SRC / "proto" / "fake.py", ast.parse(source))
    assert set(io_uses(module)) == {
        "proto/fake.py: asyncio",
        "proto/fake.py: datetime.datetime.now",
        "proto/fake.py: os.system",
        "proto/fake.py: concurrent",
        "proto/fake.py: time",
    }


# -- cycles ------------------------------------------------------------------------------------


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {module of src/hubbub it imports: first line}."""
    known = modules()
    graph: dict[str, dict[str, int]] = {}
    for name, module in known.items():
        edges: dict[str, int] = {}
        for imp in module.imports():
            targets = [imp.source] if not imp.names else []
            submodules = [f"{imp.source}.{n}" for n in imp.names if f"{imp.source}.{n}" in known]
            targets += submodules
            if len(submodules) < len(imp.names):  # some name is the package's own attribute
                targets.append(imp.source)
            for target in targets:
                if target in known and target != name:
                    edges.setdefault(target, imp.line)
        graph[name] = edges
    return graph


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[frozenset[str]]:
    """Tarjan's algorithm (iterative); only the components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[frozenset[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(sorted(graph[root])))]
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
                members = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.add(member)
                    if member == node:
                        break
                if len(members) > 1:
                    components.append(frozenset(members))
    return components


def shortest_cycle(graph: dict[str, dict[str, int]], members: frozenset[str]) -> str:
    """One shortest cycle through the component's first module, with the line of each import."""
    start = min(members)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node]):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                path = [*reversed(path), start]
                hops = [f"{_short(a)}:{graph[a][b]}" for a, b in itertools.pairwise(path)]
                return " -> ".join([*hops, _short(start)])
            if child in members and child not in came_from and child != start:
                came_from[child] = node
                queue.append(child)
    raise AssertionError(f"no cycle through {start}")


def test_no_import_cycles() -> None:
    graph = import_graph()
    components = strongly_connected(graph)
    short = [frozenset(map(_short, c)) for c in components]
    new = [
        f"{', '.join(sorted(s))}\n    {shortest_cycle(graph, c)}"
        for c, s in zip(components, short, strict=True)
        if not any(s <= allowed for allowed in CYCLES_ALLOWED)
    ]
    assert not new, "import cycles:\n" + "\n".join(new)
    stale = [", ".join(sorted(a)) for a in CYCLES_ALLOWED if not any(s <= a for s in short)]
    assert not stale, "CYCLES_ALLOWED entries no longer needed (delete them):\n" + "\n".join(stale)


def test_the_cycle_finder_finds_type_level_cycles() -> None:
    graph = {
        "hubbub.a": {"hubbub.b": 3},
        "hubbub.b": {"hubbub.c": 5},
        "hubbub.c": {"hubbub.a": 9},  # say, under `if TYPE_CHECKING:`
        "hubbub.d": {"hubbub.a": 1},
    }
    assert strongly_connected(graph) == [frozenset({"hubbub.a", "hubbub.b", "hubbub.c"})]
    assert shortest_cycle(graph, frozenset({"hubbub.a", "hubbub.b", "hubbub.c"})) == "a:3 -> b:5 -> c:9 -> a"


def test_type_checking_imports_are_edges() -> None:
    graph = import_graph()
    sources = modules()
    for name, module in sources.items():
        for node in ast.walk(module.tree):
            if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.ImportFrom) and inner.level == 0 and inner.module in sources:
                        named = [f"{inner.module}.{a.name}" for a in inner.names]
                        targets = [n for n in named if n in sources] or [inner.module]
                        assert any(t in graph[name] for t in targets if t != name), (name, inner.module)


# -- size --------------------------------------------------------------------------------------


def test_no_module_is_over_the_line_limit() -> None:
    lengths = {m.rel: len(m.path.read_text(encoding="utf-8").splitlines()) for m in modules().values()}
    long = {rel: n for rel, n in lengths.items() if n > MAX_LINES}
    new = [f"{rel}: {n} lines" for rel, n in sorted(long.items()) if rel not in SIZE_ALLOWED]
    assert not new, f"modules over {MAX_LINES} lines (split them):\n" + "\n".join(new)
    stale = sorted(set(SIZE_ALLOWED) - set(long))
    assert not stale, "SIZE_ALLOWED entries no longer needed (delete them):\n" + "\n".join(stale)
