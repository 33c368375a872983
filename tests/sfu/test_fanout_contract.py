"""The SFU reaches the transport's sender only through ``hubbub.sfu.fanout``; the munger's state
leaves it only through ``snapshot``/``restore``."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "hubbub"
MUNGER_PRIVATE = {"_in_ext", "_in_ts", "_last_now", "_seq_off", "_ts_off", "_epochs", "_generation"}


def _trees(package: str) -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted((SRC / package).rglob("*.py"))]


def test_sfu_opens_no_socket_and_probes_no_attributes() -> None:
    problems = []
    for path, tree in _trees("sfu"):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if any(n.split(".")[0] in ("socket", "ipaddress") for n in names):
                    problems.append(f"{path.name}:{node.lineno} imports {names}")
                if any(n.startswith("hubbub.transport") for n in names):
                    problems.append(f"{path.name}:{node.lineno} imports the transport ({names})")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id in ("hasattr", "getattr"):
                    problems.append(f"{path.name}:{node.lineno} calls {node.func.id}")
            elif isinstance(node, ast.Name) and node.id == "Any":
                problems.append(f"{path.name}:{node.lineno} uses Any")
    assert not problems, "\n".join(problems)


def test_nothing_writes_the_munger_private_state() -> None:
    problems = []
    for package in ("sfu", "rooms", "transport"):
        for path, tree in _trees(package):
            if path.name == "munger.py":
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and node.attr in MUNGER_PRIVATE:
                    problems.append(f"{path.relative_to(SRC)}:{node.lineno} touches .{node.attr}")
    assert not problems, "\n".join(problems)
