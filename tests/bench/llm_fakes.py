"""Real openai / anthropic SDK clients over an in-memory transport with real-shaped bodies.

Response bodies are encoded once, so a call costs only what the SDK (and any
instrumentation) does with them: the benchmark and the coexistence tests measure
and observe the real SDK code path without a network or a server.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx2

if TYPE_CHECKING:  # imported where a client is made, so a process pays only for the SDK it uses
    import anthropic
    import openai

OPENAI_MODEL = "gpt-4o-mini"
OPENAI_RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
ANTHROPIC_MODEL = "claude-haiku-4-5"
ANTHROPIC_RESPONSE_MODEL = "claude-haiku-4-5-20251001"
INPUT_TOKENS = 1200
OUTPUT_TOKENS = 350
STREAM_CHUNKS = 15
MESSAGES = [{"role": "user", "content": "Summarise the attached incident report in three bullets."}]
_WORDS = [f"word{i} " for i in range(STREAM_CHUNKS)]
_JSON = {"content-type": "application/json"}
_SSE = {"content-type": "text/event-stream"}


def _sse(events: list[tuple[str | None, object]]) -> list[bytes]:
    """One pre-encoded bytes chunk per server-sent event."""
    chunks = []
    for event, data in events:
        head = f"event: {event}\n" if event else ""
        body = data if isinstance(data, str) else json.dumps(data)
        chunks.append(f"{head}data: {body}\n\n".encode())
    return chunks


def openai_chat_body(input_tokens: int = INPUT_TOKENS, output_tokens: int = OUTPUT_TOKENS) -> bytes:
    return json.dumps({
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_760_000_000,
        "model": OPENAI_RESPONSE_MODEL,
        "system_fingerprint": "fp_bench",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": "".join(_WORDS), "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
    }).encode()  # fmt: skip


def openai_stream_chunks() -> list[bytes]:
    """15 chunks: role, 12 content deltas, finish, usage (``stream_options.include_usage``)."""

    def chunk(delta: dict, finish: str | None = None, usage: dict | None = None, choices: bool = True) -> dict:
        base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1_760_000_000,
                "model": OPENAI_RESPONSE_MODEL, "system_fingerprint": "fp_bench", "usage": usage}  # fmt: skip
        base["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}] if choices else []
        return base

    usage = {"prompt_tokens": INPUT_TOKENS, "completion_tokens": OUTPUT_TOKENS,
             "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS}  # fmt: skip
    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": word}) for word in _WORDS[: STREAM_CHUNKS - 3]]
    events += [chunk({}, finish="stop"), chunk({}, usage=usage, choices=False)]
    return _sse([(None, e) for e in events] + [(None, "[DONE]")])


def anthropic_message_body(
    input_tokens: int = INPUT_TOKENS, output_tokens: int = OUTPUT_TOKENS, cache_read: int = 0, cache_write: int = 0
) -> bytes:
    """Anthropic's native usage: ``input_tokens`` excludes the cached tokens."""
    return json.dumps({
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": ANTHROPIC_RESPONSE_MODEL,
        "content": [{"type": "text", "text": "".join(_WORDS)}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": cache_write,
            "cache_read_input_tokens": cache_read,
            "service_tier": "standard",
        },
    }).encode()  # fmt: skip


def anthropic_stream_chunks() -> list[bytes]:
    """15 events: message_start, block start, 10 text deltas, block stop, message_delta, message_stop."""
    start = json.loads(anthropic_message_body())
    start.update(content=[], stop_reason=None)
    start["usage"]["output_tokens"] = 1
    deltas = [
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}},
        )
        for word in _WORDS[: STREAM_CHUNKS - 5]
    ]
    return _sse([
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        *deltas,
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": OUTPUT_TOKENS}}),
        ("message_stop", {"type": "message_stop"}),
    ])  # fmt: skip


def anthropic_sse(events: list[dict]) -> list[bytes]:
    """Anthropic stream events, each sent under its own ``type`` as the SSE event name."""
    return _sse([(event["type"], event) for event in events])


def _transport(body: bytes, chunks: list[bytes]) -> httpx2.MockTransport:
    """Answers a request whose JSON says ``"stream": true`` with ``chunks``, any other with ``body``."""

    def handle(request: httpx2.Request) -> httpx2.Response:
        if b'"stream":true' in request.content.replace(b" ", b""):
            return httpx2.Response(200, headers=_SSE, content=iter(chunks))
        return httpx2.Response(200, headers=_JSON, content=body)

    return httpx2.MockTransport(handle)


def openai_client(body: bytes | None = None) -> openai.OpenAI:
    import openai

    transport = _transport(body or OPENAI_CHAT_BODY, OPENAI_STREAM_CHUNKS)
    return openai.OpenAI(api_key="sk-bench", base_url="http://llm.invalid/v1", max_retries=0,
                         http_client=httpx2.Client(transport=transport))  # fmt: skip


def anthropic_client(body: bytes | None = None, open_telemetry: object = False) -> anthropic.Anthropic:
    """``open_telemetry=False`` turns the SDK's own span off; pass ``{"tracer_provider": tp}`` to have it."""
    import anthropic

    transport = _transport(body or ANTHROPIC_MESSAGE_BODY, ANTHROPIC_STREAM_CHUNKS)
    return anthropic.Anthropic(api_key="sk-ant-bench", base_url="http://llm.invalid", max_retries=0,
                               open_telemetry=open_telemetry, http_client=httpx2.Client(transport=transport))  # fmt: skip


def openai_chat(client: openai.OpenAI) -> object:
    return client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES, max_tokens=512)


def openai_stream(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=OPENAI_MODEL, messages=MESSAGES, max_tokens=512, stream=True, stream_options={"include_usage": True}
    )
    for _ in stream:
        pass


def anthropic_message(client: anthropic.Anthropic) -> object:
    return client.messages.create(model=ANTHROPIC_MODEL, messages=MESSAGES, max_tokens=512)


def anthropic_stream(client: anthropic.Anthropic) -> None:
    for _ in client.messages.create(model=ANTHROPIC_MODEL, messages=MESSAGES, max_tokens=512, stream=True):
        pass


OPENAI_CHAT_BODY = openai_chat_body()
OPENAI_STREAM_CHUNKS = openai_stream_chunks()
ANTHROPIC_MESSAGE_BODY = anthropic_message_body()
ANTHROPIC_STREAM_CHUNKS = anthropic_stream_chunks()

CALLS: dict[str, dict[str, Callable]] = {
    "openai": {"chat": openai_chat, "stream": openai_stream},
    "anthropic": {"chat": anthropic_message, "stream": anthropic_stream},
}
"""Call type -> function of a client, per SDK."""
