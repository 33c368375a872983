"""Layers import downward only (docs/architecture.md); the SDK never imports server internals."""

from __future__ import annotations

import ast
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


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name == "hubbub" or name.startswith("hubbub.")]


def _layer_of(path: Path) -> str:
    rel = path.relative_to(SRC).parts
    return rel[0].removesuffix(".py") if rel else ""


def test_every_package_has_a_rank() -> None:
    packages = {p.name.removesuffix(".py") for p in SRC.iterdir() if not p.name.startswith("_")}
    packages -= {"py.typed", "__pycache__", "web"}  # web: static files (the Web SDK, demos, console)
    assert packages <= set(RANK) | {"sdk"}, packages - set(RANK)


def test_imports_go_downward_only() -> None:
    violations = []
    for path in SRC.rglob("*.py"):
        layer = _layer_of(path)
        if layer in ("__init__", "__main__"):
            continue
        for line, name in _imports(path):
            parts = name.split(".")
            if len(parts) < 2:
                continue
            target = parts[1]
            if layer == "sdk":
                ok = target in SDK_ALLOWED
            elif target == "sdk":
                ok = layer in ("control", "agents", "cli", "bench", "server")  # the token builder, the agent client
            else:
                ok = target == layer or RANK.get(target, 99) < RANK.get(layer, -1)
            if not ok:
                violations.append(f"{path.relative_to(SRC)}:{line} ({layer}) imports {name}")
    assert not violations, "\n".join(violations)


_TOKEN_MODULES = ("hubbub.schema.tokens", "hubbub.schema.token_builder", "hubbub.schema")


def test_token_schema_is_stdlib_only() -> None:
    """Customers copy the token builder and its schema into their backends: no dependencies."""
    import sys

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
