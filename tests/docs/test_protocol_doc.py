"""docs/protocol.md, docs/tokens.md and docs/messaging.md say what the server really speaks.

Two contracts, checked both ways:

- **Frames.** The message tables of docs/protocol.md name every type of
  :data:`hubbub.schema.signaling.ClientMessage` and :data:`~hubbub.schema.signaling.ServerMessage`
  and nothing else, and each row names exactly the fields of its msgspec struct (``id`` and ``re``
  are described once, above the tables). A record spelled out in braces (``room {sid, ...}``) names
  exactly the fields of its struct too.
- **Error codes.** The error-code tables list every code the server can send on that surface and
  nothing it cannot. "Can send" is the ``ErrorCode`` enum of the surface's schema, the token codes
  (:class:`hubbub.schema.tokens.TokenErrorCode`), and every code given as a string literal to the
  server's error types (found in the source, so a code added in one ``raise`` is not missed).

How a table cell is read: text in parentheses is a remark and skipped; every other backticked span
is a field, ``name``, ``name {a, b}`` (a record) or ``name [{a, b}]`` (a list of records).
"""

from __future__ import annotations

import ast
import re
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

from hubbub.schema import messaging as rtm
from hubbub.schema import signaling as sig
from hubbub.schema.tokens import TokenErrorCode

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SRC = ROOT / "src" / "hubbub"

ENVELOPE = {"id", "re"}  # described once for every frame, not in each row


# --- reading the markdown -------------------------------------------------------------------


def _cells(line: str) -> list[str]:
    """The cells of one table row; a ``|`` inside backticks does not split."""
    cells, current, in_code = [], "", False
    for ch in line.strip().strip("|"):
        if ch == "`":
            in_code = not in_code
        if ch == "|" and not in_code:
            cells.append(current.strip())
            current = ""
        else:
            current += ch
    cells.append(current.strip())
    return cells


def tables(text: str) -> Iterator[list[list[str]]]:
    """Every table of ``text``: its rows of cells, header first, without the ``|---|`` line."""
    rows: list[list[str]] = []
    for line in [*text.split("\n"), ""]:
        if line.lstrip().startswith("|"):
            if not re.fullmatch(r"\|?[\s:|-]+\|?", line.strip()):
                rows.append(_cells(line))
        elif rows:
            yield rows
            rows = []


def section(text: str, title: str) -> str:
    """The body of the section headed ``title`` (any level), up to the next heading of its level or above."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        m = re.match(r"^(#+)\s+(.*?)\s*$", line)
        if m and m.group(2) == title:
            level = len(m.group(1))
            end = next(
                (j for j in range(i + 1, len(lines)) if re.match(rf"^#{{1,{level}}}\s", lines[j])),
                len(lines),
            )
            return "\n".join(lines[i + 1 : end])
    raise AssertionError(f"no section {title!r}")


def _without_remarks(cell: str) -> str:
    """``cell`` without its parenthesised remarks (nested ones included); backticked text is kept."""
    out, depth, in_code = "", 0, False
    for ch in cell:
        if ch == "`" and depth == 0:
            in_code = not in_code
        if not in_code and ch == "(":
            depth += 1
            continue
        if not in_code and ch == ")" and depth:
            depth -= 1
            continue
        if depth == 0:
            out += ch
    return out


def spans(cell: str) -> list[str]:
    """The backticked spans of ``cell`` outside its remarks."""
    return re.findall(r"`([^`]+)`", _without_remarks(cell))


@dataclass(frozen=True)
class DocField:
    name: str
    record: tuple[str, ...] | None  # the fields named in braces, if any


def parse_field(span: str) -> DocField:
    m = re.fullmatch(r"(\w+)(?:\s*\[?\{(.*)\}\]?)?", span.strip())
    assert m, f"cannot read {span!r} as a field (`name`, `name {{a, b}}` or `name [{{a, b}}]`)"
    inner = m.group(2)
    if inner is None:
        return DocField(m.group(1), None)
    names = tuple(re.match(r"\s*(\w+)", part).group(1) for part in inner.split(",") if part.strip())  # type: ignore[union-attr]
    return DocField(m.group(1), names)


@dataclass(frozen=True)
class MessageRow:
    types: tuple[str, ...]
    fields: tuple[DocField, ...]
    reply: tuple[str, ...]


def message_rows(header: str) -> list[MessageRow]:
    """The rows of the protocol.md table whose first header cell is ``header``."""
    text = (DOCS / "protocol.md").read_text(encoding="utf-8")
    table = next((t for t in tables(text) if t[0][0] == header), None)
    assert table is not None, f"docs/protocol.md has no table headed {header!r}"
    rows = []
    for cells in table[1:]:
        reply = tuple(spans(cells[2])) if len(cells) > 2 else ()
        rows.append(MessageRow(tuple(spans(cells[0])), tuple(parse_field(s) for s in spans(cells[1])), reply))
    return rows


def joined_doc_fields() -> set[str]:
    """The fields protocol.md lists for ``joined``."""
    row = next(r for r in message_rows("server → client") if "joined" in r.types)
    return {f.name for f in row.fields}


# --- reading the schema ---------------------------------------------------------------------


def _tag(cls: type) -> str:
    return str(cls.__struct_config__.tag)  # type: ignore[attr-defined]


def _structs(union: object) -> dict[str, type[msgspec.Struct]]:
    return {_tag(cls): cls for cls in typing.get_args(union)}


def _fields(cls: type[msgspec.Struct]) -> dict[str, object]:
    return {f.encode_name: f.type for f in msgspec.structs.fields(cls)}


def _record(tp: object) -> type[msgspec.Struct] | None:
    """The struct a field holds (itself, or the items of a list), or None for a plain value."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp
    if typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp)
        return _record(item)
    return None


def _check_rows(header: str, union: object) -> list[str]:
    structs = _structs(union)
    problems: list[str] = []
    documented: set[str] = set()
    for row in message_rows(header):
        for tag in row.types:
            documented.add(tag)
            cls = structs.get(tag)
            if cls is None:
                problems.append(f"{header}: `{tag}` is documented but is no message of the schema")
                continue
            schema = _fields(cls)
            doc = {f.name for f in row.fields}
            for name in sorted(doc - ENVELOPE - schema.keys()):
                problems.append(f"{header}: `{tag}` documents `{name}`, which {cls.__name__} has not")
            for name in sorted(schema.keys() - ENVELOPE - doc):
                problems.append(f"{header}: `{tag}` leaves out {cls.__name__}.{name}")
            for f in row.fields:
                if f.record is None or f.name not in schema:
                    continue
                record = _record(schema[f.name])
                if record is None:
                    continue  # e.g. a mapping shown as {name: expiry}
                want = set(_fields(record))
                for name in sorted(set(f.record) - want):
                    problems.append(f"{header}: `{tag}.{f.name}` documents `{name}`, which {record.__name__} has not")
                for name in sorted(want - set(f.record)):
                    problems.append(f"{header}: `{tag}.{f.name}` leaves out {record.__name__}.{name}")
    for tag in sorted(structs.keys() - documented):
        problems.append(f"{header}: the schema's `{tag}` ({structs[tag].__name__}) is not documented")
    return problems


def test_client_messages_match_the_schema() -> None:
    assert _check_rows("client → server", sig.ClientMessage) == []


def test_server_messages_match_the_schema() -> None:
    assert _check_rows("server → client", sig.ServerMessage) == []


def test_every_documented_reply_is_a_server_message() -> None:
    server = _structs(sig.ServerMessage)
    replies = {r for row in message_rows("client → server") for r in row.reply}
    assert sorted(replies - server.keys()) == []


# --- the codes the server can send ----------------------------------------------------------

_SIGNALING_ERRORS = {"RoomError", "MediaError"}
_MESSAGING_ERRORS = {"MessagingError", "refuse"}
_TOKEN_ERRORS = {"TokenError"}


def _literal_codes() -> dict[str, set[str]]:
    """String codes given to the server's error types in src/hubbub (the SDKs excluded), by surface."""
    found: dict[str, set[str]] = {"signaling": set(), "messaging": set(), "tokens": set()}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith(("sdk/", "schema/")):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            code = first.value
            if name in _SIGNALING_ERRORS or (name == "_error" and rel.startswith("signaling/")):
                found["signaling"].add(code)
            elif name in _MESSAGING_ERRORS or (name == "_error" and rel.startswith("messaging/")):
                found["messaging"].add(code)
            elif name in _TOKEN_ERRORS:
                found["tokens"].add(code)
            else:
                continue
            if code.startswith("token_"):
                found["tokens"].add(code)
    return found


def sendable() -> dict[str, set[str]]:
    literal = _literal_codes()
    tokens = {c.value for c in TokenErrorCode}  # a token check on either socket can fail with any of them
    return {
        "signaling": {c.value for c in sig.ErrorCode} | tokens | literal["signaling"],
        "messaging": {c.value for c in rtm.ErrorCode} | tokens | literal["messaging"],
        "tokens": tokens | literal["tokens"],
    }


def documented_codes(doc: str) -> set[str]:
    """The codes in the first column of every table in the doc's "Error codes" section."""
    body = section((DOCS / doc).read_text(encoding="utf-8"), "Error codes")
    codes: set[str] = set()
    for table in tables(body):
        assert table[0][0] == "code", f"{doc}: an error-code table starts with a `code` column, not {table[0]}"
        for cells in table[1:]:
            found = spans(cells[0])
            assert len(found) == 1, f"{doc}: one code per row, not {cells[0]!r}"
            codes.add(found[0])
    assert codes, f"{doc}: the Error codes section has no table"
    return codes


def test_literal_codes_are_found() -> None:
    """The source scan sees codes that no enum holds (so it would catch a new one)."""
    assert "token_wrong_user" in _literal_codes()["signaling"]
    assert "token_privilege_missing" in _literal_codes()["messaging"]


def _both_ways(doc: str, surface: str) -> tuple[list[str], list[str]]:
    documented, can_send = documented_codes(doc), sendable()[surface]
    return sorted(documented - can_send), sorted(can_send - documented)


def test_protocol_error_codes() -> None:
    unknown, undocumented = _both_ways("protocol.md", "signaling")
    assert unknown == [], "docs/protocol.md lists codes the signaling server never sends"
    assert undocumented == [], "the signaling server can send codes docs/protocol.md does not list"


def test_token_error_codes() -> None:
    unknown, undocumented = _both_ways("tokens.md", "tokens")
    assert unknown == [], "docs/tokens.md lists token codes the server never sends"
    assert undocumented == [], "the server can send token codes docs/tokens.md does not list"


def test_messaging_error_codes() -> None:
    unknown, undocumented = _both_ways("messaging.md", "messaging")
    assert unknown == [], "docs/messaging.md lists codes the messaging server never sends"
    assert undocumented == [], "the messaging server can send codes docs/messaging.md does not list"


# --- where the docs are pointed to -------------------------------------------------------------


GUIDES = (
    "console",
    "tokens",
    "web-sdk",
    "protocol",
    "messaging",
    "agents",
    "deployment",
    "settings",
    "troubleshooting",
    "architecture",
)


def test_the_console_lists_every_guide() -> None:
    """The console's Docs page names each guide a developer reads (messaging and agents included)."""
    app = (SRC / "web" / "console" / "app.js").read_text(encoding="utf-8")
    view = app[app.index("function docsView") :]
    view = view[: view.index("\n}\n")]
    listed = set(re.findall(r"doc\('(docs/[\w-]+\.md)'", view))
    guides = {f"docs/{name}.md" for name in GUIDES}
    assert all((ROOT / g).exists() for g in guides)
    missing = sorted(guides - listed)
    assert missing == [], f"add {missing} to docsView in src/hubbub/web/console/app.js"


def test_no_page_promises_what_has_landed() -> None:
    """No served page or guide says a shipped feature is still to come."""
    stale = re.compile(r"once (real-time )?messaging (lands|is wired in)", re.IGNORECASE)
    pages = [*(SRC / "web").rglob("*.html"), *(SRC / "web").rglob("*.js"), *DOCS.glob("*.md"), ROOT / "README.md"]
    hits = [f"{p.relative_to(ROOT)}" for p in pages if stale.search(p.read_text(encoding="utf-8"))]
    assert hits == []
