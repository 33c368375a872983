"""Write docs/settings.md from the settings models; ``--check`` exits 1 when the file is stale."""

from __future__ import annotations

import sys
from pathlib import Path

from hubbub.cli._settings import REGENERATE, settings_markdown

DOC = Path(__file__).resolve().parent.parent / "docs" / "settings.md"


def main(argv: list[str]) -> int:
    text = settings_markdown()
    if "--check" in argv:
        if not DOC.exists() or DOC.read_text(encoding="utf-8") != text:
            print(f"{DOC} is out of date; regenerate it with: {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
