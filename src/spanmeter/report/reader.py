"""Read OTLP/JSON-lines files (``spanmeter_file``'s or the Collector file exporter's) back.

``read_trace_requests`` / ``read_metric_requests`` give the protobuf export requests,
line by line; ``read_spans`` flattens traces into :class:`SpanRecord`, plain Python
values that the report (and anyone scripting over the files) can use directly.

Every line goes through the one tolerant OTLP/JSON decoder (:mod:`spanmeter.otlp.json_codec`:
hex or base64 ids, camelCase or snake_case keys, enums as numbers or names). ``read_spans``
uses its read-only walk (:func:`spans_of_json`), which builds no protobuf messages: what
makes reports over millions of spans fast (``tests/bench/bench_otlp_json.py`` prints it
beside the other ways to read a line).

Files may be gzip-compressed (``.gz``, or any file starting with gzip's magic bytes).
A line that is not an OTLP/JSON export request — e.g. the last line of a file whose
writer was killed mid-write — raises ValueError naming ``file:line``, or, given
``on_problem``, is reported there and skipped so the rest of the file still counts.
"""

from __future__ import annotations

import dataclasses
import glob
import gzip
import os
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, TypeVar

from google.protobuf.message import Message
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from spanmeter.otlp import anyvalue, json_codec

M = TypeVar("M", bound=Message)
T = TypeVar("T")
OnProblem = Callable[[str], None]
_GZIP_MAGIC = b"\x1f\x8b"


def open_text(path: str | os.PathLike[str]) -> IO[str]:
    """A text reader of ``path``, decompressing gzip transparently."""
    with open(path, "rb") as probe:
        compressed = probe.read(2) == _GZIP_MAGIC
    if compressed:
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def expand_paths(patterns: Iterable[str]) -> list[str]:
    """Files named by ``patterns`` (paths or globs), in the given order, each once.

    Raises FileNotFoundError naming a pattern that matches nothing.
    """
    paths: list[str] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        matches = [match for match in matches if os.path.isfile(match)]
        if not matches:
            raise FileNotFoundError(f"{pattern}: no such file")
        paths.extend(match for match in matches if match not in paths)
    return paths


def _read_lines(
    path: str | os.PathLike[str], decode: Callable[[str], T], what: str, on_problem: OnProblem | None
) -> Iterator[T]:
    """``decode`` of each non-blank line; a line it rejects raises, or goes to ``on_problem`` and is skipped."""
    where, number = os.fspath(path), 0
    try:
        with open_text(path) as file:
            for number, line in enumerate(file, 1):
                if not line.strip():
                    continue
                try:
                    decoded = decode(line)
                except json_codec.MalformedJSON as exc:
                    cut = "" if line.endswith("\n") else ", truncated: the file ends inside this line"
                    message = f"{where}:{number}: not an OTLP/JSON {what} ({exc}{cut})"
                    if on_problem is None:
                        raise ValueError(message) from None
                    on_problem(message + "; skipped")
                    continue
                yield decoded
    except (EOFError, gzip.BadGzipFile) as exc:  # a compressed file cut short
        message = f"{where}:{number + 1}: compressed data ends early ({exc})"
        if on_problem is None:
            raise ValueError(message) from None
        on_problem(message + "; the rest of the file is skipped")


def _read_requests(path: str | os.PathLike[str], message_type: type[M], on_problem: OnProblem | None) -> Iterator[M]:
    return _read_lines(path, lambda line: json_codec.decode(line, message_type), message_type.__name__, on_problem)


def read_trace_requests(
    path: str | os.PathLike[str], on_problem: OnProblem | None = None
) -> Iterator[ExportTraceServiceRequest]:
    """Each line of a traces file as an ExportTraceServiceRequest (hex or base64 ids)."""
    return _read_requests(path, ExportTraceServiceRequest, on_problem)


def read_metric_requests(
    path: str | os.PathLike[str], on_problem: OnProblem | None = None
) -> Iterator[ExportMetricsServiceRequest]:
    """Each line of a metrics file as an ExportMetricsServiceRequest."""
    return _read_requests(path, ExportMetricsServiceRequest, on_problem)


def attributes(key_values: Iterable[KeyValue]) -> dict[str, Any]:
    """OTLP attributes as a plain dict (arrays become lists)."""
    return anyvalue.attributes(key_values, list)


@dataclasses.dataclass(frozen=True)
class SpanRecord:
    """One span from a traces file, in plain Python values."""

    trace_id: str  # hex
    span_id: str  # hex
    parent_span_id: str  # hex, "" for a root span
    name: str
    start_unix_nano: int
    end_unix_nano: int
    is_error: bool
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope: str

    @property
    def duration_ms(self) -> float:
        return (self.end_unix_nano - self.start_unix_nano) / 1e6

    @property
    def duration_s(self) -> float:
        return (self.end_unix_nano - self.start_unix_nano) / 1e9


def spans_of(request: ExportTraceServiceRequest) -> Iterator[SpanRecord]:
    """Every span of one export request, in order."""
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield SpanRecord(
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_span_id=span.parent_span_id.hex(),
                    name=span.name,
                    start_unix_nano=span.start_time_unix_nano,
                    end_unix_nano=span.end_time_unix_nano,
                    is_error=span.status.code == Status.STATUS_CODE_ERROR,
                    attributes=attributes(span.attributes),
                    resource=resource,
                    scope=scope_spans.scope.name,
                )


def spans_of_json(tree: str | bytes | dict[str, Any]) -> list[SpanRecord]:
    """Every span of one OTLP/JSON ExportTraceServiceRequest (its text or parsed tree), in order;
    :class:`~spanmeter.otlp.json_codec.MalformedJSON` on a wrong shape."""
    return json_codec.flat_spans(tree, SpanRecord, list)


def read_span_batches(path: str | os.PathLike[str], on_problem: OnProblem | None = None) -> Iterator[list[SpanRecord]]:
    """The spans of each line of a traces file: a malformed line is skipped whole, never half-read."""
    return _read_lines(path, spans_of_json, "ExportTraceServiceRequest", on_problem)


def read_spans(path: str | os.PathLike[str], on_problem: OnProblem | None = None) -> Iterator[SpanRecord]:
    """Every span in a traces file, in file order."""
    for batch in read_span_batches(path, on_problem):
        yield from batch
