"""docs/settings.md is generated from the settings models and names every HUBBUB_* variable."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

from hubbub.cli._settings import REGENERATE, SETTINGS_FLAGS, flag_of, settings_markdown
from hubbub.config import Settings
from hubbub.messaging.config import MessagingSettings

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "settings.md"

# Names that look like variables but are not read from the environment: the token claim constants
# (hubbub.schema.tokens), a C macro of the fan-out helper, the scripts' own checkout path, prefixes.
NOT_VARIABLES = {
    "HUBBUB_VERSION",
    "HUBBUB_CHANNEL",
    "HUBBUB_ROLE",
    "HUBBUB_PRIVILEGES",
    "HUBBUB_WITH_OPENSSL",
    "HUBBUB_ROOT",
    "HUBBUB_",
    "HUBBUB_RTM_",
}


def test_settings_doc_is_in_sync_with_the_models() -> None:
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    assert current == settings_markdown(), f"docs/settings.md is out of date; regenerate it with: {REGENERATE}"


def test_every_setting_has_a_meaning_and_a_row() -> None:
    text = settings_markdown()
    for f in fields(Settings):
        assert f.metadata.get("doc"), f"Settings.{f.name} has no description (metadata['doc'])"
        flag = flag_of(f.name)
        row = next(line for line in text.splitlines() if line.startswith(f"| `{f.name}` |"))
        assert f"`HUBBUB_{f.name.upper()}`" in row
        assert (f"`{flag}`" in row) == (f.name in SETTINGS_FLAGS)
    for f in fields(MessagingSettings):
        if f.name != "extra":
            assert f.metadata.get("doc"), f"MessagingSettings.{f.name} has no description"
            assert f"`HUBBUB_RTM_{f.name.upper()}`" in text


def test_flags_in_the_doc_are_flags_of_hubbub_serve() -> None:
    """Every flag the reference names for a setting is accepted by ``hubbub serve``."""
    from hubbub.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    serve = commands.choices["serve"]
    options = {opt for action in serve._actions for opt in action.option_strings}
    for name in SETTINGS_FLAGS:
        assert flag_of(name) in options


def test_every_hubbub_variable_read_by_the_code_is_documented() -> None:
    sources = [*(ROOT / "src" / "hubbub").rglob("*.py"), *(ROOT / "scripts").glob("*.sh")]
    sources += list((ROOT / "tests").rglob("conftest.py"))
    found: dict[str, Path] = {}
    for path in sources:
        for name in re.findall(r"HUBBUB_[A-Z0-9_]*", path.read_text(encoding="utf-8")):
            found.setdefault(name, path)
    text = DOC.read_text(encoding="utf-8")
    missing = {n: str(p.relative_to(ROOT)) for n, p in found.items() if n not in NOT_VARIABLES and f"`{n}`" not in text}
    assert not missing, f"variables read by the code but not in docs/settings.md: {missing}"


def test_the_generator_script_finds_the_doc_current() -> None:
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen-settings-doc.py"), "--check"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr


def test_the_toml_example_is_a_valid_settings_file(tmp_path: Path) -> None:
    from hubbub.config import load_settings

    block = re.search(r"```toml\n(.*?)```", settings_markdown(), flags=re.DOTALL)
    assert block is not None
    path = tmp_path / "hubbub.toml"
    path.write_text(block.group(1), encoding="utf-8")
    settings = load_settings(env={}, config_file=path)
    assert settings.announced_ip == "203.0.113.10" and settings.database_url.startswith("postgresql+asyncpg://")
