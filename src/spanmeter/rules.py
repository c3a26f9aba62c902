"""spanmeter's domain rules, each defined once: instrumentation, processing, the pipeline,
reports and alerting import them from here instead of restating them.

- which operation a span performs and what kind of work that is (llm, agent, workflow,
  tool, stage, other), and whether a span is an LLM call;
- why an LLM call has no cost (``no_usage`` / ``no_price``);
- which agent run a span belongs to (its own when it is one, else the innermost enclosing
  one: :mod:`spanmeter.processing.agent_runs` applies it to ended spans);
- how ``error.type`` is derived from an exception;
- the cost-per-GB formula;
- how token usage, model and provider are read from a span's attributes, accepting the
  older GenAI names (``gen_ai.system``, ``gen_ai.usage.prompt_tokens`` /
  ``completion_tokens``) that other SDKs still write, and the cost a span's own library put
  on it; other libraries' conventions are read as GenAI names through
  :func:`spanmeter.conventions.reader` (one table per convention).

Plain functions over an attribute lookup (``get(key) -> value | None``), so they serve an
SDK span's attribute dict, an OTLP span's decoded attributes and a report's span records
alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from spanmeter import conventions, semconv

_Op = semconv.Operation

LLM_OPERATIONS = frozenset(op.value for op in (_Op.CHAT, _Op.TEXT_COMPLETION, _Op.GENERATE_CONTENT, _Op.EMBEDDINGS))
AGENT_OPERATIONS = frozenset((_Op.INVOKE_AGENT.value, _Op.CREATE_AGENT.value))
"""``create_agent`` is an agent's work too (reports and metrics group it with ``invoke_agent``)."""
ROLLUP_OPERATIONS = frozenset((_Op.INVOKE_AGENT.value, _Op.INVOKE_WORKFLOW.value, semconv.OPERATION_RUN_STAGE))
"""Spans that carry ``spanmeter.cost.total_usd``: their own cost plus every descendant's."""

KINDS = ("workflow", "agent", "tool", "stage", "llm", "other")
_KIND_BY_OPERATION = {
    **{op: "llm" for op in LLM_OPERATIONS},
    **{op: "agent" for op in AGENT_OPERATIONS},
    _Op.EXECUTE_TOOL.value: "tool",
    _Op.INVOKE_WORKFLOW.value: "workflow",
    semconv.OPERATION_RUN_STAGE: "stage",
}

ERROR_TYPE_OTHER = "_OTHER"
"""``error.type`` of a span with ERROR status that names no error type (the semconv fallback)."""

Get = Callable[[str], Any]


def text(value: Any) -> str | None:
    """``value`` if it is a string, else None (attributes of the wrong type carry no name).

    The readers below, which the batch worker runs for every span, apply it inline."""
    return value if type(value) is str else None


def operation(get: Get) -> str | None:
    """The span's operation: ``gen_ai.operation.name``, else ``spanmeter.operation.name`` (stages)."""
    genai, own = operation_names(get)
    return genai or own


def operation_names(get: Get) -> tuple[str | None, str | None]:
    """(``gen_ai.operation.name``, ``spanmeter.operation.name``) as the span carries them: metrics
    put the operation under the same attribute name as the span does."""
    genai, own = get(semconv.GEN_AI_OPERATION_NAME), get(semconv.SPANMETER_OPERATION_NAME)
    return (genai if type(genai) is str else None), (own if type(own) is str else None)


def kind_of(op: str | None) -> str:
    """What kind of work an operation is: one of :data:`KINDS`."""
    return _KIND_BY_OPERATION.get(op, "other") if op is not None else "other"


ROLLUP_KINDS = frozenset(_KIND_BY_OPERATION[op] for op in ROLLUP_OPERATIONS)
"""The kinds of work whose spans carry the roll-up (workflow, agent, stage)."""


def is_llm_call(op: str | None, has_usage: bool) -> bool:
    """An LLM call: an LLM operation, or a span of no other kind of work reporting token usage
    (other SDKs' call spans often name no operation). Agent, workflow and tool spans that carry
    usage summed over their calls (Pydantic AI's agent run, Vercel's ``ai.generateText``) are
    not calls."""
    return op in LLM_OPERATIONS or (has_usage and (op is None or op not in _KIND_BY_OPERATION))


def work_kind(op: str | None, is_llm: bool, cost_source: str | None = None) -> str:
    """The kind of a span: its operation's, except that a span with usage and no known
    operation is an LLM call, and an LLM span whose call is priced on an inner span
    (``descendant``) is no call of its own (``other``): every view counts the call once."""
    if cost_source == semconv.COST_SOURCE_DESCENDANT:
        return "other"
    kind = kind_of(op)
    return "llm" if is_llm and kind == "other" else kind


def is_work(op: str | None, is_llm: bool) -> bool:
    """Work spans (an operation, or an LLM call) feed baselines, work metrics and every view."""
    return op is not None or is_llm


def marks_no_usage(is_llm: bool, model: str | None, failed: bool, upstream_source: str | None) -> bool:
    """Whether an LLM call without usage is unpriced (``no_usage``): a successful call of a
    known model (a stream without include_usage), not one that failed (nothing was billed)
    nor one whose cost came from upstream."""
    return is_llm and model is not None and not failed and upstream_source is None


def unpriced_reason(cost_source: str | None, has_usage: bool) -> str | None:
    """Why an LLM call carries no cost (``spanmeter.cost.source=unknown``): ``no_usage`` when
    it reported no tokens, else ``no_price``; None when it was priced or not judged."""
    if cost_source != semconv.COST_SOURCE_UNKNOWN:
        return None
    return semconv.UNPRICED_NO_PRICE if has_usage else semconv.UNPRICED_NO_USAGE


def run_agent(kind: str, agent_attribute: Any, span_name: str) -> str | None:
    """The agent run a span names itself: an agent span's own agent (``gen_ai.agent.name``, else
    the span's name); any other span's ``gen_ai.agent.name`` when it carries one (spans inside an
    agent run that say so); else None, and the span belongs to its innermost enclosing agent run."""
    name = agent_attribute if type(agent_attribute) is str and agent_attribute else None
    if kind == "agent":
        return name or span_name
    return name


def exception_error_type(exc: BaseException) -> str:
    """``error.type`` for an exception: the HTTP status of an API error (``"429"``), else its class.

    A status below 400 is no error's: an error event inside a stream carries the ``200`` of
    the response that opened the stream.
    """
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool) and status >= 400:
        return str(status)
    return type(exc).__qualname__


def span_error_type(recorded: Any, is_error_status: bool) -> str | None:
    """``error.type`` of a finished span: the recorded one, ``_OTHER`` for an ERROR status
    without one, None for a span that did not fail."""
    if recorded is not None:
        return recorded if type(recorded) is str else str(recorded)
    return ERROR_TYPE_OTHER if is_error_status else None


def per_gb_usd(total_usd: float | None, data_bytes: int) -> float | None:
    """USD per GB (1e9 bytes) of data processed; None when no bytes were processed or the
    cost is unknown (a missing cost is not a free one)."""
    if total_usd is None or data_bytes <= 0:
        return None
    return total_usd / (data_bytes / 1e9)


def format_usd(usd: float) -> str:
    """Money for people: cents above $1, else three significant digits (a $0.004 budget
    must not read "$0.00")."""
    if usd == 0 or abs(usd) >= 1:
        return f"${usd:,.2f}"
    places = 2 - math.floor(math.log10(abs(usd)))
    return "$" + f"{usd:.{places}f}".rstrip("0")


def provider(get: Get) -> str | None:
    """``gen_ai.provider.name``, else the older ``gen_ai.system``."""
    name = get(semconv.GEN_AI_PROVIDER_NAME)
    if type(name) is str and name:
        return name
    name = get(semconv.GEN_AI_SYSTEM)
    return name if type(name) is str else None


def request_model(get: Get) -> str | None:
    value = get(semconv.GEN_AI_REQUEST_MODEL)
    return value if type(value) is str else None


def response_model(get: Get) -> str | None:
    value = get(semconv.GEN_AI_RESPONSE_MODEL)
    return value if type(value) is str else None


def model(get: Get) -> str | None:
    """The model that served the call: the response model, else the requested one."""
    return served_model(request_model(get), response_model(get))


def served_model(requested: str | None, responded: str | None) -> str | None:
    """:func:`model` from the two values already read."""
    return responded or requested


_NAMES = conventions.GENAI.names


def input_tokens_raw(get: Get) -> Any:
    """``gen_ai.usage.input_tokens``, else the older ``gen_ai.usage.prompt_tokens`` (unvalidated)."""
    value = get(semconv.GEN_AI_USAGE_INPUT_TOKENS)
    return get(semconv.GEN_AI_USAGE_PROMPT_TOKENS) if value is None else value


def output_tokens_raw(get: Get) -> Any:
    """``gen_ai.usage.output_tokens``, else the older ``gen_ai.usage.completion_tokens``."""
    value = get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS)
    return get(semconv.GEN_AI_USAGE_COMPLETION_TOKENS) if value is None else value


_CACHE_READ_OLDER = _NAMES[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS][1:]
_CACHE_WRITE_OLDER = _NAMES[semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS][2:]


def cache_read_tokens_raw(get: Get, older: bool = True) -> Any:
    """Cache read tokens under the semconv name or OpenLLMetry's older one (``older``: look for it)."""
    value = get(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS)
    return conventions.first(get, _CACHE_READ_OLDER) if value is None and older else value


def cache_write_tokens_raw(get: Get, older: bool = True) -> Any:
    """Cache creation tokens under the semconv name, its newer ``cache_write`` spelling or
    OpenLLMetry's older one (``older``: look for those)."""
    value = get(semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS)
    if value is None:
        value = get(semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS)
    return conventions.first(get, _CACHE_WRITE_OLDER) if value is None and older else value


def upstream_cost(get: Get) -> float | None:
    """The cost the span's own library put on it (``gen_ai.usage.cost``, ``operation.cost``,
    ``llm.cost.total``), None when it names none or not as a number >= 0."""
    value = conventions.first(get, _NAMES[conventions.UPSTREAM_COST])
    if type(value) in (int, float) and math.isfinite(value) and value >= 0:
        return float(value)
    return None


def response_id(get: Get) -> str | None:
    """The provider's id of the response (``gen_ai.response.id`` or the convention's own)."""
    value = get(semconv.GEN_AI_RESPONSE_ID)
    return value if type(value) is str and value else None


def costs_drift(upstream_usd: float, priced_usd: float) -> bool:
    """Whether an upstream cost and spanmeter's price of the same usage differ by more than 1 %."""
    return abs(upstream_usd - priced_usd) > 0.01 * max(abs(upstream_usd), abs(priced_usd))


WORK_MARKERS = frozenset((
    semconv.GEN_AI_OPERATION_NAME, semconv.SPANMETER_OPERATION_NAME, semconv.DATA_BYTES, semconv.ERROR_TYPE,
    semconv.GEN_AI_AGENT_NAME,
    *(convention.marker for convention in conventions.CONVENTIONS if convention.marker),
    *(name for key in (semconv.GEN_AI_USAGE_INPUT_TOKENS, semconv.GEN_AI_USAGE_OUTPUT_TOKENS,
                       conventions.UPSTREAM_COST) for name in _NAMES[key]),
))  # fmt: skip
"""The attributes that make a span more than an ordinary one (an HTTP or database span): an
operation, a convention's marker, token usage or an upstream cost under any name the readers above
accept, data volume, ``error.type``, or the agent run it names. Every rule above needs one of them
to apply, so a span with none is not priced, metered as work or judged: the pipeline passes its
roll-up on and counts it in span metrics without reading anything else. A reader of new attribute
names adds them here (the conventions' markers and GenAI usage names are taken from their tables)."""
