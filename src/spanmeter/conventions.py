"""Attribute conventions of the libraries whose spans spanmeter prices: one table each.

Every table maps the GenAI name spanmeter's rules read (the key) to the names that library
writes for the same fact, first present wins. :func:`reader` picks a span's table by a marker
attribute, looked at only when the span names no GenAI operation, and returns a lookup that
answers GenAI names from the library's own, so :mod:`spanmeter.rules` and the enricher read
every convention alike. Spans in the GenAI names (the OpenTelemetry GenAI instrumentations,
OpenLLMetry/Traceloop, OpenLIT, Logfire/Pydantic AI, spanmeter's own) are read directly; the
older GenAI spellings and those libraries' extras are the fallbacks of :data:`GENAI`.

Sources checked (the version in the README's table):

- OpenTelemetry GenAI: ``opentelemetry.semconv._incubating.attributes.gen_ai_attributes``
  (open-telemetry/semantic-conventions ``model/gen-ai/registry.yaml``); older names
  ``gen_ai.system``, ``gen_ai.usage.prompt_tokens`` / ``completion_tokens``.
- OpenLLMetry/Traceloop: ``opentelemetry/semconv_ai/__init__.py`` (traceloop/openllmetry
  ``packages/opentelemetry-semantic-conventions-ai``): ``traceloop.span.kind``,
  ``gen_ai.usage.cache_read_input_tokens`` (before 0.5), ``llm.usage.reasoning_tokens``.
- OpenInference: ``openinference/semconv/trace/__init__.py`` (Arize-ai/openinference
  ``python/openinference-semantic-conventions``).
- OpenLIT: ``sdk/python/src/openlit/semcov/__init__.py`` (openlit/openlit): ``gen_ai.usage.cost``.
- Logfire / Pydantic AI: ``pydantic_ai/models/instrumented.py`` (pydantic/pydantic-ai):
  GenAI names, ``operation.cost``, ``gen_ai.response.id``; its agent run span
  (``Agent._run_span_end_attributes`` in ``pydantic_ai/agent/__init__.py``): the run's usage,
  ``agent_name``, ``pydantic_ai.all_messages`` (``all_messages_events`` in version 1).
- Vercel AI SDK: ``content/docs/03-ai-sdk-core/60-telemetry.mdx`` (vercel/ai): ``ai.operationId``,
  ``ai.model.id``, ``ai.model.provider``, ``ai.usage.promptTokens`` / ``completionTokens`` (AI SDK 4),
  ``ai.toolCall.name``; ``packages/ai/src/generate-text/generate-text.ts``: ``ai.usage.inputTokens``
  (cached included) / ``outputTokens`` / ``cachedInputTokens`` / ``reasoningTokens`` /
  ``inputTokenDetails.cacheReadTokens`` / ``cacheWriteTokens``, ``ai.response.id`` / ``model``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from spanmeter import semconv

Get = Callable[[str], Any]

UPSTREAM_COST = "gen_ai.usage.cost"
"""The key under which a table lists its library's own cost of the call (USD)."""
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"

_Op = semconv.Operation
_CHAT, _EMBEDDINGS = _Op.CHAT.value, _Op.EMBEDDINGS.value
_AGENT, _TOOL, _WORKFLOW = _Op.INVOKE_AGENT.value, _Op.EXECUTE_TOOL.value, _Op.INVOKE_WORKFLOW.value


@dataclass(frozen=True)
class Convention:
    """One library's names for the facts spanmeter reads.

    ``names``: GenAI name -> the library's names, first present wins (a GenAI name the table
    leaves out is read as is). ``operation_key`` / ``operations``: the attribute naming the
    span's kind of work and the GenAI operation each value means (other values: no operation);
    without an ``operation_key``, every span carrying the marker performs ``operation``.
    ``input_includes_cache``: whether the input token count already holds the cached tokens
    (as GenAI's does); if not, the reader adds them. ``provider_prefix``: the provider is the
    value's part before the first dot (Vercel's ``openai.chat``)."""

    name: str
    marker: str | None
    names: Mapping[str, tuple[str, ...]]
    operation_key: str | None = None
    operations: Mapping[str, str] = field(default_factory=dict)
    operation: str | None = None
    input_includes_cache: bool = True
    provider_prefix: bool = False


GENAI = Convention(
    name="OpenTelemetry GenAI",
    marker=None,
    names={
        semconv.GEN_AI_PROVIDER_NAME: (semconv.GEN_AI_PROVIDER_NAME, semconv.GEN_AI_SYSTEM),
        semconv.GEN_AI_USAGE_INPUT_TOKENS: (semconv.GEN_AI_USAGE_INPUT_TOKENS, semconv.GEN_AI_USAGE_PROMPT_TOKENS),
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: (
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS,
            semconv.GEN_AI_USAGE_COMPLETION_TOKENS,
        ),
        semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: (
            semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
            "gen_ai.usage.cache_read_input_tokens",
        ),
        semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: (
            semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
            semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
            "gen_ai.usage.cache_creation_input_tokens",
        ),
        GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: (
            GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
            "gen_ai.usage.reasoning_tokens",
            "llm.usage.reasoning_tokens",
        ),
        UPSTREAM_COST: (UPSTREAM_COST, "operation.cost"),  # OpenLIT, Langfuse, LiteLLM; Logfire / Pydantic AI
    },
)
"""OpenTelemetry GenAI, current and older names, with the extras of the libraries that write them
(OpenLLMetry, OpenLIT, Logfire / Pydantic AI)."""

TRACELOOP = Convention(
    name="OpenLLMetry (Traceloop)",
    marker="traceloop.span.kind",
    names={},
    operation_key="traceloop.span.kind",
    operations={"workflow": _WORKFLOW, "agent": _AGENT, "tool": _TOOL},
)
"""Traceloop's own workflow / agent / tool spans (its LLM spans use GenAI names)."""

OPENINFERENCE = Convention(
    name="OpenInference",
    marker="openinference.span.kind",
    names={
        semconv.GEN_AI_PROVIDER_NAME: ("llm.provider", "llm.system"),
        semconv.GEN_AI_REQUEST_MODEL: (),
        semconv.GEN_AI_RESPONSE_MODEL: ("llm.model_name",),
        semconv.GEN_AI_USAGE_INPUT_TOKENS: ("llm.token_count.prompt",),
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: ("llm.token_count.completion",),
        semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: ("llm.token_count.prompt_details.cache_read",),
        semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: ("llm.token_count.prompt_details.cache_write",),
        GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: ("llm.token_count.completion_details.reasoning",),
        semconv.GEN_AI_AGENT_NAME: ("agent.name",),
        semconv.GEN_AI_TOOL_NAME: ("tool.name",),
        semconv.GEN_AI_CONVERSATION_ID: ("session.id",),
        semconv.GEN_AI_RESPONSE_ID: (),
        UPSTREAM_COST: ("llm.cost.total",),
    },
    operation_key="openinference.span.kind",
    operations={"LLM": _CHAT, "EMBEDDING": _EMBEDDINGS, "AGENT": _AGENT, "TOOL": _TOOL},
)

_VERCEL_CALLS = ("generateText", "streamText", "generateObject", "streamObject")
VERCEL_AI = Convention(
    name="Vercel AI SDK",
    marker="ai.operationId",
    names={
        semconv.GEN_AI_PROVIDER_NAME: (semconv.GEN_AI_SYSTEM, "ai.model.provider"),
        semconv.GEN_AI_REQUEST_MODEL: (semconv.GEN_AI_REQUEST_MODEL, "ai.model.id"),
        semconv.GEN_AI_RESPONSE_MODEL: (semconv.GEN_AI_RESPONSE_MODEL, "ai.response.model"),
        semconv.GEN_AI_USAGE_INPUT_TOKENS: (
            "ai.usage.inputTokens",
            "ai.usage.promptTokens",
            semconv.GEN_AI_USAGE_INPUT_TOKENS,
            semconv.GEN_AI_USAGE_PROMPT_TOKENS,
        ),
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: (
            "ai.usage.outputTokens",
            "ai.usage.completionTokens",
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS,
            semconv.GEN_AI_USAGE_COMPLETION_TOKENS,
        ),
        semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: (
            "ai.usage.inputTokenDetails.cacheReadTokens",
            "ai.usage.cachedInputTokens",
        ),
        semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: ("ai.usage.inputTokenDetails.cacheWriteTokens",),
        GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: ("ai.usage.reasoningTokens",),
        semconv.GEN_AI_TOOL_NAME: ("ai.toolCall.name",),
        semconv.GEN_AI_RESPONSE_ID: ("ai.response.id", semconv.GEN_AI_RESPONSE_ID),
    },
    operation_key="ai.operationId",
    operations={
        **{f"ai.{call}": _WORKFLOW for call in _VERCEL_CALLS},  # the whole call: usage summed over its steps
        **{f"ai.{call}.do{'Stream' if call.startswith('stream') else 'Generate'}": _CHAT for call in _VERCEL_CALLS},
        "ai.embed.doEmbed": _EMBEDDINGS,
        "ai.embedMany.doEmbed": _EMBEDDINGS,
        "ai.toolCall": _TOOL,
    },
    provider_prefix=True,
)

_PYDANTIC_AI_AGENT = {semconv.GEN_AI_AGENT_NAME: (semconv.GEN_AI_AGENT_NAME, "agent_name")}
PYDANTIC_AI_RUN = Convention(
    name="Pydantic AI agent run", marker="pydantic_ai.all_messages", names=_PYDANTIC_AI_AGENT, operation=_AGENT
)
"""Pydantic AI's agent run span (instrumentation version 2 and later): it names no GenAI operation
but carries the run's usage summed over its model requests, an agent's work, not a call."""
PYDANTIC_AI_RUN_V1 = Convention(
    name="Pydantic AI agent run (version 1)", marker="all_messages_events", names=_PYDANTIC_AI_AGENT, operation=_AGENT
)

GENAI_RARE = frozenset((
    *GENAI.names[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS][1:],
    *GENAI.names[semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS][2:],
    *GENAI.names[UPSTREAM_COST],
))  # fmt: skip
"""The names of :data:`GENAI` most spans lack (older cache names, other libraries' costs): a span
without any of them, found in one pass over its names, is spared a lookup of each."""

CONVENTIONS = (GENAI, OPENINFERENCE, VERCEL_AI, TRACELOOP, PYDANTIC_AI_RUN, PYDANTIC_AI_RUN_V1)
"""Every table; :func:`reader` tries the markers in this order."""
_MARKED = tuple((convention.marker, convention) for convention in CONVENTIONS if convention.marker)


def convention_of(get: Get) -> Convention:
    """The span's convention: GenAI when it names a GenAI or spanmeter operation (one lookup
    for nearly every span), else the first table whose marker it carries."""
    if get(semconv.GEN_AI_OPERATION_NAME) is not None:
        return GENAI
    for marker, convention in _MARKED:
        if get(marker) is not None:
            return convention
    return GENAI


def reader(get: Get) -> Get:
    """``get`` itself for a GenAI span, else a lookup that answers GenAI names from the span's
    own convention."""
    convention = convention_of(get)
    if convention is GENAI:
        return get
    return _Translated(convention, get).get


class _Translated:
    __slots__ = ("convention", "raw")

    def __init__(self, convention: Convention, raw: Get):
        self.convention, self.raw = convention, raw

    def get(self, key: str) -> Any:
        convention, raw = self.convention, self.raw
        if key == semconv.GEN_AI_OPERATION_NAME:
            if convention.operation_key is None:
                return convention.operation
            value = raw(convention.operation_key)
            return convention.operations.get(value) if type(value) is str else None
        names = convention.names.get(key)
        if names is None:
            return raw(key)
        value = first(raw, names)
        if key == semconv.GEN_AI_PROVIDER_NAME and convention.provider_prefix and type(value) is str:
            return value.partition(".")[0]
        if key == semconv.GEN_AI_USAGE_INPUT_TOKENS and not convention.input_includes_cache:
            return _with_cache(value, self.get)
        return value


def first(get: Get, names: tuple[str, ...]) -> Any:
    """The value of the first of ``names`` the span carries, else None."""
    for name in names:
        value = get(name)
        if value is not None:
            return value
    return None


def _with_cache(value: Any, get: Get) -> Any:
    """Input tokens counted with their cached part, for a library that counts it apart."""
    if type(value) is not int:
        return value
    for key in (semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS):
        cached = get(key)
        if type(cached) is int:
            value += cached
    return value
