"""Spans from Jaeger v2's query API: ``GET /api/v3/traces`` (api_v3 over grpc-gateway).

The answer is OTLP/JSON: one ``{"result": {"resourceSpans": [...]}}`` document per chunk
of the server-side stream, written back to back, so documents are decoded as they
arrive and never held all at once. No trace in the window is answered with an
``{"error": {"httpCode": 404, ...}}`` document (gRPC NOT_FOUND): an empty result, not a failure.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

from spanmeter.otlp.json_codec import MalformedJSON
from spanmeter.report.reader import SpanRecord, spans_of_json

TRACES_PATH = "/api/v3/traces"
DEFAULT_SEARCH_DEPTH = 1000
_CHUNK = 1 << 16
_NOT_FOUND = 5  # gRPC status code


class JaegerError(Exception):
    """The query failed: the message says what Jaeger (or the network) answered."""


def _rfc3339(unix_nano: int) -> str:
    return datetime.fromtimestamp(unix_nano / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def traces_url(base_url: str, service: str, start_ns: int, end_ns: int, search_depth: int) -> str:
    query = urllib.parse.urlencode({
        "query.service_name": service,
        "query.start_time_min": _rfc3339(start_ns),
        "query.start_time_max": _rfc3339(end_ns),
        "query.search_depth": search_depth,
    })  # fmt: skip
    return base_url.rstrip("/") + TRACES_PATH + "?" + query


def _documents(stream) -> Iterator[dict]:
    """JSON documents written back to back (whitespace between them allowed)."""
    decoder, buffer = json.JSONDecoder(), ""
    while True:
        chunk = stream.read(_CHUNK)
        buffer += chunk.decode("utf-8") if chunk else ""
        while True:
            buffer = buffer.lstrip()
            if not buffer:
                break
            try:
                document, end = decoder.raw_decode(buffer)
            except json.JSONDecodeError:
                if not chunk:
                    raise JaegerError(f"the answer ends inside a JSON document: {buffer[:200]!r}") from None
                break  # wait for more bytes
            buffer = buffer[end:]
            yield document
        if not chunk:
            return


def _batches(stream) -> Iterator[list[SpanRecord]]:
    for document in _documents(stream):
        error = document.get("error") if isinstance(document, dict) else None
        if error:
            if error.get("grpcCode") == _NOT_FOUND or error.get("httpCode") == 404:
                return
            raise JaegerError(f"Jaeger answered an error: {error.get('message', error)}")
        result = document.get("result") if isinstance(document, dict) else None
        if result is None:
            raise JaegerError(f"not an api_v3 traces answer: {json.dumps(document)[:200]}")
        try:
            yield spans_of_json(result)
        except MalformedJSON as exc:
            raise JaegerError(f"not OTLP/JSON spans in the answer ({exc})") from None


def read_jaeger(
    base_url: str,
    service: str,
    start_ns: int,
    end_ns: int,
    search_depth: int = DEFAULT_SEARCH_DEPTH,
    timeout_s: float = 60.0,
) -> Iterator[list[SpanRecord]]:
    """The spans of the traces of ``service`` that started in [start, end], a batch per streamed document."""
    url = traces_url(base_url, service, start_ns, end_ns, search_depth)
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:  # no trace in the window
            return
        raise JaegerError(f"{url}: HTTP {exc.code} {exc.reason}: {exc.read()[:300]!r}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise JaegerError(f"{url}: {getattr(exc, 'reason', exc)}") from None
    with response:
        yield from _batches(response)
