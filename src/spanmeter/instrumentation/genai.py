"""GenAI client spans shared by the LLM SDK instrumentors (openai, anthropic).

A provider module supplies two small functions per wrapped method: ``describe``
(instance, kwargs) -> ``(operation, request_model, request_attributes)`` and
``handle_result`` (call, result) -> result, which sets response attributes and may
return a :class:`SyncStreamProxy` / :class:`AsyncStreamProxy` around a stream.
:func:`sync_wrapper` / :func:`async_wrapper` turn them into wrapt wrappers; everything
else (span lifecycle, errors, content capture, streaming end paths, the enrich rule
and the fault guard) lives here, once.

Guarantees the wrappers keep:

* The app comes first: the wrapped call's arguments, return value and exceptions pass
  through untouched; any fault in spanmeter's bookkeeping (including a span processor
  that raises) is swallowed and counted by the instrumentor's :class:`guard` and the call goes on.
* One span per call: a span ends exactly once (:class:`GenAICall`), whichever way a
  stream ends, and wrappers left behind by ``uninstrument()`` do nothing
  (:attr:`GenAITelemetry.active`).
* Enrich, don't duplicate: with ``genai_span_mode == "enrich"`` (the default), when the
  current span is another producer's GenAI CLIENT span for the same operation and
  model (e.g. the anthropic SDK's own span), spanmeter sets its attributes on that span
  instead of starting a second one (:func:`enrichable_span`). ``separate`` always starts
  spanmeter's own span.
* One price per LLM call under a framework: an SDK call made right under a framework's
  model span (:class:`FrameworkLLMCall`, e.g. LangChain's) claims it; in ``enrich`` mode
  that span is the call's span, in ``separate`` the SDK's own span carries the usage and
  the framework span none.
* Content (``gen_ai.input.messages`` / ``gen_ai.output.messages``) is captured only when
  ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` is ``true`` or a mode that
  includes spans, as JSON truncated to ``Settings.content_max_chars``.
* Cheap: request attributes are given to ``start_span`` only when the sampler might read
  them (:func:`samples_without_attributes`); otherwise they go on with the response
  attributes in one ``set_attributes`` at the end. Streams are observed per chunk by a
  generator, not a ``__next__`` call.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from spanmeter import rules, sdk_internals, semconv
from spanmeter.internal_errors import guard
from spanmeter.settings import Settings
from spanmeter.version import __version__

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_CAPTURE_ON_SPANS = frozenset({"true", "span_only", "span_and_event"})

Attributes = dict[str, Any]
Describe = Callable[[Any, Mapping[str, Any]], tuple[str, str | None, Attributes]]
"""(instance, kwargs) -> (operation, request model, request attributes incl. operation/provider/model)."""
HandleResult = Callable[["GenAICall", Any], Any]
"""(call, result) -> the result to return (the same object, or a stream proxy around it)."""


def capture_content_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """Whether message content goes on spans: ``true`` or a mode naming spans (SPAN_ONLY, SPAN_AND_EVENT)."""
    environ = os.environ if environ is None else environ
    return environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() in _CAPTURE_ON_SPANS


def content_json(value: Any, max_chars: int) -> str:
    """Compact JSON of captured content, cut to ``max_chars`` so one prompt cannot bloat a span."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= max_chars else text[:max_chars]


def content_text(value: Any, max_chars: int) -> str:
    """Captured tool arguments or results: text as it is (a model's JSON arguments, a tool's output), else JSON."""
    return value[:max_chars] if isinstance(value, str) else content_json(value, max_chars)


_SCALARS = (int, float, str)
_MAX_SERVER_CACHE = 256
_server_cache: dict[int, tuple[Any, dict[str, Any]]] = {}


def describe_request(
    operation: str, provider: str, resource: Any, kwargs: Mapping[str, Any], params: Mapping[str, str]
) -> tuple[str, str | None, Attributes]:
    """What a ``Describe`` returns for a call whose kwargs carry ``model`` and parameters named in ``params``.

    Operation, provider, server address/port of the client behind ``resource`` (e.g.
    ``client.chat.completions``) and request model, plus :func:`add_request_params`.
    """
    model = kwargs.get("model")
    model = model if isinstance(model, str) else None
    attributes = {
        semconv.GEN_AI_OPERATION_NAME: operation,
        semconv.GEN_AI_PROVIDER_NAME: provider,
        **server_attributes(resource),
    }
    if model is not None:
        attributes[semconv.GEN_AI_REQUEST_MODEL] = model
    add_request_params(attributes, kwargs, params)
    return operation, model, attributes


def add_request_params(attributes: Attributes, kwargs: Mapping[str, Any], names: Mapping[str, str]) -> None:
    """Copy request parameters named in ``names`` (kwarg -> attribute) that have usable values.

    Iterates the call's few kwargs rather than probing every known name; SDK sentinels
    (``omit``, ``NOT_GIVEN``), None and odd types are skipped, lists become string tuples.
    """
    for key, value in kwargs.items():
        name = names.get(key)
        if name is None:
            continue
        if isinstance(value, _SCALARS) and not isinstance(value, bool):
            attributes[name] = value
        elif isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
            attributes[name] = tuple(value)


def add_response_identity(attributes: Attributes, response: Any) -> None:
    """``gen_ai.response.id`` / ``.model`` from a response object's ``id`` / ``model`` (strings only)."""
    value = getattr(response, "id", None)
    if isinstance(value, str):
        attributes[semconv.GEN_AI_RESPONSE_ID] = value
    value = getattr(response, "model", None)
    if isinstance(value, str):
        attributes[semconv.GEN_AI_RESPONSE_MODEL] = value


def add_tool_calls(attributes: Attributes, calls: Iterable[tuple[Any, Any]]) -> None:
    """``spanmeter.tool_calls.names`` / ``.ids`` from ``(name, id)`` pairs (strings only)."""
    names, ids = [], []
    for name, call_id in calls:
        if isinstance(name, str):
            names.append(name)
        if isinstance(call_id, str):
            ids.append(call_id)
    if names:
        attributes[semconv.TOOL_CALL_NAMES] = names
    if ids:
        attributes[semconv.TOOL_CALL_IDS] = ids


def server_attributes(resource: Any) -> dict[str, Any]:
    """``server.address`` / ``server.port`` from the ``base_url`` of an SDK resource's client, cached per resource.

    The cache entry is checked against the client's current ``base_url`` object, so a
    changed URL (or a new resource reusing an id) is recomputed. Treat the dict as read-only.
    """
    url = sdk_internals.resource_base_url(resource)
    entry = _server_cache.get(id(resource))
    if entry is not None and entry[0] is url:
        return entry[1]
    attributes: dict[str, Any] = {}
    host = getattr(url, "host", None)
    if host:
        attributes[semconv.SERVER_ADDRESS] = host
        port = getattr(url, "port", None) or {"https": 443, "http": 80}.get(getattr(url, "scheme", ""))
        if port:
            attributes[semconv.SERVER_PORT] = port
    if len(_server_cache) >= _MAX_SERVER_CACHE:
        _server_cache.clear()
    _server_cache[id(resource)] = (url, attributes)
    return attributes


def enrichable_span(
    operation: str, request_model: str | None, context: otel_context.Context | None = None
) -> Span | None:
    """The current span (of ``context``, default: the current one) if it is another producer's
    recording GenAI CLIENT span for this call.

    "This call" means the same ``gen_ai.operation.name`` and (when both are known) the
    same ``gen_ai.request.model``; spanmeter's own spans never qualify.
    """
    span = trace.get_current_span(context)
    if not span.is_recording() or getattr(span, "kind", None) is not SpanKind.CLIENT:
        return None
    scope = getattr(span, "instrumentation_scope", None)
    if scope is None or scope.name == semconv.INSTRUMENTATION_SCOPE:
        return None
    attributes = getattr(span, "attributes", None) or {}
    if attributes.get(semconv.GEN_AI_OPERATION_NAME) != operation:
        return None
    model = attributes.get(semconv.GEN_AI_REQUEST_MODEL)
    if model is not None and request_model is not None and model != request_model:
        return None
    return span


_sampler_guard = guard("instrumentation.genai")


def samples_without_attributes(tracer: trace.Tracer) -> bool:
    """Whether ``tracer``'s sampler provably ignores span attributes (the SDK's built-in samplers).

    Only then may request attributes wait until the span ends: no sampling decision can
    differ. Unknown tracers and custom samplers get their attributes at start.
    """
    try:
        from opentelemetry.sdk.trace import sampling
    except ImportError:  # no SDK: attributes at start
        return False
    with _sampler_guard:  # a different SDK: attributes at start
        blind = (sampling.StaticSampler.should_sample, sampling.TraceIdRatioBased.should_sample)

        def ignores_attributes(sampler: Any) -> bool:
            method = getattr(type(sampler), "should_sample", None)
            if method is sampling.ParentBased.should_sample:
                return all(map(ignores_attributes, sdk_internals.parent_based_delegates(sampler)))
            return method in blind

        sampler = getattr(tracer, "sampler", None)
        return sampler is not None and ignores_attributes(sampler)
    return False


class GenAITelemetry:
    """What one instrumentor's wrappers share, read once per ``instrument()``.

    One instance lives as long as its instrumentor, so wrappers that outlive an
    ``uninstrument()`` (bound methods the SDK cached, e.g. in ``with_raw_response``)
    see ``active`` turn false and the configuration of any later ``instrument()``.
    """

    def __init__(self, component: str) -> None:
        self.component = component
        self.guard = guard(component)  # built once: every wrapper and stream of this instrumentor reuses it
        self.active = False
        self.tracer: trace.Tracer = trace.NoOpTracer()
        self.capture_content = False
        self.content_max_chars = Settings.load(environ={}).content_max_chars
        self.enrich = True
        self.defer_request_attributes = False

    def configure(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        settings: Settings | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """Bind the tracer and switches; bad ``SPANMETER_*`` values are counted and defaults used."""
        if settings is None:  # a bad value: its default (the distro's one warning names it)
            settings = Settings.resolve(environ=environ).settings
        self.tracer = trace.get_tracer(semconv.INSTRUMENTATION_SCOPE, __version__, tracer_provider=tracer_provider)
        self.capture_content = capture_content_from_env(environ)
        self.content_max_chars = settings.content_max_chars
        self.enrich = settings.genai_span_mode == "enrich"
        # Request attributes go on with the response attributes, in one set_attributes at the
        # end, when the sampler cannot look at them: one attribute write pass instead of two.
        self.defer_request_attributes = samples_without_attributes(self.tracer)
        self.active = True

    def start(
        self,
        operation: str,
        request_model: str | None,
        attributes: Attributes,
        context: otel_context.Context | None = None,
    ) -> GenAICall:
        """Start ``{operation} {model}`` (CLIENT) with the request attributes, or enrich a foreign span.

        Under a framework's model span (:class:`FrameworkLLMCall`) the first SDK call claims
        it: in ``enrich`` mode that span becomes this call's span (one span per LLM call).
        ``context`` is the current context when the caller has read it already.
        """
        if context is None:
            context = otel_context.get_current()
        claimed = FrameworkLLMCall.claim(context)
        if claimed is not None and self.enrich:
            claimed.set_attributes(attributes)
            return GenAICall(self, claimed, owned=False)
        if self.enrich:
            foreign = enrichable_span(operation, request_model, context)
            if foreign is not None:
                foreign.set_attributes(attributes)
                return GenAICall(self, foreign, owned=False)
        name = f"{operation} {request_model}" if request_model else operation
        if self.defer_request_attributes:
            return GenAICall(
                self, self.tracer.start_span(name, context=context, kind=SpanKind.CLIENT), True, pending=attributes
            )
        span = self.tracer.start_span(name, context=context, kind=SpanKind.CLIENT, attributes=attributes)
        return GenAICall(self, span, owned=True)

    def capture_into(self, attributes: Attributes, key: str, build: Callable[..., Any], *args: Any) -> None:
        """``attributes[key]`` = JSON of ``build(*args)`` when capture is on; a fault loses only the content."""
        if not self.capture_content:
            return
        with self.guard:
            attributes[key] = content_json(build(*args), self.content_max_chars)

    def begin(self, describe: Describe, instance: Any, kwargs: Mapping[str, Any]) -> GenAICall | None:
        """:meth:`start` from ``describe(instance, kwargs)``, an owned span made current for the SDK call
        (children such as HTTP spans nest under it).

        A fault is counted: before the span started, the call goes on without one (None); after,
        with its span not current. One guarded step, as the call's hot path enters few of them.
        """
        call = None
        with self.guard:
            operation, request_model, attributes = describe(instance, kwargs)
            context = otel_context.get_current()  # read once: claim, enrich rule, new current span
            call = self.start(operation, request_model, attributes, context)
            if call.owned:
                call.token = otel_context.attach(trace.set_span_in_context(call.span, context))
        return call


_FRAMEWORK_CALL_KEY = otel_context.create_key("spanmeter.framework_llm_call")


class FrameworkLLMCall:
    """A framework's model span (e.g. LangChain's ``chat {model}``) that an SDK call beneath may claim.

    The framework puts it into the context its model runs in (:meth:`into`). The first
    provider-SDK call made while that span is the current one claims it
    (:meth:`claim`): the SDK's usage then goes on exactly one span, so the framework
    span must not report usage itself when :attr:`claimed` is set. No global state:
    the context carries it, so nothing is left behind when the run ends.
    """

    __slots__ = ("claimed", "span")

    def __init__(self, span: Span) -> None:
        self.span = span
        self.claimed = False

    def into(self, context: otel_context.Context) -> otel_context.Context:
        """``context`` with this span current and claimable."""
        return otel_context.set_value(_FRAMEWORK_CALL_KEY, self, trace.set_span_in_context(self.span, context))

    @staticmethod
    def claim(context: otel_context.Context | None = None) -> Span | None:
        """The framework span of ``context`` (default: the current one) if an SDK call may claim it
        (first come, and no span in between)."""
        call = otel_context.get_value(_FRAMEWORK_CALL_KEY, context)
        if call is None or call.claimed or trace.get_current_span(context) is not call.span:
            return None
        call.claimed = True
        return call.span


class GenAICall:
    """One call's span: ends exactly once; every method swallows (and counts) its own faults."""

    __slots__ = ("ended", "owned", "pending", "span", "start_ns", "telemetry", "token")

    def __init__(self, telemetry: GenAITelemetry, span: Span, owned: bool, pending: Attributes | None = None) -> None:
        self.telemetry = telemetry
        self.span = span
        self.owned = owned  # False: another producer's span we enrich but must not end
        self.pending = pending  # request attributes that go on together with the final ones
        self.start_ns = time.monotonic_ns()
        self.ended = False
        self.token: object | None = None  # of the context that made the span current, until the call returns

    @property
    def capture_content(self) -> bool:
        """Check before building content, so nothing is converted when capture is off."""
        return self.telemetry.capture_content

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        """Set attributes unless the span has ended (an enriched foreign span may end first)."""
        with self.telemetry.guard:
            if not self.ended and self.span.is_recording():
                self.span.set_attributes(attributes)

    def set_content(self, key: str, value: Any) -> None:
        """Captured content as truncated JSON; callers check :attr:`capture_content` first."""
        with self.telemetry.guard:
            if not self.ended and self.span.is_recording():
                self.span.set_attribute(key, content_json(value, self.telemetry.content_max_chars))

    def capture(self, key: str, build: Callable[..., Any], *args: Any) -> None:
        """:meth:`set_content` of ``build(*args)`` when capture is on; a fault loses only the content."""
        if not self.telemetry.capture_content:
            return
        with self.telemetry.guard:
            self.set_content(key, build(*args))

    def end(self, attributes: Mapping[str, Any] | None = None) -> None:
        """Set the final attributes and end the span (an enriched span is left to its producer)."""
        if self.ended:
            return
        pending = self.pending
        if pending is not None:
            self.pending = None
            if attributes:
                pending.update(attributes)
            attributes = pending
        self.ended = True
        span, ending = self.span, False
        with self.telemetry.guard:  # e.g. a span processor's on_end raising
            if attributes and span.is_recording():
                span.set_attributes(attributes)
            ending = True
            if self.owned:
                span.end()
            return
        if self.owned and not ending:  # setting the attributes failed: the span still ends
            with self.telemetry.guard:
                span.end()

    def fail(self, exc: BaseException, attributes: Mapping[str, Any] | None = None) -> None:
        """Record ``exc`` (ERROR status, ``error.type``) and end; ``exc`` itself is left untouched."""
        if self.ended:
            return
        with self.telemetry.guard:
            token, self.token = self.token, None
            if token is not None:  # restore the context begin() replaced
                otel_context.detach(token)
            span = self.span
            if span.is_recording():
                span.set_attribute(semconv.ERROR_TYPE, rules.exception_error_type(exc))
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
                span.record_exception(exc)
        self.end(attributes)

    def complete(self, handle_result: HandleResult, result: Any) -> Any:
        """``handle_result(self, result)``; on a fault, end the span and return ``result`` as it was.

        A span that does not record (sampled out) is ended at once: nothing to read.
        """
        with self.telemetry.guard:
            token, self.token = self.token, None
            if token is not None:  # restore the context begin() replaced (inline: the hot path)
                otel_context.detach(token)
            if not self.span.is_recording():
                self.end()
                return result
            return handle_result(self, result)
        self.end()
        return result


def sync_wrapper(telemetry: GenAITelemetry, describe: Describe, handle_result: HandleResult) -> Callable:
    """A wrapt wrapper for a sync SDK method: one span around the call, result handed to ``handle_result``."""

    def wrapper(wrapped, instance, args, kwargs):
        if not telemetry.active:
            return wrapped(*args, **kwargs)
        call = telemetry.begin(describe, instance, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        return call.complete(handle_result, result)

    return wrapper


def async_wrapper(telemetry: GenAITelemetry, describe: Describe, handle_result: HandleResult) -> Callable:
    """:func:`sync_wrapper` for ``async def`` SDK methods (the span covers the awaited call)."""

    async def wrapper(wrapped, instance, args, kwargs):
        if not telemetry.active:
            return await wrapped(*args, **kwargs)
        call = telemetry.begin(describe, instance, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        return call.complete(handle_result, result)

    return wrapper


class _StreamProxy(wrapt.ObjectProxy):
    """Shared state of the stream proxies; the SDK stream stays reachable as ``__wrapped__``.

    Subclasses per provider implement :meth:`_self_on_item` (read one chunk/event; an
    instance attribute of that name, e.g. a slotted accumulator's bound method, saves a
    call per chunk) and :meth:`_self_final_attributes` (response attributes gathered so far). Everything not
    overridden here (``.response``, helper methods, attributes) is the SDK stream's own,
    and ``isinstance`` checks against the SDK's stream class still hold.
    """

    def __init__(self, stream: Any, call: GenAICall) -> None:
        super().__init__(stream)
        self._self_call = call
        self._self_first_ns = 0

    def _self_on_item(self, item: Any) -> None:
        """Read what the span needs from one item (usage, finish reason, ids)."""

    def _self_final_attributes(self) -> Mapping[str, Any] | None:
        """Attributes to set when the stream ends, from what :meth:`_self_on_item` gathered."""
        return None

    def _self_observe(self, item: Any) -> None:
        if not self._self_first_ns:
            self._self_first_ns = time.monotonic_ns()
        with self._self_call.telemetry.guard:
            self._self_on_item(item)

    def _self_finish(self, exc: BaseException | None) -> None:
        """End the span once: exhausted, closed, failed, context exited or abandoned."""
        call = self._self_call
        if call.ended:
            return
        attributes: dict[str, Any] = {}
        with call.telemetry.guard:
            if self._self_first_ns:
                ttfc = (self._self_first_ns - call.start_ns) / 1e9
                attributes[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc
            final = self._self_final_attributes()
            if final:
                attributes.update(final)
        if exc is None or isinstance(exc, GeneratorExit):  # a consumer closing its generator is no failure
            call.end(attributes)
        else:
            call.fail(exc, attributes)

    @classmethod
    def end_stream_of(cls, stream: Any) -> None:
        """End the span of a proxy a helper stream wraps (``helper._raw_stream``) when the helper is closed.

        SDK helper streams close the HTTP response directly, bypassing the proxy's ``close()``;
        the instrumentor wraps the helper's ``close`` and calls this afterwards.
        """
        if isinstance(stream, cls):
            cls._self_finish(stream, None)

    def __del__(self) -> None:
        # Abandoned without being exhausted or closed: end the span now rather than never.
        with self._self_call.telemetry.guard:
            self._self_finish(None)


class SyncStreamProxy(_StreamProxy):
    """Iterates the SDK's sync stream, observing each item; iterator, context manager, ``close()``.

    ``for`` loops get a generator (a resumed frame per item is far cheaper than a
    ``__next__`` call). Like the SDK's own ``__iter__`` it is not kept: a loop that breaks
    off leaves the stream to be continued, closed or abandoned, and the span with it.
    """

    def __iter__(self):
        return self._self_iterate(self.__wrapped__.__iter__())

    def _self_iterate(self, iterator):
        # _self_observe inlined: this loop is the per-chunk hot path of every stream.
        on_item, first, item_guard = self._self_on_item, not self._self_first_ns, self._self_call.telemetry.guard
        try:
            for item in iterator:
                if first:
                    first = False
                    self._self_first_ns = time.monotonic_ns()
                with item_guard:
                    on_item(item)
                yield item
        except GeneratorExit:  # the loop let go of this generator, not of the stream
            raise
        except BaseException as exc:
            self._self_finish(exc)
            raise
        self._self_finish(None)

    def __next__(self):
        try:
            item = self.__wrapped__.__next__()
        except StopIteration:
            self._self_finish(None)
            raise
        except BaseException as exc:
            self._self_finish(exc)
            raise
        self._self_observe(item)
        return item

    def __enter__(self):
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            self._self_finish(exc)

    def close(self):
        try:
            return self.__wrapped__.close()
        finally:
            self._self_finish(None)


class AsyncStreamProxy(_StreamProxy):
    """Async twin of :class:`SyncStreamProxy`: ``async for``, ``async with``, ``await close()``/``aclose()``."""

    def __aiter__(self):
        return self._self_iterate(self.__wrapped__.__aiter__())

    async def _self_iterate(self, iterator):
        on_item, first, item_guard = self._self_on_item, not self._self_first_ns, self._self_call.telemetry.guard
        try:
            async for item in iterator:
                if first:
                    first = False
                    self._self_first_ns = time.monotonic_ns()
                with item_guard:
                    on_item(item)
                yield item
        except GeneratorExit:  # the loop let go of this generator, not of the stream
            raise
        except BaseException as exc:
            self._self_finish(exc)
            raise
        self._self_finish(None)

    async def __anext__(self):
        try:
            item = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            self._self_finish(None)
            raise
        except BaseException as exc:
            self._self_finish(exc)
            raise
        self._self_observe(item)
        return item

    async def __aenter__(self):
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, exc_type, exc, tb):
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            self._self_finish(exc)

    async def close(self):
        try:
            return await self.__wrapped__.close()
        finally:
            self._self_finish(None)

    async def aclose(self):
        try:
            return await self.__wrapped__.aclose()
        finally:
            self._self_finish(None)


end_stream_of = _StreamProxy.end_stream_of


class ParsedLater(wrapt.ObjectProxy):
    """A response the app parses after the call returns (openai's ``with_streaming_response``).

    The call's span follows what ``parse()`` gives, through the provider's ``handle`` (an
    object's attributes, or a stream proxy that ends the span), or ends on ``close()``.
    The OpenAI Agents SDK streams this way.
    """

    def __init__(self, response: Any, call: GenAICall, handle: HandleResult) -> None:
        super().__init__(response)
        self._self_call = call
        self._self_handle = handle
        self._self_parsed = None

    def _self_on_parsed(self, parsed: Any) -> Any:
        self._self_parsed = self._self_call.complete(self._self_handle, parsed)
        return self._self_parsed

    def _self_end(self) -> None:
        end_stream_of(self._self_parsed)  # a stream ends with what it read so far
        self._self_call.end()

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        return self._self_on_parsed(self.__wrapped__.parse(*args, **kwargs))

    def close(self) -> None:
        try:
            return self.__wrapped__.close()
        finally:
            self._self_end()


class AsyncParsedLater(ParsedLater):
    async def parse(self, *args: Any, **kwargs: Any) -> Any:
        return self._self_on_parsed(await self.__wrapped__.parse(*args, **kwargs))

    async def close(self) -> None:
        try:
            return await self.__wrapped__.close()
        finally:
            self._self_end()


_OURS = "_spanmeter_genai"


def _is_ours(attribute: Any) -> bool:
    """Whether ``attribute`` is, or wraps under someone else's wrapper, a wrapper :func:`wrap_once` installed."""
    while attribute is not None:
        if getattr(getattr(attribute, "_self_wrapper", None), _OURS, False):
            return True
        attribute = getattr(attribute, "__wrapped__", None)
    return False


def wrap_once(owner: Any, name: str, wrapper: Callable) -> None:
    """``wrapt``-wrap ``owner.name`` (a class or module attribute) unless spanmeter's wrapper is already there.

    An earlier ``uninstrument()`` leaves ours in place when a peer wrapped on top of it
    (removing ours would drop the peer's); it is inactive then and becomes active again,
    so wrapping a second time would double every span.
    """
    if _is_ours(owner.__dict__.get(name)):
        return
    setattr(wrapper, _OURS, True)
    wrapt.wrap_function_wrapper(owner, name, wrapper)


def unwrap_own(owner: Any, name: str) -> None:
    """Remove spanmeter's wrapper of ``owner.name`` when it is the outermost; under a peer's it stays."""
    attribute = owner.__dict__.get(name)
    if getattr(getattr(attribute, "_self_wrapper", None), _OURS, False):
        setattr(owner, name, attribute.__wrapped__)
