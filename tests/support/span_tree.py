"""Finished spans as a tree: look spans up by name or operation and follow parent links."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan

from spanmeter import semconv


class SpanTree:
    """Spans in start order, with parent lookup by span id (a parent outside the set is None)."""

    def __init__(self, spans: Sequence[ReadableSpan]) -> None:
        self.spans = sorted(spans, key=lambda span: span.start_time)
        self._by_id = {span.context.span_id: span for span in self.spans}

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans if span.name == name]

    def one(self, name: str) -> ReadableSpan:
        spans = self.named(name)
        assert len(spans) == 1, (name, [span.name for span in self.spans])
        return spans[0]

    def operation(self, operation: str) -> list[ReadableSpan]:
        return [span for span in self.spans if span.attributes.get(semconv.GEN_AI_OPERATION_NAME) == operation]

    def parent(self, span: ReadableSpan) -> ReadableSpan | None:
        return self._by_id.get(span.parent.span_id) if span.parent is not None else None

    def children(self, span: ReadableSpan) -> list[ReadableSpan]:
        return [child for child in self.spans if self.parent(child) is span]
