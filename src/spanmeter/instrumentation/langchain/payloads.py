"""Reading LangChain's callback payloads into GenAI attributes: each reader tolerates odd shapes.

A payload LangChain changes in an upgrade must cost attributes, not the app: every reader
takes what has the expected type and skips the rest, and the handler calls them under the
fault guard. Token meanings are normalized to the semantic conventions here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spanmeter import providers, semconv
from spanmeter.instrumentation.usage import add_usage

REQUEST_PARAMS = {
    "temperature": semconv.GEN_AI_REQUEST_TEMPERATURE,
    "max_tokens": semconv.GEN_AI_REQUEST_MAX_TOKENS,
    "max_completion_tokens": semconv.GEN_AI_REQUEST_MAX_TOKENS,
    "max_output_tokens": semconv.GEN_AI_REQUEST_MAX_TOKENS,
    "top_p": semconv.GEN_AI_REQUEST_TOP_P,
    "top_k": semconv.GEN_AI_REQUEST_TOP_K,
    "frequency_penalty": semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY,
    "presence_penalty": semconv.GEN_AI_REQUEST_PRESENCE_PENALTY,
    "seed": semconv.GEN_AI_REQUEST_SEED,
    "n": semconv.GEN_AI_REQUEST_CHOICE_COUNT,
}


def text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def provider_name(raw: Any) -> str | None:
    """The semconv name of a LangChain provider id (:mod:`spanmeter.providers`); an unknown id passes through."""
    raw = text(raw)
    return providers.from_langchain(raw) if raw else None


def request_attributes(params: Mapping[str, Any], metadata: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(request model, attributes) of a model run from its ``invocation_params`` and ``ls_*`` metadata."""
    model = text(params.get("model")) or text(params.get("model_name")) or text(metadata.get("ls_model_name"))
    attributes: dict[str, Any] = {}
    provider = provider_name(metadata.get("ls_provider"))
    if provider:
        attributes[semconv.GEN_AI_PROVIDER_NAME] = provider
    if model:
        attributes[semconv.GEN_AI_REQUEST_MODEL] = model
    for key, name in REQUEST_PARAMS.items():
        value = params.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            attributes[name] = value
    stop = params.get("stop")
    if isinstance(stop, (list, tuple)) and stop and all(isinstance(item, str) for item in stop):
        attributes[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = tuple(stop)
    return model, attributes


def usage_attributes(usage: Any) -> dict[str, int]:
    """Semconv token counts from a message's ``usage_metadata``.

    LangChain's ``input_tokens`` already includes cached tokens, as the conventions want.
    Cache creation is ``input_token_details.cache_creation``, or the sum of Anthropic's
    ``ephemeral_*_input_tokens`` when only those are given; zero details are left out.
    """
    usage = mapping(usage)
    details = mapping(usage.get("input_token_details"))
    cache_creation = count(details.get("cache_creation"))
    if cache_creation is None:
        ephemeral = [count(v) for k, v in details.items() if isinstance(k, str) and k.startswith("ephemeral_")]
        cache_creation = sum(v for v in ephemeral if v)
    attributes: dict[str, int] = {}
    add_usage(attributes, usage.get("input_tokens"), usage.get("output_tokens"), details.get("cache_read"),
              cache_creation, mapping(usage.get("output_token_details")).get("reasoning"))  # fmt: skip
    return attributes


def first_generation(response: Any) -> Any:
    """The first generation of an ``LLMResult`` (LangChain makes one run per prompt)."""
    generations = getattr(response, "generations", None)
    if isinstance(generations, list) and generations and isinstance(generations[0], list) and generations[0]:
        return generations[0][0]
    return None


def response_attributes(generation: Any, with_usage: bool) -> dict[str, Any]:
    """Response model/id/provider, finish reason, requested tool calls and (``with_usage``) tokens."""
    message = getattr(generation, "message", None)
    metadata = mapping(getattr(message, "response_metadata", None))
    info = mapping(getattr(generation, "generation_info", None))
    attributes: dict[str, Any] = {}
    model = text(metadata.get("model_name")) or text(metadata.get("model"))
    if model:
        attributes[semconv.GEN_AI_RESPONSE_MODEL] = model
    provider = provider_name(metadata.get("model_provider"))
    if provider:
        attributes[semconv.GEN_AI_PROVIDER_NAME] = provider
    response_id = text(metadata.get("id"))
    if response_id:
        attributes[semconv.GEN_AI_RESPONSE_ID] = response_id
    reason = text(metadata.get("finish_reason")) or text(metadata.get("stop_reason")) or text(info.get("finish_reason"))
    if reason:
        attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = (reason,)
    calls = [mapping(call) for call in getattr(message, "tool_calls", None) or () if isinstance(call, Mapping)]
    names = [name for name in (text(call.get("name")) for call in calls) if name]
    ids = [call_id for call_id in (text(call.get("id")) for call in calls) if call_id]
    if names:
        attributes[semconv.TOOL_CALL_NAMES] = names
    if ids:
        attributes[semconv.TOOL_CALL_IDS] = ids
    if with_usage:
        attributes.update(usage_attributes(getattr(message, "usage_metadata", None)))
    return attributes


def input_messages(messages: Any) -> list[dict[str, Any]]:
    """Chat messages of a model run (``on_chat_model_start``'s first batch) in the conventions' shape."""
    batch = messages[0] if isinstance(messages, list) and messages and isinstance(messages[0], list) else []
    return [{"role": getattr(m, "type", None), "parts": [{"type": "text", "content": getattr(m, "content", None)}]}
            for m in batch]  # fmt: skip


def output_messages(generation: Any) -> list[dict[str, Any]]:
    message = getattr(generation, "message", None)
    parts: list[dict[str, Any]] = []
    content = getattr(message, "content", None) if message is not None else getattr(generation, "text", None)
    if content:
        parts.append({"type": "text", "content": content})
    for call in getattr(message, "tool_calls", None) or ():
        call = mapping(call)
        parts.append({"type": "tool_call", "id": call.get("id"), "name": call.get("name"),
                      "arguments": call.get("args")})  # fmt: skip
    return [{"role": "assistant", "parts": parts}]


def tool_result(output: Any) -> Any:
    """What a tool returned: a ``ToolMessage``'s content, else the value itself."""
    content = getattr(output, "content", None)
    return content if content is not None else output
