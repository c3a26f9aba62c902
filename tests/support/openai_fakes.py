"""Real-shaped OpenAI API bodies and a scripted in-memory transport for the instrumentation tests.

Shapes follow the SDK's own types (``openai.types.chat``, ``openai.types.responses``,
``openai.types.create_embedding_response``) and the API reference; the plain chat body
and stream come from ``tests/bench/llm_fakes.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

import httpx2
import openai

from bench import llm_fakes

MODEL = llm_fakes.OPENAI_MODEL
RESPONSE_MODEL = llm_fakes.OPENAI_RESPONSE_MODEL
MESSAGES = llm_fakes.MESSAGES
BASE_URL = "https://llm.example.com:8443/v1"
_JSON = {"content-type": "application/json"}
_SSE = {"content-type": "text/event-stream"}

Reply = Callable[[httpx2.Request], httpx2.Response]


def chat_tool_call_body() -> bytes:
    """A tool-calling completion of a reasoning model, with cached prompt tokens."""
    return json.dumps({
        "id": "chatcmpl-tools",
        "object": "chat.completion",
        "created": 1_760_000_000,
        "model": "o4-mini-2025-04-16",
        "service_tier": "default",
        "system_fingerprint": None,
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "annotations": [],
                "tool_calls": [
                    {"id": "call_weather", "type": "function",
                     "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
                    {"id": "call_time", "type": "function",
                     "function": {"name": "get_time", "arguments": "{\"tz\": \"CET\"}"}},
                ],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }],
        "usage": {
            "prompt_tokens": 2048,
            "completion_tokens": 300,
            "total_tokens": 2348,
            "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 192, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        },
    }).encode()  # fmt: skip


def chat_chunks(*, usage: bool = True, tool_call: bool = False) -> list[bytes]:
    """A chat stream; ``usage`` adds the final usage chunk that ``include_usage`` asks for."""

    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {"id": "chatcmpl-stream", "object": "chat.completion.chunk", "created": 1_760_000_000,
                "model": RESPONSE_MODEL, "system_fingerprint": "fp_1", "usage": None,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}  # fmt: skip

    events = [chunk({"role": "assistant", "content": ""})]
    if tool_call:
        events += [
            chunk({"tool_calls": [{"index": 0, "id": "call_lookup", "type": "function",
                                   "function": {"name": "lookup", "arguments": ""}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{\"q\": \"x\"}"}}]}),
            chunk({}, finish="tool_calls"),
        ]  # fmt: skip
    else:
        events += [chunk({"content": word}) for word in ("Hello", ", ", "world")]
        events.append(chunk({}, finish="stop"))
    if usage:
        events.append({"id": "chatcmpl-stream", "object": "chat.completion.chunk", "created": 1_760_000_000,
                       "model": RESPONSE_MODEL, "system_fingerprint": "fp_1", "choices": [],
                       "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25,
                                 "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
                                 "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}}})  # fmt: skip
    return [f"data: {json.dumps(event)}\n\n".encode() for event in events] + [b"data: [DONE]\n\n"]


def response_object(status: str = "completed") -> dict:
    """A Responses API ``Response``: a reasoning item, a function call and a message."""
    return {
        "id": "resp_123",
        "object": "response",
        "created_at": 1_760_000_000,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": 256,
        "model": "gpt-4.1-2025-04-14",
        "output": [
            {"id": "rs_1", "type": "reasoning", "summary": []},
            {"id": "fc_1", "type": "function_call", "call_id": "call_search", "name": "search",
             "arguments": "{\"q\": \"otel\"}", "status": "completed"},
            {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "Hi there", "annotations": []}]},
        ],
        "parallel_tool_calls": True,
        "temperature": 0.3,
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "usage": {
            "input_tokens": 500,
            "input_tokens_details": {"cached_tokens": 128},
            "output_tokens": 90,
            "output_tokens_details": {"reasoning_tokens": 40},
            "total_tokens": 590,
        },
    }  # fmt: skip


def response_body() -> bytes:
    return json.dumps(response_object()).encode()


def response_events() -> list[bytes]:
    """``response.created``, the output items, text deltas, ``response.completed`` (with the whole Response)."""
    created = response_object(status="in_progress")
    created.update(output=[], usage=None)
    events: list[tuple[str, dict]] = [("response.created", {"type": "response.created", "response": created})]
    for index, item in enumerate(response_object()["output"]):
        if item["type"] == "message":
            item = {**item, "status": "in_progress", "content": []}
        events.append(("response.output_item.added",
                       {"type": "response.output_item.added", "output_index": index, "item": item}))  # fmt: skip
    events.append(("response.content_part.added", {
        "type": "response.content_part.added", "item_id": "msg_1", "output_index": 2, "content_index": 0,
        "part": {"type": "output_text", "text": "", "annotations": []},
    }))  # fmt: skip
    events += [
        ("response.output_text.delta", {"type": "response.output_text.delta", "item_id": "msg_1",
                                        "output_index": 2, "content_index": 0, "delta": word, "logprobs": []})
        for word in ("Hi", " there")
    ]  # fmt: skip
    events.append(("response.completed", {"type": "response.completed", "response": response_object()}))
    return [
        f"event: {name}\ndata: {json.dumps({**data, 'sequence_number': number})}\n\n".encode()
        for number, (name, data) in enumerate(events)
    ]


def embeddings_body() -> bytes:
    return json.dumps({
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": [0.1, -0.2, 0.3]} for i in range(2)],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 8, "total_tokens": 8},
    }).encode()  # fmt: skip


def error_body(status: int) -> bytes:
    kind = {400: "invalid_request_error", 429: "rate_limit_exceeded", 500: "server_error"}[status]
    return json.dumps({"error": {"message": f"fake {status}", "type": kind, "param": None, "code": None}}).encode()


# --- replies -------------------------------------------------------------------


def json_reply(body: bytes, status: int = 200) -> Reply:
    headers = {**_JSON, "retry-after-ms": "1"}  # the SDK's retries wait 1 ms
    return lambda request: httpx2.Response(status, headers=headers, content=body)


def sse_reply(chunks: list[bytes], fail_after: int | None = None) -> Reply:
    """Server-sent events; ``fail_after`` breaks the connection after that many chunks."""

    class Body(httpx2.SyncByteStream, httpx2.AsyncByteStream):
        def __iter__(self):
            for i, chunk in enumerate(chunks):
                if i == fail_after:
                    raise httpx2.ReadError("connection reset mid-stream")
                yield chunk

        async def __aiter__(self):
            for chunk in self:
                yield chunk

    return lambda request: httpx2.Response(200, headers=_SSE, stream=Body())


class Server:
    """Answers requests with scripted replies in order (the last one repeats) and remembers them."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return reply(request)

    def client(self, max_retries: int = 0) -> openai.OpenAI:
        transport = httpx2.MockTransport(self)
        return openai.OpenAI(api_key="sk-test", base_url=BASE_URL, max_retries=max_retries,
                             http_client=httpx2.Client(transport=transport))  # fmt: skip

    def async_client(self, max_retries: int = 0) -> openai.AsyncOpenAI:
        transport = httpx2.MockTransport(self)
        return openai.AsyncOpenAI(api_key="sk-test", base_url=BASE_URL, max_retries=max_retries,
                                  http_client=httpx2.AsyncClient(transport=transport))  # fmt: skip


def server(*replies: Reply | bytes | Iterable[bytes]) -> Server:
    """Bytes are a JSON body, a list of bytes an SSE stream, a callable a reply."""
    return Server(*(
        reply if callable(reply) else json_reply(reply) if isinstance(reply, bytes) else sse_reply(list(reply))
        for reply in replies
    ))  # fmt: skip
