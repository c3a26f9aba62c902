"""Where each span lies in a serialized ``ExportTraceServiceRequest``: a walk over the
protobuf wire format down to the spans, reading only tags and lengths (no values), so a
caller can look at one span's bytes without reading its attributes one by one (in Python
each attribute read costs a wrapper object; a bytes search over the span's slice does not).

Repeated fields keep their wire order when decoded, so the n-th slice is the n-th span of
the decoded request (resource spans, then scope spans, then spans). Anything unexpected
(a group, a truncated length) gives None: the caller reads the decoded spans instead.
"""

from __future__ import annotations

from bisect import bisect_right

_LEN = 2  # wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32
_FIXED = {1: 8, 5: 4}
# field numbers: ExportTraceServiceRequest.resource_spans, ResourceSpans.scope_spans, ScopeSpans.spans
_PATH = (1, 2, 2)


def span_slices(raw: bytes) -> list[tuple[int, int]] | None:
    """(start, end) of every span's bytes in ``raw``, in decoded order; None if ``raw`` is not
    the plain wire format this walk knows."""
    slices: list[tuple[int, int]] = []
    try:
        _walk(raw, 0, len(raw), 0, slices)
    except (IndexError, ValueError):
        return None
    return slices


def _walk(raw: bytes, pos: int, end: int, depth: int, slices: list[tuple[int, int]]) -> None:
    wanted = _PATH[depth]
    while pos < end:
        tag, pos = _varint(raw, pos)
        kind = tag & 7
        if kind == _LEN:
            length, pos = _varint(raw, pos)
            inner = pos + length
            if inner > end:
                raise ValueError("length beyond the message")
            if tag >> 3 == wanted:
                if depth == len(_PATH) - 1:
                    slices.append((pos, inner))
                else:
                    _walk(raw, pos, inner, depth + 1, slices)
            pos = inner
        elif kind == 0:
            _, pos = _varint(raw, pos)
        elif kind in _FIXED:
            pos += _FIXED[kind]
        else:
            raise ValueError(f"wire type {kind}")
    if pos != end:
        raise ValueError("field beyond the message")


def _varint(raw: bytes, pos: int) -> tuple[int, int]:
    byte = raw[pos]
    if byte < 0x80:  # nearly every tag, and lengths below 128
        return byte, pos + 1
    value = shift = 0
    while True:
        byte = raw[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def spans_holding(raw: bytes, needles: tuple[bytes, ...]) -> list[bool] | None:
    """Per span of ``raw`` (decoded order): whether its bytes hold one of ``needles``; None when
    :func:`span_slices` cannot walk it. One bytes search per needle and per span that holds it."""
    slices = span_slices(raw)
    if slices is None:
        return None
    starts = [start for start, _ in slices]
    found = [False] * len(slices)
    for needle in needles:
        at = raw.find(needle)
        while at >= 0:
            index = bisect_right(starts, at) - 1
            if index >= 0 and at < slices[index][1]:
                found[index] = True
                at = raw.find(needle, slices[index][1])  # the span is marked: on to the next one
            else:
                at = raw.find(needle, at + 1)  # outside every span (a resource's attributes)
    return found
