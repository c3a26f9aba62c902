"""OTLP/JSON, one export request per line: the shape the Collector's file exporter writes.

The OTLP specification's JSON mapping differs from protobuf's canonical JSON in one
way that matters: trace and span ids are hex strings, not base64. Writing SDK data goes
through the OpenTelemetry project's own encoder (``opentelemetry-exporter-otlp-json-common``),
which produces that mapping directly. Reading yields protobuf export requests (what
``spanmeter report`` and OTLP receivers work on), through protobuf's JSON parser after
turning hex ids into the base64 it expects; readers also accept base64 ids, which some
producers (protobuf's own JSON printer, older tools) emit. ``opentelemetry-proto-json``'s
parser is not used there: it yields its own message classes, not protobuf's, and rejects
base64 ids. :func:`to_json_line` writes a protobuf request (one already decoded) the same way.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.exporter.otlp.json.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.json.common.trace_encoder import encode_spans
from opentelemetry.sdk.metrics.export import MetricsData
from opentelemetry.sdk.trace import ReadableSpan

M = TypeVar("M", bound=Message)

# Fields holding trace/span ids anywhere in traces, metrics (exemplars) and logs.
_ID_FIELDS = frozenset({
    "traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id",
})  # fmt: skip
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_COMPACT = {"separators": (",", ":")}


def spans_line(spans: Sequence[ReadableSpan]) -> str:
    """One OTLP/JSON line (with the trailing newline): an ExportTraceServiceRequest of ``spans``."""
    return json.dumps(encode_spans(spans).to_dict(), **_COMPACT) + "\n"


def metrics_line(data: MetricsData) -> str:
    """One OTLP/JSON line (with the trailing newline): an ExportMetricsServiceRequest of ``data``."""
    return json.dumps(encode_metrics(data).to_dict(), **_COMPACT) + "\n"


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
    """One compact OTLP/JSON line (with the trailing newline) for a protobuf export request."""
    tree = json_format.MessageToDict(message, use_integers_for_enums=True)
    return json.dumps(_convert_ids(tree, _base64_to_hex), **_COMPACT) + "\n"


def parse_json_line(line: str | bytes, message_type: type[M]) -> M:
    """Parse one OTLP/JSON line (hex or base64 ids) into the protobuf ``message_type``."""
    tree = _convert_ids(json.loads(line), _id_to_base64)
    return json_format.ParseDict(tree, message_type(), ignore_unknown_fields=True)
