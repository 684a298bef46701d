"""Protobuf message classes from a `.proto` file shipped in the package, built at runtime (no protoc).

The project writes the message layouts it reads as plain `.proto` text (the field numbers and types
a format publishes). `message_classes` parses the small proto2 subset those files use (flat
`message` blocks of `optional`/`repeated` scalar or message fields, `[packed = true]`, `//`
comments), builds a `FileDescriptorProto` in a private descriptor pool and returns the classes the
`protobuf` package generates from it. No generated code is committed and nothing else is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_FieldType = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "double": _FieldType.TYPE_DOUBLE,
    "float": _FieldType.TYPE_FLOAT,
    "int32": _FieldType.TYPE_INT32,
    "int64": _FieldType.TYPE_INT64,
    "uint32": _FieldType.TYPE_UINT32,
    "uint64": _FieldType.TYPE_UINT64,
    "bool": _FieldType.TYPE_BOOL,
    "string": _FieldType.TYPE_STRING,
    "bytes": _FieldType.TYPE_BYTES,
}
_LABELS = {"optional": _FieldType.LABEL_OPTIONAL, "repeated": _FieldType.LABEL_REPEATED}
_STATEMENT = re.compile(r"(syntax|package)\s*=?\s*\"?([\w.]+)\"?\s*;")
_MESSAGE = re.compile(r"message\s+(\w+)\s*\{([^{}]*)\}")
_FIELD = re.compile(r"(optional|repeated)\s+(\w+)\s+(\w+)\s*=\s*(\d+)\s*(\[\s*packed\s*=\s*true\s*\])?\s*;")


def _strip_comments(text: str) -> str:
    """`text` without `//` comments."""
    return re.sub(r"//[^\n]*", "", text)


def file_descriptor(path: Path) -> descriptor_pb2.FileDescriptorProto:
    """The `FileDescriptorProto` of the proto2 file at `path` (the subset the module docstring names).

    Raises ValueError on anything outside that subset, so a typo never decodes silently wrong.
    """
    text = _strip_comments(path.read_text(encoding="utf-8"))
    proto = descriptor_pb2.FileDescriptorProto(name=path.name, syntax="proto2")
    for keyword, value in _STATEMENT.findall(text):
        if keyword == "package":
            proto.package = value
        elif value != "proto2":
            raise ValueError(f"{path.name}: only proto2 is supported, not {value}")
    body = _STATEMENT.sub("", text)
    messages = _MESSAGE.findall(body)
    names = {name for name, _ in messages}
    for name, fields in messages:
        message = proto.message_type.add(name=name)
        for statement in filter(None, (part.strip() for part in fields.split(";"))):
            match = _FIELD.fullmatch(statement + ";")
            if match is None:
                raise ValueError(f"{path.name}: message {name}: cannot read field {statement!r}")
            label, kind, field_name, number, packed = match.groups()
            field = message.field.add(name=field_name, number=int(number), label=_LABELS[label])
            if kind in _SCALARS:
                field.type = _SCALARS[kind]
            elif kind in names:
                field.type = _FieldType.TYPE_MESSAGE
                field.type_name = f".{proto.package}.{kind}" if proto.package else f".{kind}"
            else:
                raise ValueError(f"{path.name}: message {name}: unknown type {kind}")
            if packed:
                field.options.packed = True
    if _MESSAGE.sub("", body).strip():
        raise ValueError(
            f"{path.name}: unexpected text outside messages: {_MESSAGE.sub('', body).strip()[:40]!r}"
        )
    return proto


@cache
def message_classes(path: Path) -> dict[str, Any]:
    """Message name -> generated message class for the `.proto` file at `path` (built once per file)."""
    proto = file_descriptor(path)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    prefix = f"{proto.package}." if proto.package else ""
    return {
        message.name: message_factory.GetMessageClass(pool.FindMessageTypeByName(prefix + message.name))
        for message in proto.message_type
    }


_WIDTHS = {1: 8, 5: 4}  # wire type -> bytes of a fixed-width value (64-bit, 32-bit)
_FIXED_DTYPES = {
    _FieldType.TYPE_DOUBLE: "<f8",
    _FieldType.TYPE_FLOAT: "<f4",
    _FieldType.TYPE_FIXED64: "<u8",
    _FieldType.TYPE_SFIXED64: "<i8",
    _FieldType.TYPE_FIXED32: "<u4",
    _FieldType.TYPE_SFIXED32: "<i4",
}
_SMALL_VARINTS = (  # varint types whose one-byte encodings (0..127) are the values themselves
    _FieldType.TYPE_BOOL,
    _FieldType.TYPE_INT32,
    _FieldType.TYPE_INT64,
    _FieldType.TYPE_UINT32,
    _FieldType.TYPE_UINT64,
)


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """The varint at byte `at` of `data` and the index after it (IndexError when it runs off)."""
    value, shift = 0, 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if byte < 0x80:
            return value, at
        shift += 7


def _layout(template: bytes, fields: dict[int, Any]) -> list[tuple[int, int, Any, int]] | None:
    """The fixed layout of one serialized flat message: (tag offset, tag length, field descriptor or
    None for a field not in `fields`, value width) per field in order, or None when a field is
    length-delimited, a multi-byte varint, of another wire type than its declared type, or the bytes
    do not parse."""
    layout, at = [], 0
    try:
        while at < len(template):
            tag, value_at = _varint(template, at)
            number, wire = tag >> 3, tag & 7
            field = fields.get(number)
            if wire in _WIDTHS:
                width = _WIDTHS[wire]
                if field is not None and _FIXED_DTYPES.get(field.type, "")[-1:] != str(width):
                    return None
            elif wire == 0 and template[value_at] < 0x80:
                width = 1
                if field is not None and field.type not in _SMALL_VARINTS:
                    return None
            else:
                return None
            layout.append((at, value_at - at, field, width))
            at = value_at + width
    except IndexError:
        return None
    return layout if at == len(template) else None


def fixed_fields(payloads: Sequence[bytes], message_class: Any) -> dict[str, np.ndarray]:
    """The scalar fields of many serialized flat messages of `message_class` (e.g. WOMD's
    `ObjectState`, `MapPoint`) as columns (N,) float64, decoded in bulk: messages of one byte length
    whose tag bytes all equal the first one's fixed-width layout are read as one numpy view; any
    other message is decoded by `message_class.FromString`, so the result always equals protobuf's
    own decoding (unset fields 0). Raises google.protobuf's DecodeError for a message that does not
    parse."""
    descriptor = message_class.DESCRIPTOR
    numbers = {
        field.number: field for field in descriptor.fields if field.type in (*_FIXED_DTYPES, *_SMALL_VARINTS)
    }
    columns = {field.name: np.zeros(len(payloads)) for field in numbers.values()}
    if not payloads:
        return columns
    lengths = np.fromiter(map(len, payloads), dtype=np.int64, count=len(payloads))
    slow: list[int] = []
    for length in np.unique(lengths).tolist():
        rows = np.flatnonzero(lengths == length)
        layout = _layout(payloads[int(rows[0])], numbers) if length else []
        if layout is None:
            slow.extend(rows.tolist())
            continue
        # one copy of the group's bytes (no index arrays: memory stays about the payloads' size)
        joined = b"".join([payloads[row] for row in rows.tolist()])
        block = np.frombuffer(joined, dtype=np.uint8).reshape(len(rows), length)
        template = block[0]
        same = np.ones(len(rows), dtype=bool)
        for at, size, _, width in layout:
            same &= (block[:, at : at + size] == template[at : at + size]).all(axis=1)
            if width == 1:
                same &= block[:, at + size] < 0x80
        slow.extend(rows[~same].tolist())
        block, rows = block[same], rows[same]
        for at, size, field, width in layout:  # a repeated scalar field: the last one wins, as in protobuf
            if field is None:
                continue
            raw = np.ascontiguousarray(block[:, at + size : at + size + width])
            dtype = _FIXED_DTYPES.get(field.type, "u1")
            columns[field.name][rows] = raw.view(dtype)[:, 0]
    for row in slow:
        message = message_class.FromString(payloads[row])
        for field in numbers.values():
            columns[field.name][row] = float(getattr(message, field.name))
    return columns
