"""Protobuf message classes from a `.proto` file shipped in the package, built at runtime (no protoc).

The project writes the message layouts it reads as plain `.proto` text (the field numbers and types
a format publishes). `message_classes` parses the small proto2 subset those files use (flat
`message` blocks of `optional`/`repeated` scalar or message fields, `[packed = true]`, `//`
comments), builds a `FileDescriptorProto` in a private descriptor pool and returns the classes the
`protobuf` package generates from it. No generated code is committed and nothing else is accepted.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

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
