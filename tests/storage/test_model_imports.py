"""The table modules depend on the shared declarative base, not on each other in a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import hubbub.storage

STORAGE = Path(hubbub.storage.__file__).parent


def _storage_imports(module: str) -> set[str]:
    tree = ast.parse((STORAGE / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "hubbub.storage":
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hubbub.storage."):
            found.add(node.module.removeprefix("hubbub.storage."))
        elif isinstance(node, ast.Import):
            names = (a.name for a in node.names)
            found |= {n.removeprefix("hubbub.storage.") for n in names if n.startswith("hubbub.storage.")}
    return found


def test_table_modules_do_not_import_each_other_in_a_cycle() -> None:
    models, messaging = _storage_imports("models"), _storage_imports("models_messaging")
    assert "base" in models and "base" in messaging
    assert not ("models_messaging" in models and "models" in messaging)
    assert _storage_imports("base") == set()


def test_importing_models_registers_every_table() -> None:
    from hubbub.storage.models import Base

    tables = set(Base.metadata.tables)
    assert {"users", "projects", "api_keys", "usage_daily"} <= tables
    assert {"rtm_channels", "rtm_messages", "webhook_endpoints", "webhook_deliveries"} <= tables
