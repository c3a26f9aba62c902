"""Example agents for ``spanmeter bench`` tests: an agent span around a tool call and an openai chat
call over an in-memory transport (real SDK, real-shaped answers; no network).

Each request's input steers it: ``{"delay": s}`` makes the tool take that long (a slow request or,
past ``--timeout``, a timeout), ``{"fail": true}`` makes the API answer HTTP 500 (an error).
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx2
import openai
from opentelemetry import trace

import spanmeter
from bench import llm_fakes

MODEL = llm_fakes.OPENAI_MODEL
_ERROR = json.dumps({"error": {"message": "fake 500", "type": "server_error", "param": None, "code": None}}).encode()
_JSON = {"content-type": "application/json"}


def _reply(request: httpx2.Request) -> httpx2.Response:
    if b"please fail" in request.content:
        return httpx2.Response(500, headers=_JSON, content=_ERROR)
    return httpx2.Response(200, headers=_JSON, content=llm_fakes.OPENAI_CHAT_BODY)


_client = openai.OpenAI(api_key="sk-bench", base_url="http://llm.invalid/v1", max_retries=0,
                        http_client=httpx2.Client(transport=httpx2.MockTransport(_reply)))  # fmt: skip
_async_client = openai.AsyncOpenAI(api_key="sk-bench", base_url="http://llm.invalid/v1", max_retries=0,
                                   http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(_reply)))  # fmt: skip


def _messages(request: dict) -> list[dict]:
    return [{"role": "user", "content": "please fail" if request.get("fail") else "Summarise the report."}]


def answer(request: dict | None = None) -> str:
    """The sync agent."""
    request = request or {}
    with spanmeter.agent("support"):
        with spanmeter.tool("lookup"):
            time.sleep(request.get("delay", 0.0))
        reply = _client.chat.completions.create(model=MODEL, messages=_messages(request))
    return reply.choices[0].message.content


async def answer_async(request: dict | None = None) -> str:
    """The same agent, async."""
    request = request or {}
    with spanmeter.agent("support"):
        with spanmeter.tool("lookup"):
            await asyncio.sleep(request.get("delay", 0.0))
        reply = await _async_client.chat.completions.create(model=MODEL, messages=_messages(request))
    return reply.choices[0].message.content


def burst() -> None:
    """Ends 2,000 spans in a tight loop: more than a small span queue can take."""
    tracer = trace.get_tracer("bench-burst")
    for _ in range(2000):
        tracer.start_span("step").end()
