"""OTLP/JSON, one export request per line: the shape the Collector's file exporter writes.

The OTLP specification's JSON mapping differs from protobuf's canonical JSON in
one way that matters: trace and span ids are hex strings, not base64. Otherwise
it is protobuf JSON with lowerCamelCase field names, enums as integers and 64-bit
integers as strings. Writing and reading live together here so the two
directions cannot drift apart; readers also accept base64 ids, which some
producers (protobuf's own JSON printer, older tools) emit.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

M = TypeVar("M", bound=Message)

# Fields holding trace/span ids anywhere in traces, metrics (exemplars) and logs.
_ID_FIELDS = frozenset({
    "traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id",
})  # fmt: skip
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _convert_ids(node: Any, convert: Callable[[str], str]) -> Any:
    """Apply ``convert`` to every id field in a JSON tree, in place; returns the tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                node[key] = convert(value)
            else:
                _convert_ids(value, convert)
    elif isinstance(node, list):
        for item in node:
            _convert_ids(item, convert)
    return node


def _base64_to_hex(value: str) -> str:
    return base64.b64decode(value).hex()


def _id_to_base64(value: str) -> str:
    """Hex ids (16 or 32 hex digits) become base64 for protobuf's parser; base64 passes through.

    The lengths cannot collide: base64 of 8 or 16 bytes is 12 or 24 characters.
    """
    if len(value) in (16, 32) and _HEX_DIGITS.issuperset(value):
        return base64.b64encode(binascii.unhexlify(value)).decode("ascii")
    return value


def to_json_line(message: Message) -> str:
    """One compact OTLP/JSON line (with the trailing newline) for an export request."""
    tree = json_format.MessageToDict(message, use_integers_for_enums=True)
    return json.dumps(_convert_ids(tree, _base64_to_hex), separators=(",", ":")) + "\n"


def parse_json_line(line: str | bytes, message_type: type[M]) -> M:
    """Parse one OTLP/JSON line (hex or base64 ids) into ``message_type``."""
    tree = _convert_ids(json.loads(line), _id_to_base64)
    return json_format.ParseDict(tree, message_type(), ignore_unknown_fields=True)
