"""Real-shaped Anthropic Messages API bodies and streams, and SDK clients over a scripted transport.

Shapes follow the SDK's own types (``anthropic.types.Message``, ``RawMessageStreamEvent``,
``Usage`` / ``MessageDeltaUsage``) and the API reference (errors are ``{"type": "error",
"error": {...}}``; streams carry ``ping`` and may carry an ``error`` event). The plain text
message and stream come from ``tests/bench/llm_fakes.py``; the scripted server and its
replies are the openai tests' (``support.openai_fakes``), which know nothing of either SDK.
"""

from __future__ import annotations

import json

import anthropic
import httpx2

from bench import llm_fakes
from support.openai_fakes import Server, json_reply, server, sse_reply

__all__ = ["Server", "json_reply", "server", "sse_reply"]

MODEL = llm_fakes.ANTHROPIC_MODEL
RESPONSE_MODEL = llm_fakes.ANTHROPIC_RESPONSE_MODEL
MESSAGES = llm_fakes.MESSAGES
MESSAGE_BODY = llm_fakes.ANTHROPIC_MESSAGE_BODY
TEXT_STREAM = llm_fakes.ANTHROPIC_STREAM_CHUNKS
TEXT = "".join(f"word{i} " for i in range(llm_fakes.STREAM_CHUNKS))
STREAMED_TEXT = "".join(f"word{i} " for i in range(llm_fakes.STREAM_CHUNKS - 5))
BASE_URL = "https://claude.example.com:8443"

TOOL_USAGE = {
    "input_tokens": 300,
    "cache_read_input_tokens": 800,
    "cache_creation_input_tokens": 100,
    "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 0},
    "output_tokens": 200,
    "output_tokens_details": {"thinking_tokens": 50},
    "service_tier": "standard",
}
"""1200 input tokens in all: 300 uncached, 800 read from the cache, 100 written to it."""


def message(**changes) -> bytes:
    """The plain text message with top-level fields changed (``usage=None``, ``model=...``)."""
    body = json.loads(MESSAGE_BODY)
    body.update(changes)
    return json.dumps(body).encode()


def tool_use_body() -> bytes:
    """A thinking model asking for two tools, with a cached prompt."""
    return json.dumps({
        "id": "msg_tools",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [
            {"type": "thinking", "thinking": "Two lookups are needed.", "signature": "sig_1"},
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_weather", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_time", "name": "get_time", "input": {"tz": "CET"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": TOOL_USAGE,
    }).encode()  # fmt: skip


def tool_use_stream() -> list[bytes]:
    """A streamed tool call: usage (with the cache) in ``message_start``, the rest in ``message_delta``."""
    start = json.loads(tool_use_body())
    start.update(content=[], stop_reason=None)
    start["usage"] = {**TOOL_USAGE, "output_tokens": 1, "output_tokens_details": None}
    return llm_fakes.anthropic_sse([
        {"type": "message_start", "message": start},
        {"type": "ping"},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me check."}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1,
         "content_block": {"type": "tool_use", "id": "toolu_weather", "name": "get_weather", "input": {}}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": "}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "\"Paris\"}"}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
         "usage": {"output_tokens": 200, "output_tokens_details": {"thinking_tokens": 50}}},
        {"type": "message_stop"},
    ])  # fmt: skip


def overloaded_mid_stream() -> list[bytes]:
    """The text stream cut by an ``error`` event after the first delta (the API's overload signal)."""
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    return TEXT_STREAM[:3] + llm_fakes.anthropic_sse([error])


def error_body(status: int) -> bytes:
    kind = {400: "invalid_request_error", 429: "rate_limit_error", 500: "api_error"}[status]
    return json.dumps({"type": "error", "error": {"type": kind, "message": f"fake {status}"},
                       "request_id": "req_fake"}).encode()  # fmt: skip


def client(scripted: Server, max_retries: int = 0, open_telemetry: object = False) -> anthropic.Anthropic:
    """``open_telemetry=False``: without the SDK's own span; ``None``: the SDK's default (on, global provider)."""
    return anthropic.Anthropic(api_key="sk-ant-test", base_url=BASE_URL, max_retries=max_retries,
                               open_telemetry=open_telemetry,
                               http_client=httpx2.Client(transport=httpx2.MockTransport(scripted)))  # fmt: skip


def async_client(scripted: Server, max_retries: int = 0, open_telemetry: object = False) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url=BASE_URL, max_retries=max_retries,
                                    open_telemetry=open_telemetry,
                                    http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(scripted)))  # fmt: skip
