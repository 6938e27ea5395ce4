"""The reference part of docs/osc-protocol.md (messages, arguments, ranges, limits, error codes),
generated from protocol.py so the contract cannot drift from the code; a test compares them.

    python -m midigen.server.daemon.protocoldoc --write docs/osc-protocol.md
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel

from .oscmessage import Message, osc_tag
from .protocol import LIMITS, MESSAGES, PROTOCOL_VERSION, ErrorCode

BEGIN = (
    "<!-- BEGIN GENERATED: python -m midigen.server.daemon.protocoldoc"
    " --write docs/osc-protocol.md -->"
)
END = "<!-- END GENERATED -->"


def _range(info: Any) -> str:
    if get_origin(info.annotation) is Literal:
        return " \\| ".join(f"`{a}`" for a in get_args(info.annotation))
    lo = hi = None
    for m in info.metadata:
        lo = getattr(m, "ge", lo)
        hi = getattr(m, "le", hi)
        if getattr(m, "gt", None) is not None:
            lo = f"> {m.gt}"
        if getattr(m, "max_length", None) is not None and info.annotation is str:
            hi = f"{m.max_length} chars"
    if lo is None and hi is None:
        return ""
    if isinstance(lo, str):
        return lo + (f", <= {hi}" if hi is not None else "")
    if hi is None:
        return f">= {lo}"
    return f"{lo}..{hi}" if lo is not None else f"<= {hi}"


def _rows(model: type[BaseModel], repeated: bool = False) -> list[str]:
    rows = []
    for name, info in model.model_fields.items():
        if get_origin(info.annotation) is list:
            item = get_args(info.annotation)[0]
            rows += _rows(item, repeated=True)
            continue
        label = f"{name} (repeated)" if repeated else name
        rows.append(
            f"| {label} | {osc_tag(info.annotation)} | {_range(info)} | {info.description} |"
        )
    return rows


def signature(cls: type[Message]) -> str:
    """The type tags of a message, the repeated group in brackets: `iiis[ifi]...`."""
    tags = "".join(
        osc_tag(i.annotation)
        for i in cls.model_fields.values()
        if get_origin(i.annotation) is not list
    )
    group = cls.group()
    if group:
        tags += (
            "[" + "".join(osc_tag(i.annotation) for i in group[1].model_fields.values()) + "]..."
        )
    return tags


def reference_markdown() -> str:
    """Messages, limits and error codes, as docs/osc-protocol.md shows them."""
    out = [BEGIN, "", f"### Messages (protocol version {PROTOCOL_VERSION})", ""]
    for title, incoming in (("Client to server", True), ("Server to client", False)):
        out += [f"#### {title}", ""]
        for cls in (c for c in MESSAGES if c.incoming == incoming):
            doc = inspect.cleandoc(cls.__doc__)
            out += [f"##### `{cls.address}` `{signature(cls)}`", "", doc, ""]
            out += ["| argument | type | range | meaning |", "|---|---|---|---|"]
            out += _rows(cls) + [""]
    out += ["### Limits", "", "| limit | value | note |", "|---|---|---|"]
    out += [f"| {name} | {value} | {note} |" for name, value, note in LIMITS]
    out += ["", "### Error codes", "", "| code | meaning |", "|---|---|"]
    out += [f"| `{c.name}` | {c.value} |" for c in ErrorCode]
    return "\n".join(out + ["", END])


def write_reference(path: Path) -> None:
    """Replace the generated part of the protocol document."""
    text = path.read_text()
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    path.write_text(head + reference_markdown() + tail)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"] and len(sys.argv) == 3:
        write_reference(Path(sys.argv[2]))
    else:
        print(reference_markdown())
