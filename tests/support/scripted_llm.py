"""A scripted OpenAI endpoint for agent-framework tests: each agent's model gets its own script.

Frameworks (Agno, the OpenAI Agents SDK) drive the real ``openai`` SDK; this answers its
requests over an in-memory ``httpx2`` transport with real-shaped bodies. A script is a list
of :class:`Step` (a text answer or tool calls, with the usage the API would report); each
request takes the next step, cycling, so a run can be repeated. The body shape follows the
request: Chat Completions or Responses API (by path), JSON or server-sent events (by the
request's ``stream`` flag, with the usage chunk ``stream_options.include_usage`` asks for).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass, field

import httpx2
import openai

BASE_URL = "https://llm.example.com/v1"
MODEL = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
_CREATED = 1_760_000_000


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict
    call_id: str


@dataclass(frozen=True)
class Step:
    """One model answer: ``text`` or ``tool_calls``, and the tokens the API reports for it."""

    text: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    input_tokens: int = 100
    output_tokens: int = 10
    cached_tokens: int = 0

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"


def text(content: str, input_tokens: int = 100, output_tokens: int = 10, cached_tokens: int = 0) -> Step:
    return Step(text=content, input_tokens=input_tokens, output_tokens=output_tokens, cached_tokens=cached_tokens)


def call(name: str, arguments: dict, call_id: str, input_tokens: int = 100, output_tokens: int = 10) -> Step:
    return Step(tool_calls=(ToolCall(name, arguments, call_id),), input_tokens=input_tokens,
                output_tokens=output_tokens)  # fmt: skip


# --- Chat Completions ----------------------------------------------------------


def _chat_usage(step: Step) -> dict:
    return {
        "prompt_tokens": step.input_tokens,
        "completion_tokens": step.output_tokens,
        "total_tokens": step.input_tokens + step.output_tokens,
        "prompt_tokens_details": {"cached_tokens": step.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    }  # fmt: skip


def _chat_tool_calls(step: Step) -> list[dict]:
    return [
        {"id": c.call_id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
        for c in step.tool_calls
    ]


def chat_body(step: Step, number: int) -> bytes:
    message = {"role": "assistant", "content": step.text, "refusal": None, "annotations": []}
    if step.tool_calls:
        message["tool_calls"] = _chat_tool_calls(step)
    return json.dumps({
        "id": f"chatcmpl-{number}", "object": "chat.completion", "created": _CREATED, "model": RESPONSE_MODEL,
        "service_tier": "default", "system_fingerprint": "fp_1",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": step.finish_reason}],
        "usage": _chat_usage(step),
    }).encode()  # fmt: skip


def chat_events(step: Step, number: int, include_usage: bool) -> list[dict]:
    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {"id": f"chatcmpl-{number}", "object": "chat.completion.chunk", "created": _CREATED,
                "model": RESPONSE_MODEL, "system_fingerprint": "fp_1", "usage": None,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}  # fmt: skip

    events = [chunk({"role": "assistant", "content": ""})]
    for index, tool_call in enumerate(_chat_tool_calls(step)):
        name_only = {**tool_call, "function": {"name": tool_call["function"]["name"], "arguments": ""}}
        events.append(chunk({"tool_calls": [{"index": index, **name_only}]}))
        events.append(
            chunk({"tool_calls": [{"index": index, "function": {"arguments": tool_call["function"]["arguments"]}}]})
        )
    if step.text:
        events += [chunk({"content": word}) for word in re.findall(r"\S+\s*", step.text)]
    events.append(chunk({}, finish=step.finish_reason))
    if include_usage:
        events.append({"id": f"chatcmpl-{number}", "object": "chat.completion.chunk", "created": _CREATED,
                       "model": RESPONSE_MODEL, "system_fingerprint": "fp_1", "choices": [],
                       "usage": _chat_usage(step)})  # fmt: skip
    return events


# --- Responses API -------------------------------------------------------------


def response_object(step: Step, number: int) -> dict:
    output: list[dict] = [
        {"id": f"fc_{c.call_id}", "type": "function_call", "call_id": c.call_id, "name": c.name,
         "arguments": json.dumps(c.arguments), "status": "completed"}
        for c in step.tool_calls
    ]  # fmt: skip
    if step.text is not None:
        output.append({"id": f"msg_{number}", "type": "message", "role": "assistant", "status": "completed",
                       "content": [{"type": "output_text", "text": step.text, "annotations": []}]})  # fmt: skip
    return {
        "id": f"resp_{number}", "object": "response", "created_at": _CREATED, "status": "completed", "error": None,
        "incomplete_details": None, "instructions": None, "max_output_tokens": None, "model": RESPONSE_MODEL,
        "output": output, "parallel_tool_calls": True, "temperature": 1.0, "tool_choice": "auto", "tools": [],
        "top_p": 1.0,
        "usage": {"input_tokens": step.input_tokens, "input_tokens_details": {"cached_tokens": step.cached_tokens},
                  "output_tokens": step.output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
                  "total_tokens": step.input_tokens + step.output_tokens},
    }  # fmt: skip


def response_events(step: Step, number: int) -> list[dict]:
    created = {**response_object(step, number), "status": "in_progress", "output": [], "usage": None}
    events = [{"type": "response.created", "response": created}]
    for index, item in enumerate(response_object(step, number)["output"]):
        events.append({"type": "response.output_item.added", "output_index": index, "item": item})
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    events.append({"type": "response.completed", "response": response_object(step, number)})
    return [{**event, "sequence_number": n} for n, event in enumerate(events)]


# --- the endpoint ----------------------------------------------------------------


def _sse(events: list[dict], named: bool) -> bytes:
    lines = [(f"event: {event['type']}\n" if named else "") + f"data: {json.dumps(event)}\n\n" for event in events]
    return "".join(lines + ([] if named else ["data: [DONE]\n\n"])).encode()


@dataclass
class ScriptedLLM:
    """Answers each request with the next :class:`Step` of ``script`` (cycling); counts what it served."""

    script: list[Step]
    served: list[Step] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._steps = itertools.cycle(self.script)
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content or b"{}")
        with self._lock:
            step, number = next(self._steps), next(self._numbers)
            self.served.append(step)
        responses_api = request.url.path.endswith("/responses")
        if body.get("stream"):
            if responses_api:
                content = _sse(response_events(step, number), named=True)
            else:
                include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                content = _sse(chat_events(step, number, include_usage), named=False)
            return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=content)
        content = json.dumps(response_object(step, number)).encode() if responses_api else chat_body(step, number)
        return httpx2.Response(200, headers={"content-type": "application/json"}, content=content)

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(api_key="sk-test", base_url=BASE_URL, max_retries=0,
                             http_client=httpx2.Client(transport=httpx2.MockTransport(self)))  # fmt: skip

    def async_client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(api_key="sk-test", base_url=BASE_URL, max_retries=0,
                                  http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(self)))  # fmt: skip
