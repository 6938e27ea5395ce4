"""OSC messages as pydantic models: positional arguments coerced and range-checked, encoded with
explicit type tags by oscwire. protocol.py declares the midigen messages on this base.

Arguments are positional, as OSC has no names; a model's field order is the wire order. A
message may end with a repeated group (notes, selections): its fields repeat until the end.
Coercion is what DAW clients need and no more: an int field takes `i`, `h` (int64, then
range-checked like any int) or a whole-number `f`/`d` (a Max float box sends `3.`); a float
field takes any finite number; a string field takes valid UTF-8 only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import oscwire
from .errors import ErrorCode

TEXT_CAP = 200  # characters of any error text the server sends
EXCERPT = 40  # characters of client input an error text may quote


class BadMessage(ValueError):
    """A message that does not parse; the text is one line for /midigen/refused."""

    def __init__(self, text: str, code: ErrorCode = ErrorCode.bad_message):
        super().__init__(cap(text))
        self.code = code


def cap(text: str, limit: int = TEXT_CAP) -> str:
    """One line of at most `limit` characters (error texts must fit any client's buffer)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def excerpt(value: Any) -> str:
    """A short, printable quote of client input for an error text."""
    return cap(repr(value), EXCERPT)


def limit(description: str, lo: int | None = None, hi: int | None = None, **kw: Any) -> Any:
    """A field whose upper bound is a documented limit: exceeding it is `too_large`."""
    return Field(description=description, ge=lo, le=hi, json_schema_extra={"limit": True}, **kw)


class Message(BaseModel):
    """One OSC message; subclasses set `address` and `incoming` (client to server or back)."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")
    address: ClassVar[str]
    incoming: ClassVar[bool]

    @classmethod
    def group(cls) -> tuple[str, type[BaseModel]] | None:
        """The trailing repeated group (field name, item model), if the message has one."""
        for name, info in cls.model_fields.items():
            if get_origin(info.annotation) is list:
                return name, get_args(info.annotation)[0]
        return None

    @classmethod
    def fixed(cls) -> list[str]:
        group = cls.group()
        return [n for n in cls.model_fields if group is None or n != group[0]]

    @classmethod
    def from_osc(cls, args: Sequence[tuple[str, Any]]) -> Message:
        """Parse (type tag, value) arguments; BadMessage names the field and what is wrong."""
        return cls.from_args([_coerce_tagged(tag, value) for tag, value in args])

    @classmethod
    def from_args(cls, args: Sequence[Any]) -> Message:
        """Parse positional Python values (already coerced from their OSC tags)."""
        group, fixed = cls.group(), cls.fixed()
        if len(args) < len(fixed) or (group is None and len(args) > len(fixed)):
            raise BadMessage(f"{cls.address} takes {len(fixed)} arguments, got {len(args)}")
        values: dict[str, Any] = {}
        for name, value in zip(fixed, args):
            values[name] = _coerce(cls.model_fields[name].annotation, value, name)
        if group is not None:
            name, item = group
            rest, keys = list(args[len(fixed) :]), list(item.model_fields)
            if len(rest) % len(keys):
                raise BadMessage(f"{cls.address}: {name} take {len(keys)} arguments each")
            hi = cls.model_fields[name].metadata
            most = next((m.max_length for m in hi if getattr(m, "max_length", None)), None)
            if most is not None and len(rest) // len(keys) > most:
                raise BadMessage(
                    f"{cls.address}: {len(rest) // len(keys)} {name}, at most {most}",
                    ErrorCode.too_large,
                )
            values[name] = [
                {k: _coerce(item.model_fields[k].annotation, v, k) for k, v in zip(keys, chunk)}
                for chunk in (rest[i : i + len(keys)] for i in range(0, len(rest), len(keys)))
            ]
        try:
            return cls.model_validate(values)
        except ValidationError as e:
            raise _bad(cls, e) from None

    def to_args(self) -> list[tuple[str, Any]]:
        """(OSC type tag, value) pairs in wire order, the group flattened."""
        out = []
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            if isinstance(value, list):
                for item in value:
                    out += [
                        (osc_tag(i.annotation), getattr(item, n))
                        for n, i in type(item).model_fields.items()
                    ]
            else:
                out.append((osc_tag(info.annotation), value))
        return out

    def encode(self) -> bytes:
        return oscwire.encode(self.address, self.to_args())


def _coerce_tagged(tag: str, value: Any) -> Any:
    """OSC values as Python values; tags the protocol never uses become a marker that no
    field accepts (so the answer is `bad_message` naming the field)."""
    if tag in ("i", "h", "f", "d", "s", "S"):
        return value
    return _Unusable(tag)


class _Unusable:
    def __init__(self, tag: str):
        self.tag = tag

    def __repr__(self) -> str:
        return f"OSC type {self.tag}"


def _coerce(annotation: Any, value: Any, name: str) -> Any:
    """A wire value as the field's Python type, or BadMessage naming the field."""
    kind = annotation if annotation in (int, float, str) else None
    if get_origin(annotation) is Literal:
        kind = str
    if kind is int:
        if type(value) is int:
            return value
        if type(value) is float and math.isfinite(value) and value.is_integer():
            return int(value)
        raise BadMessage(f"{name}: an integer is needed, got {excerpt(value)}")
    if kind is float:
        if type(value) in (int, float) and math.isfinite(value):
            return float(value)
        raise BadMessage(f"{name}: a finite number is needed, got {excerpt(value)}")
    if kind is str:
        if type(value) is str and oscwire.is_utf8(value):
            return value
        raise BadMessage(f"{name}: a UTF-8 string is needed, got {excerpt(value)}")
    return value


def _bad(cls: type[Message], e: ValidationError) -> BadMessage:
    err = e.errors()[0]
    where = ".".join(str(x) for x in err["loc"] if not isinstance(x, int))
    code = ErrorCode.bad_message
    if err["type"] in ("less_than_equal", "too_long", "string_too_long"):
        info = cls.model_fields.get(str(err["loc"][0]))
        group = cls.group()
        if group is not None and err["loc"][0] == group[0] and isinstance(err["loc"][-1], str):
            info = group[1].model_fields.get(err["loc"][-1])  # a field of one repeated item
        if info is not None and (info.json_schema_extra or {}).get("limit"):
            code = ErrorCode.too_large
    text = f"{cls.address} {where}: {err['msg']} (got {excerpt(err['input'])})"
    return BadMessage(text, code)


def osc_tag(annotation: Any) -> str:
    if annotation is int:
        return "i"
    if annotation is float:
        return "f"
    return "s"
