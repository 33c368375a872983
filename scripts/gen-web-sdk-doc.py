"""Write docs/web-sdk-reference.md from the Web SDK's JSDoc; ``--check`` exits 1 when the file is stale.

Reads what each entry module of ``src/hubbub/web/sdk/`` exports (``hubbub.js``, ``messaging.js``):
its own exported classes, functions and constants and the names it re-exports from the modules
beside it (``export {Room} from './room.js'``), the public methods of each exported class (names
without a leading ``_``, no ``@private``), the ``@typedef`` blocks of every module it reaches (but
``import(...)`` aliases and those marked ``@private``), and the ``@event name (arguments) meaning``
tags written on each class's ``on`` method; the events emitted are those of every module it reaches.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SDK = ROOT / "src" / "hubbub" / "web" / "sdk"
SOURCES = ("hubbub.js", "messaging.js")
DOC = ROOT / "docs" / "web-sdk-reference.md"
REGENERATE = ".venv/bin/python scripts/gen-web-sdk-doc.py"

TAG = re.compile(r"(?<!\{)@(\w+)")
TOP = re.compile(r"^export\s+(?:(async)\s+)?(class|function|const)\s+(\w+)(?:\s+extends\s+(\w+))?")
MEMBER = re.compile(r"^  (?:(static)\s+)?(?:(async)\s+)?(?:(get|set)\s+)?(\w+)\s*\(")
EMIT = re.compile(r"""\b_emit\(\s*['"](\w+)['"]""")
REEXPORT = re.compile(r"""^export\s*\{([^}]*)\}\s*from\s*['"]\./([\w.-]+\.js)['"]""")
IMPORT = re.compile(r"""\bfrom\s*['"]\./([\w.-]+\.js)['"]""")


@dataclass
class Doc:
    text: str = ""
    tags: list[tuple[str, str]] = field(default_factory=list)

    def all(self, name: str) -> list[str]:
        return [value for tag, value in self.tags if tag == name]


@dataclass
class Item:
    kind: str  # class, function, const, method, getter, constructor
    name: str
    signature: str
    doc: Doc
    extends: str = ""
    members: list[Item] = field(default_factory=list)


@dataclass
class Module:
    name: str
    header: str
    typedefs: list[Doc]
    items: list[Item]
    emitted: set[str]


def parse_doc(block: str) -> Doc:
    body = block.strip()
    body = body.removeprefix("/**").removesuffix("*/")
    lines = [re.sub(r"^\s*\*? ?", "", line).rstrip() for line in body.splitlines()]
    text = " ".join(line.strip() for line in lines).strip()
    parts = TAG.split(text)
    doc = Doc(text=parts[0].strip())
    for tag, value in zip(parts[1::2], parts[2::2], strict=True):
        doc.tags.append((tag, value.strip()))
    return doc


def _params(src: str, start: int) -> str:
    """The text between the parenthesis at ``start`` and its match."""
    depth = 0
    for i in range(start, len(src)):
        if src[i] in "([{":
            depth += 1
        elif src[i] in ")]}":
            depth -= 1
            if depth == 0:
                return " ".join(src[start + 1 : i].split())
    return ""


def reached(path: Path) -> list[Path]:
    """``path`` and every module it imports or re-exports from, transitively, each once."""
    found = [path]
    for each in found:
        for name in IMPORT.findall(each.read_text(encoding="utf-8")):
            if (each.parent / name) not in found:
                found.append(each.parent / name)
    return found


def parse(path: Path) -> Module:
    """The public surface of the entry module at ``path``."""
    own = parse_file(path)
    typedefs = list(own.typedefs)
    emitted = set(own.emitted)
    for other in reached(path)[1:]:
        module = parse_file(other)
        typedefs += module.typedefs
        emitted |= module.emitted
    return Module(own.name, own.header, typedefs, own.items, emitted)


def _public_typedef(doc: Doc) -> bool:
    return not doc.all("private") and not _typed(doc.all("typedef")[0])[0].startswith("import(")


def parse_file(path: Path) -> Module:
    """One module's own items, with those it re-exports from its siblings in place."""
    src = path.read_text(encoding="utf-8")
    lines = src.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    header = []
    for line in lines:
        if not line.startswith("//"):
            break
        header.append(line[2:].rstrip("\n").removeprefix(" "))
    typedefs: list[Doc] = []
    items: list[Item] = []
    pending: Doc | None = None
    current: Item | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("/**"):
            j = i
            while "*/" not in lines[j]:
                j += 1
            block = "".join(lines[i : j + 1])
            rest = block[block.index("*/") + 2 :].strip()
            i = j + 1
            if rest:  # an inline annotation such as `/** @type {string} */ this.x = ...`
                continue
            doc = parse_doc(block[: block.index("*/") + 2])
            if doc.all("typedef") and current is None:
                if _public_typedef(doc):
                    typedefs.append(doc)
                pending = None
            else:
                pending = doc
            continue
        if current is not None and line.startswith("}"):
            current = None
        top = TOP.match(line)
        reexport = REEXPORT.match(line)
        if reexport:
            names = [name.strip() for name in reexport.group(1).split(",") if name.strip()]
            by_name = {item.name: item for item in parse_file(path.parent / reexport.group(2)).items}
            items += [by_name[name] for name in names if name in by_name]
        elif top:
            is_async, kind, name, extends = top.groups()
            signature = ""
            if kind == "function":
                signature = _params(src, offsets[i] + line.index("("))
            item = Item(kind, name, signature, pending or Doc(), extends or "")
            if is_async:
                item.doc.tags.append(("async", ""))
            items.append(item)
            current = item if kind == "class" and not line.rstrip().endswith("}") else None
        elif current is not None:
            member = MEMBER.match(line)
            if member and member.group(4) not in {"if", "for", "while", "switch", "return"}:
                static, is_async, accessor, name = member.groups()
                doc = pending or Doc()
                if not name.startswith("_") and not doc.all("private") and accessor != "set":
                    kind = "constructor" if name == "constructor" else "getter" if accessor else "method"
                    signature = _params(src, offsets[i] + line.index("(", line.index(name)))
                    m = Item(kind, name, signature, doc)
                    if is_async:
                        m.doc.tags.append(("async", ""))
                    if static:
                        m.doc.tags.append(("static", ""))
                    current.members.append(m)
        if stripped and not stripped.startswith("//"):
            pending = None
        i += 1
    return Module(path.name, "\n".join(header).strip(), typedefs, items, set(EMIT.findall(src)))


def _inline(text: str) -> str:
    return re.sub(r"\{@link\s+([\w.#]+)\s*\}", r"`\1`", text)


def _cell(text: str) -> str:
    """A table cell: pipes outside code spans escaped (Python-Markdown leaves those in code alone)."""
    parts = _inline(text).split("`")
    return "`".join(part if i % 2 else part.replace("|", "\\|") for i, part in enumerate(parts))


def _typed(value: str) -> tuple[str, str]:
    """``{type} rest`` -> (type, rest)."""
    if not value.startswith("{"):
        return "", value
    depth = 0
    for i, ch in enumerate(value):
        depth += ch == "{"
        depth -= ch == "}"
        if depth == 0:
            return value[1:i], value[i + 1 :].strip()
    return "", value


def _params_table(doc: Doc) -> list[str]:
    rows = []
    for value in doc.all("param") + doc.all("property"):
        kind, rest = _typed(value)
        name, _, meaning = rest.partition(" ")
        rows.append(f"| `{name}` | `{kind}` | {_cell(meaning.strip())} |")
    if not rows:
        return []
    return ["| name | type | meaning |", "|---|---|---|", *rows, ""]


def _returns(doc: Doc) -> list[str]:
    out = []
    for value in doc.all("returns"):
        kind, meaning = _typed(value)
        out.append(f"Returns `{_inline(kind)}`{': ' + _inline(meaning) if meaning else ''}.")
        out.append("")
    return out


def _events(doc: Doc) -> list[str]:
    rows = []
    for value in doc.all("event"):
        name, _, rest = value.partition(" ")
        args, meaning = "", rest
        if rest.startswith("("):
            end = rest.index(")") + 1
            args, meaning = rest[:end], rest[end:].strip()
        rows.append(f"| `{name}` | `{args}` | {_cell(meaning)} |")
    if not rows:
        return []
    return ["Events (`on(name, fn)`):", "", "| event | arguments | meaning |", "|---|---|---|", *rows, ""]


def _render_item(item: Item, owner: str = "") -> list[str]:
    lines: list[str] = []
    doc = item.doc
    prefix = "async " if ("async", "") in doc.tags else ""
    if item.kind == "class":
        extends = f" extends {item.extends}" if item.extends else ""
        lines += [f"### class `{item.name}`{extends}", ""]
    elif item.kind == "const":
        lines += [f"### `{item.name}`", ""]
    elif item.kind == "function":
        lines += [f"### {prefix}`{item.name}({item.signature})`", ""]
    else:
        target = item.name if ("static", "") in doc.tags else f"{owner[0].lower()}{owner[1:]}.{item.name}"
        if item.kind == "constructor":
            lines += [f"#### `new {owner}({item.signature})`", ""]
        elif item.kind == "getter":
            lines += [f"#### `{target}` (read-only)", ""]
        else:
            lines += [f"#### {prefix}`{target}({item.signature})`", ""]
    if doc.text:
        lines += [_inline(doc.text), ""]
    types = doc.all("type")
    if types and item.kind == "const":
        lines += [f"Type: `{_inline(_typed(types[0])[0] or types[0])}`", ""]
    lines += _params_table(doc) + _returns(doc) + _events(doc)
    for member in item.members:
        lines += _render_item(member, item.name)
    return lines


def render(modules: list[Module]) -> str:
    out = [
        "# Web SDK reference",
        "",
        "<!-- Generated from the JSDoc in src/hubbub/web/sdk/ by scripts/gen-web-sdk-doc.py: do not edit. -->",
        "",
        "Every exported class, function and constant of the browser SDK, from the JSDoc comments in its",
        "source (`src/hubbub/web/sdk/`, served at `/sdk/`). The guide with examples is [Web SDK](web-sdk.md).",
        f"Regenerate with `{REGENERATE}`.",
        "",
    ]
    for module in modules:
        out += [f"## `{module.name}`", ""]
        if module.header:
            out += ["<!-- not-an-example: the module's header comment -->", "```text", module.header, "```", ""]
        if module.typedefs:
            out += ["### Types", ""]
            for doc in module.typedefs:
                kind, name = _typed(doc.all("typedef")[0])
                out += [f"`{name}`: `{_inline(kind)}`" + (f". {_inline(doc.text)}" if doc.text else ""), ""]
                out += _params_table(doc)
        for item in module.items:
            out += _render_item(item)
    return "\n".join(out).rstrip() + "\n"


def modules() -> list[Module]:
    return [parse(SDK / name) for name in SOURCES]


def undocumented(mods: list[Module]) -> list[str]:
    """Public names with no description in their JSDoc."""
    missing = []
    for module in mods:
        for item in module.items:
            if not item.doc.text:
                missing.append(f"{module.name}: {item.name}")
            for member in item.members:
                if not member.doc.text and member.kind != "constructor":
                    missing.append(f"{module.name}: {item.name}.{member.name}")
    return missing


def main(argv: list[str]) -> int:
    text = render(modules())
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
