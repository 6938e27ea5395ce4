"""OSC messages as pydantic models: positional arguments parsed strictly, encoded with explicit
type tags. protocol.py declares the midigen messages on this base.

Arguments are positional, as OSC has no names; a model's field order is the wire order. A
message may end with a repeated group (notes, selections): its fields repeat until the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError
from pythonosc.osc_message_builder import OscMessageBuilder


class BadMessage(ValueError):
    """A message that does not parse; the text is one line for /midigen/error."""


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
    def from_args(cls, args: Sequence[Any]) -> Message:
        """Parse positional OSC arguments; BadMessage says what is wrong in one line."""
        group = cls.group()
        fixed = [n for n in cls.model_fields if group is None or n != group[0]]
        values: dict[str, Any] = dict(zip(fixed, args))
        rest = list(args[len(fixed) :])
        if len(args) < len(fixed) or (group is None and rest):
            want = len(fixed)
            raise BadMessage(f"{cls.address} takes {want} arguments, got {len(args)}")
        if group is not None:
            name, item = group
            width = len(item.model_fields)
            if len(rest) % width:
                raise BadMessage(f"{cls.address}: the {name} groups take {width} arguments each")
            keys = list(item.model_fields)
            values[name] = [
                dict(zip(keys, rest[i : i + width])) for i in range(0, len(rest), width)
            ]
        try:
            return cls.model_validate(values)
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(x) for x in err["loc"])
            raise BadMessage(
                f"{cls.address} {where}: {err['msg']} (got {err['input']!r})"
            ) from None

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
        builder = OscMessageBuilder(self.address)
        for tag, value in self.to_args():
            builder.add_arg(float(value) if tag == "f" else value, tag)
        return builder.build().dgram


def osc_tag(annotation: Any) -> str:
    if annotation is int:
        return "i"
    if annotation is float:
        return "f"
    return "s"
