"""Hardened loading of untrusted XML files (plain or gzip) and typed extraction of their values.

Every failure is an `InputError` naming the file, the element and what was expected. Loading
refuses any document type declaration (the door to XXE and entity-expansion bombs), never touches
the network, bounds the file size and the decompressed size (`ReaderLimits.max_bytes`), and counts
the document's tags on its bytes before parsing (`ReaderLimits.max_elements`; only documents too long
to be within it by size alone): a tree costs ~130 bytes per element, so 80 MB of `<a/>` would
otherwise take 2.7 GB. The count is exact for the
encodings whose '<' and '/' it can see (ASCII-compatible ones, UTF-16 and UTF-32); documents declaring
any other encoding (UTF-7 spells '<' as `+ADw-`) are refused. Numbers can be bounded (`Bound`) so
physically absurd values are refused with the element that holds them.
"""

from __future__ import annotations

import codecs
import re
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
from lxml import etree
from numpy.typing import NDArray

from drivestack.core.errors import InputError
from drivestack.core.limits import DEFAULT_READER_LIMITS, Bound, ReaderLimits

GZIP_MAGIC = b"\x1f\x8b"
PEEK_BYTES = 64 * 1024
"""Decompressed bytes `peek_root` looks at to find the root element."""
_PEEK_CHUNK = 1024

_UTF8_BOM = b"\xef\xbb\xbf"
_WIDE_ENCODINGS = (  # (first bytes, codec), UTF-32 before UTF-16: their byte order marks overlap
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
)
_PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_blank_text": True,
    "remove_comments": True,
    "remove_pis": True,
    "collect_ids": False,
}
_PARSER = etree.XMLParser(**_PARSER_OPTIONS)
_INT64_MIN, _INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)
_CODE_UNITS = {"utf-32-be": ">u4", "utf-32-le": "<u4", "utf-16-be": ">u2", "utf-16-le": "<u2"}
_DECLARED_ENCODING = re.compile(rb"^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?\sencoding\s*=\s*[\"']([^\"']*)[\"']")
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))
_TAG_COUNT_CHUNK = 1 << 22
"""Code units `count_tags` inspects at a time (bounds its temporary arrays to a few tens of MB)."""
_MIN_ELEMENT_BYTES = 4
"""The fewest bytes an element takes in any encoding (`<a/>`): a document of N bytes has at most N / 4
elements, so only documents longer than 4 x `max_elements` bytes need counting."""


class Texts:
    """A compiled XPath selecting text nodes; called on an element it gives plain `str`s in document order."""

    def __init__(self, expression: str) -> None:
        self._xpath = etree.XPath(expression, smart_strings=False)

    def __call__(self, node: etree._Element) -> list[str]:
        return cast(list[str], self._xpath(node))


class Count:
    """A compiled XPath counting the elements `expression` selects under an element."""

    def __init__(self, expression: str) -> None:
        self._xpath = etree.XPath(f"count({expression})")

    def __call__(self, node: etree._Element) -> int:
        return int(cast(float, self._xpath(node)))


def read_bytes(path: Path, max_bytes: int = DEFAULT_READER_LIMITS.max_bytes) -> bytes:
    """The document's bytes, gunzipped when the file is gzip (by magic number), at most `max_bytes`."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(path, None, f"file is {size} bytes, more than the limit of {max_bytes} bytes")
        with path.open("rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as error:
        raise InputError(path, None, f"cannot be read ({error.strerror or error})") from error
    return gunzip(path, raw, max_bytes) if raw.startswith(GZIP_MAGIC) else raw


def gunzip(path: Path, raw: bytes, max_bytes: int = DEFAULT_READER_LIMITS.max_bytes) -> bytes:
    """Decompress every gzip member of `raw`, refusing output beyond `max_bytes` and truncated streams."""
    parts: list[bytes] = []
    total = 0
    rest = raw
    while rest:
        stream = zlib.decompressobj(wbits=31)
        try:
            part = stream.decompress(rest, max_bytes - total + 1)
        except zlib.error as error:
            raise InputError(path, "gzip stream", f"corrupt gzip data ({error})") from error
        total += len(part)
        if total > max_bytes:
            raise InputError(path, "gzip stream", f"decompresses to more than the limit of {max_bytes} bytes")
        if not stream.eof:
            raise InputError(
                path, "gzip stream", "truncated gzip data (the stream ends before its end marker)"
            )
        parts.append(part)
        rest = stream.unused_data
        if rest and not rest.startswith(GZIP_MAGIC):
            if rest.strip(b"\x00"):
                raise InputError(path, "gzip stream", "unexpected bytes after the end of the gzip data")
            break
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _ascii_prolog(data: bytes) -> bytes:
    """The start of `data` in an ASCII-compatible encoding (UTF-16 / UTF-32 documents are transcoded)."""
    for mark, codec in _WIDE_ENCODINGS:
        if data.startswith(mark):
            return data[:PEEK_BYTES].decode(codec, errors="replace").encode("utf-8", errors="replace")
    return data


def _reject_doctype(path: Path, data: bytes) -> None:
    """Refuse a document type declaration in the prolog before the parser ever sees it."""
    data = _ascii_prolog(data)
    position = len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0
    end = len(data)
    while position < end:
        while position < end and data[position] in b" \t\r\n":
            position += 1
        if data.startswith(b"<?", position):
            close = data.find(b"?>", position)
            position = end if close < 0 else close + 2
        elif data.startswith(b"<!--", position):
            close = data.find(b"-->", position)
            position = end if close < 0 else close + 3
        elif data[position : position + 9].upper() == b"<!DOCTYPE":
            raise InputError(
                path, "DOCTYPE", "document type declarations are not allowed (expected plain XML)"
            )
        else:
            return


def parse(path: Path, data: bytes) -> etree._Element:
    """Parse `data` (from `path`) without DTDs, entities or network access; returns the root element."""
    _reject_doctype(path, data)
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as error:
        where = f"line {error.lineno}" if error.lineno else None
        message = " ".join(str(error.msg).split())  # libxml2 ends some messages with a newline
        raise InputError(path, where, f"malformed XML ({message})") from error
    if root is None:
        raise InputError(path, None, "empty document (expected an XML root element)")
    docinfo: Any = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise InputError(path, "DOCTYPE", "document type declarations are not allowed (expected plain XML)")
    return root


def code_unit(path: Path, data: bytes) -> str:
    """The numpy dtype of the code units the parser will decode `data` in ("u1" for ASCII-compatible).

    Refuses a declared encoding that is not ASCII-compatible (or unknown to Python), whose '<' a byte
    count could miss.
    """
    for mark, codec in _WIDE_ENCODINGS:
        if data.startswith(mark):
            return _CODE_UNITS[codec]
    declared = _DECLARED_ENCODING.match(data[:512])
    if declared is not None:
        name = declared.group(1).decode("ascii", errors="replace")
        try:
            transparent = _PRINTABLE_ASCII.decode(codecs.lookup(name).name) == _PRINTABLE_ASCII.decode()
        except (LookupError, UnicodeDecodeError):
            transparent = False
        if not transparent:
            expected = "expected UTF-8, UTF-16, UTF-32 or an ASCII-compatible encoding"
            raise InputError(path, "encoding", f"unsupported encoding {name!r} ({expected})")
    return "u1"


def count_tags(data: bytes, unit: str, limit: int) -> int:
    """The number of '<' not followed by '/' in `data` of code units `unit` (start tags, comments,
    processing instructions: an upper bound on its elements), counted up to the first chunk that
    passes `limit`.

    Costs about 0.3 ms per MB and never more than a few tens of MB of temporary memory.
    """
    codes = np.frombuffer(data, dtype=unit, count=len(data) // np.dtype(unit).itemsize)
    total = 0
    for start in range(0, len(codes), _TAG_COUNT_CHUNK):
        window = codes[start : start + _TAG_COUNT_CHUNK + 1]  # one unit more: what follows the last '<'
        opening = np.flatnonzero(window[:_TAG_COUNT_CHUNK] == ord("<")) + 1
        closing = np.count_nonzero(window[opening[opening < len(window)]] == ord("/"))
        total += len(opening) - int(closing)
        if total > limit:
            break
    return total


def load(path: Path, limits: ReaderLimits = DEFAULT_READER_LIMITS) -> etree._Element:
    """Read, gunzip and parse the XML file at `path` within `limits` (bytes, elements); the root element."""
    data = read_bytes(path, limits.max_bytes)
    unit = code_unit(path, data)
    too_long = len(data) > _MIN_ELEMENT_BYTES * limits.max_elements
    if too_long and count_tags(data, unit, limits.max_elements) > limits.max_elements:
        raise InputError(
            path, None, f"more than {limits.max_elements} XML elements (limit ReaderLimits.max_elements)"
        )
    return parse(path, data)


def peek_root(path: Path) -> tuple[str, dict[str, str]] | None:
    """The root element's tag and attributes from the first `PEEK_BYTES` of the document, or None.

    Cheap (decompresses and parses only up to the root's start tag) and never raises: None means the
    root could not be found there.
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(PEEK_BYTES)
        if head.startswith(GZIP_MAGIC):
            head = zlib.decompressobj(wbits=31).decompress(head, PEEK_BYTES)
        _reject_doctype(path, head)
        parser = etree.XMLPullParser(events=("start",), **_PARSER_OPTIONS)
        for offset in range(0, len(head), _PEEK_CHUNK):
            parser.feed(head[offset : offset + _PEEK_CHUNK])
            for _, element in parser.read_events():
                root = cast(etree._Element, element)
                return str(root.tag), {str(key): str(value) for key, value in root.attrib.items()}
    except (OSError, zlib.error, etree.XMLSyntaxError, InputError):
        return None
    return None


class Reader:
    """Typed access to one document's values; every failure names `path`, the element and the expectation."""

    def __init__(self, path: Path, limits: ReaderLimits = DEFAULT_READER_LIMITS) -> None:
        self.path = path
        self.limits = limits

    def error(self, element: str | None, problem: str) -> InputError:
        """An `InputError` for this file."""
        return InputError(self.path, element, problem)

    def child(self, parent: etree._Element, tag: str, element: str) -> etree._Element:
        """The single required child `tag` of `parent` (`element` locates `parent` in messages)."""
        found = parent.findall(tag)
        if len(found) != 1:
            problem = "is missing" if not found else f"appears {len(found)} times (expected once)"
            raise self.error(f"{element} / {tag}", f"required element {problem}")
        return found[0]

    def optional(self, parent: etree._Element, tag: str, element: str) -> etree._Element | None:
        """The child `tag` of `parent` if present (at most once), else None."""
        found = parent.findall(tag)
        if len(found) > 1:
            raise self.error(f"{element} / {tag}", f"appears {len(found)} times (expected at most once)")
        return found[0] if found else None

    def text(self, parent: etree._Element, tag: str, element: str) -> str:
        """The stripped, non-empty text of the required child `tag`."""
        value = (self.child(parent, tag, element).text or "").strip()
        if not value:
            raise self.error(f"{element} / {tag}", "is empty (expected a value)")
        return value

    def attribute(self, node: etree._Element, name: str, element: str) -> str:
        """The required attribute `name` of `node`."""
        value = node.get(name)
        if value is None or not value.strip():
            raise self.error(element, f"attribute '{name}' is missing (expected a value)")
        return value.strip()

    def number(self, text: str | None, element: str, bound: Bound | None = None) -> float:
        """`text` as a finite float (within `bound` when given)."""
        try:
            value = float(text)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise self.error(element, f"expected a number, got {_quote(text)}") from None
        if not np.isfinite(value):
            raise self.error(element, f"expected a finite number, got {_quote(text)}")
        if bound is not None and not abs(value) <= bound.limit:
            raise self.error(element, bound.describe(_quote(text)))
        return value

    def integer(self, text: str | None, element: str) -> int:
        """`text` as a 64-bit integer (no fraction, no exponent)."""
        try:
            value = int(text)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            value = None
        if value is None or not _INT64_MIN <= value <= _INT64_MAX:
            raise self.error(element, f"expected an integer (64-bit), got {_quote(text)}")
        return value

    def number_of(self, parent: etree._Element, tag: str, element: str, bound: Bound | None = None) -> float:
        """The required child `tag` of `parent` as a finite float (within `bound` when given)."""
        return self.number(self.text(parent, tag, element), f"{element} / {tag}", bound)

    def integer_of(self, parent: etree._Element, tag: str, element: str) -> int:
        """The required child `tag` of `parent` as an integer."""
        return self.integer(self.text(parent, tag, element), f"{element} / {tag}")

    def numbers(
        self, texts: Sequence[str], element_of: Callable[[int], str], bound: Bound | None = None
    ) -> NDArray[np.float64]:
        """`texts` as a (N,) float64 array of finite numbers (within `bound` when given); `element_of(i)`
        locates entry i in messages."""
        try:
            values = np.array(texts, dtype=np.float64)
        except ValueError:
            bad = next(i for i, text in enumerate(texts) if not _is_float(text))
            raise self.error(element_of(bad), f"expected a number, got {_quote(texts[bad])}") from None
        magnitude = np.abs(values)
        inside = magnitude < np.inf if bound is None else magnitude <= bound.limit  # NaN: False
        if not inside.all():
            bad = int(np.argmin(inside))
            text = _quote(texts[bad])
            if bound is None or not np.isfinite(values[bad]):
                raise self.error(element_of(bad), f"expected a finite number, got {text}")
            raise self.error(element_of(bad), bound.describe(text))
        return values

    def integers(self, texts: Sequence[str], element_of: Callable[[int], str]) -> NDArray[np.int64]:
        """`texts` as a (N,) int64 array; `element_of(i)` locates entry i in messages."""
        try:
            return np.array([int(text) for text in texts], dtype=np.int64)
        except (ValueError, OverflowError):
            bad = next(i for i, text in enumerate(texts) if not _is_int(text))
            raise self.error(
                element_of(bad), f"expected an integer (64-bit), got {_quote(texts[bad])}"
            ) from None


def _quote(text: str | None) -> str:
    """`text` quoted for a message, shortened when long."""
    if text is None:
        return "nothing"
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_int(text: str) -> bool:
    """True when `text` is an integer that fits 64 bits."""
    try:
        value = int(text)
    except ValueError:
        return False
    return _INT64_MIN <= value <= _INT64_MAX
