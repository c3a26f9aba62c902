"""LangChain's ChatOpenAI over the real openai SDK, answered by a scripted in-memory server.

Shared by the LangChain instrumentation tests and ``tests/bench/bench_langchain.py``:
the same chain (prompt | ChatOpenAI | parser) and the same real-shaped responses.
"""

from __future__ import annotations

import httpx2
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI

from support import openai_fakes


def chat_model(server: openai_fakes.Server, **kwargs) -> ChatOpenAI:
    """ChatOpenAI whose sync and async HTTP clients are answered by ``server``."""
    return ChatOpenAI(
        model=openai_fakes.MODEL,
        api_key="sk-test",
        base_url=openai_fakes.BASE_URL,
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(server)),
        http_async_client=httpx2.AsyncClient(transport=httpx2.MockTransport(server)),
        **kwargs,
    )


def small_chain(model):
    """The chain of the issue's figures: prompt | model | parser."""
    return (
        ChatPromptTemplate.from_messages([("system", "Be brief."), ("user", "{question}")]) | model | StrOutputParser()
    )
