"""Every LLM and framework instrumentor, described the same way for the contract tests
(tests/unit/test_instrumentor_contract.py).

A case drives one instrumentor through its real SDK or framework over a scripted transport: one
plain call, one stream, one call the API refuses, and the places in spanmeter's own code
where a fault can be injected. A new instrumentor joins the contract by adding a case
to :data:`CASES`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, ClassVar

import anthropic
import httpx2
import openai
from agents import Agent as SdkAgent
from agents import Runner
from agents.models.openai_responses import OpenAIResponsesModel
from agno.agent import Agent
from agno.models.openai import OpenAIChat
from agno.run.base import RunStatus

from spanmeter.instrumentation import agno as spanmeter_agno
from spanmeter.instrumentation import anthropic as spanmeter_anthropic
from spanmeter.instrumentation import genai
from spanmeter.instrumentation import langchain as spanmeter_langchain
from spanmeter.instrumentation import openai as spanmeter_openai
from spanmeter.instrumentation import openai_agents as spanmeter_agents
from spanmeter.instrumentation.langchain import handler as langchain_handler
from spanmeter.instrumentation.langchain import payloads as langchain_payloads
from support import agno_apps, anthropic_fakes, langchain_fakes, openai_fakes
from support import scripted_llm as llm


class InstrumentorCase:
    """One instrumentor: how to call its SDK, what the app must get back, where faults go."""

    name: str
    instrumentor: type
    component: str  # of spanmeter.internal.errors
    api_error: type[BaseException]  # what the SDK raises for a 429
    call_result: Any  # what :meth:`call` returns, with or without spanmeter
    stream_result: list[Any]  # what :meth:`stream` returns
    spans_per_call: int = 1  # spans of one :meth:`call`, also of one that fails
    spans_per_round: int  # spans of one :meth:`call` + one :meth:`stream`
    # stage -> (owner, attribute) to replace by a raising function; a fault in "describe" loses the spans
    fault_targets: dict[str, tuple[Any, str]]

    def spans_with_fault(self, stage: str) -> int:
        """Spans of one call + one stream with a fault at ``stage``: a call that cannot be described gets none."""
        return 0 if stage == "describe" else self.spans_per_round

    def client(self, stage: str | None = None) -> Any:
        """A client whose server answers one call and then one stream."""
        raise NotImplementedError

    def failing_client(self) -> Any:
        """A client whose server answers 429 (no retries)."""
        raise NotImplementedError

    def call(self, client: Any) -> Any:
        raise NotImplementedError

    def stream(self, client: Any) -> list[Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class OpenAICase(InstrumentorCase):
    name = "openai"
    instrumentor = spanmeter_openai.OpenAIInstrumentor
    component = "instrumentation.openai"
    api_error = openai.RateLimitError
    call_result = "chatcmpl-bench"
    stream_result: ClassVar[list[Any]] = ["chatcmpl-stream"] * 6
    spans_per_round = 2
    fault_targets: ClassVar[dict[str, tuple[Any, str]]] = {
        "describe": (genai, "add_request_params"),
        "result": (spanmeter_openai._CHAT_KIND, "attributes"),
        "chunk": (spanmeter_openai._ChatChunks, "add"),
        "stream end": (spanmeter_openai._ChatStream, "_self_final_attributes"),
    }

    def client(self, stage: str | None = None) -> Any:
        return openai_fakes.server(openai_fakes.llm_fakes.OPENAI_CHAT_BODY, openai_fakes.chat_chunks()).client()

    def failing_client(self) -> Any:
        return openai_fakes.server(openai_fakes.json_reply(openai_fakes.error_body(429), status=429)).client()

    def _create(self, client: Any, **kwargs: Any) -> Any:
        return client.chat.completions.create(model=openai_fakes.MODEL, messages=openai_fakes.MESSAGES, **kwargs)

    def call(self, client: Any) -> Any:
        return self._create(client).id

    def stream(self, client: Any) -> list[Any]:
        return [chunk.id for chunk in self._create(client, stream=True)]


class AnthropicCase(InstrumentorCase):
    name = "anthropic"
    instrumentor = spanmeter_anthropic.AnthropicInstrumentor
    component = "instrumentation.anthropic"
    api_error = anthropic.RateLimitError
    call_result = anthropic_fakes.TEXT
    stream_result: ClassVar[list[Any]] = [
        "message_start", "content_block_start", *["content_block_delta"] * 10, "content_block_stop",
        "message_delta", "message_stop",
    ]  # fmt: skip
    spans_per_round = 2
    fault_targets: ClassVar[dict[str, tuple[Any, str]]] = {
        "describe": (genai, "add_request_params"),
        "result": (spanmeter_anthropic, "_message_attributes"),
        "event": (spanmeter_anthropic._MessageEvents, "add"),
        "stream end": (spanmeter_anthropic._MessageEvents, "attributes"),
        "sdk span": (genai, "add_request_params"),  # on the SDK's own span: no describe
    }

    def client(self, stage: str | None = None) -> Any:
        server = anthropic_fakes.server(anthropic_fakes.MESSAGE_BODY, anthropic_fakes.TEXT_STREAM)
        # None: the SDK's default, its own span (which spanmeter enriches); False: spanmeter's span
        return anthropic_fakes.client(server, open_telemetry=None if stage == "sdk span" else False)

    def failing_client(self) -> Any:
        reply = anthropic_fakes.json_reply(anthropic_fakes.error_body(429), status=429)
        return anthropic_fakes.client(anthropic_fakes.server(reply))

    def _create(self, client: Any, **kwargs: Any) -> Any:
        return client.messages.create(
            model=anthropic_fakes.MODEL, messages=anthropic_fakes.MESSAGES, max_tokens=512, **kwargs
        )

    def call(self, client: Any) -> Any:
        return self._create(client).content[0].text

    def stream(self, client: Any) -> list[Any]:
        return [event.type for event in self._create(client, stream=True)]


class LangChainCase(InstrumentorCase):
    """ChatOpenAI over the openai SDK, LangChain's instrumentor alone: one ``chat`` span per model run."""

    name = "langchain"
    instrumentor = spanmeter_langchain.LangChainInstrumentor
    component = "instrumentation.langchain"
    api_error = openai.RateLimitError  # langchain-openai raises a subclass of it
    call_result = json.loads(openai_fakes.llm_fakes.OPENAI_CHAT_BODY)["choices"][0]["message"]["content"]
    stream_result: ClassVar[list[Any]] = ["", "Hello", ", ", "world", "", "", ""]
    spans_per_round = 2
    fault_targets: ClassVar[dict[str, tuple[Any, str]]] = {
        "describe": (langchain_payloads, "request_attributes"),
        "result": (langchain_payloads, "response_attributes"),
        "first generation": (langchain_payloads, "first_generation"),  # the run still ends
        "stream step": (spanmeter_langchain._Step, "enter"),
        "run context": (langchain_handler.OpenRuns, "context_for"),  # the model call still nests: spans end
    }

    def client(self, stage: str | None = None) -> Any:
        server = openai_fakes.server(openai_fakes.llm_fakes.OPENAI_CHAT_BODY, openai_fakes.chat_chunks())
        return langchain_fakes.chat_model(server)

    def failing_client(self) -> Any:
        reply = openai_fakes.json_reply(openai_fakes.error_body(429), status=429)
        return langchain_fakes.chat_model(openai_fakes.server(reply))

    def call(self, client: Any) -> Any:
        return client.invoke(openai_fakes.MESSAGES).content

    def stream(self, client: Any) -> list[Any]:
        return [chunk.content for chunk in client.stream(openai_fakes.MESSAGES)]


class AgnoRunFailed(Exception):
    """Agno answers a failed model call with a run of status ``error``, not an exception: what the app checks."""


class AgnoCase(InstrumentorCase):
    """An Agno agent over OpenAIChat, Agno's instrumentor alone: ``invoke_agent`` and its ``chat`` span per run."""

    name = "agno"
    instrumentor = spanmeter_agno.AgnoInstrumentor
    component = "instrumentation.agno"
    api_error = AgnoRunFailed
    call_result = "Sunny"
    stream_result: ClassVar[list[Any]] = ["", "Sunny"]
    spans_per_call = 2
    spans_per_round = 4
    fault_targets: ClassVar[dict[str, tuple[Any, str]]] = {
        "describe": (spanmeter_agno, "_run_attributes"),  # the run's span is lost, its chat span stays
        "model family": (spanmeter_agno, "_family"),  # the chat span is lost, the run's stays
        "run result": (spanmeter_agno._RunScope, "end_attributes"),
        "usage": (spanmeter_agno._ModelScope, "_add_usage"),
        "usage attributes": (spanmeter_agno._ModelScope, "usage_attributes"),
    }

    def spans_with_fault(self, stage: str) -> int:
        return self.spans_per_round // 2 if stage in ("describe", "model family") else self.spans_per_round

    def _agent(self, model: OpenAIChat) -> Agent:
        return Agent(name="solo agent", model=model, telemetry=False)

    def client(self, stage: str | None = None) -> Any:
        return self._agent(agno_apps.openai_model(llm.ScriptedLLM([llm.text(self.call_result)])))

    def failing_client(self) -> Any:
        reply = openai_fakes.json_reply(openai_fakes.error_body(429), status=429)
        sdk = openai.OpenAI(api_key="sk-test", base_url=llm.BASE_URL, max_retries=0,
                            http_client=httpx2.Client(transport=httpx2.MockTransport(openai_fakes.server(reply))))  # fmt: skip
        return self._agent(OpenAIChat(id=llm.MODEL, api_key="sk-test", client=sdk))

    def call(self, client: Any) -> Any:
        output = client.run("Weather in Paris?")
        if output.status is RunStatus.error:
            raise AgnoRunFailed(output.content)
        return output.content

    def stream(self, client: Any) -> list[Any]:
        return [event.content for event in client.run("Weather in Paris?", stream=True)]


class OpenAIAgentsCase(InstrumentorCase):
    """An Agents SDK agent over the Responses API, its instrumentor alone: workflow, agent and chat span per run."""

    name = "openai_agents"
    instrumentor = spanmeter_agents.OpenAIAgentsInstrumentor
    component = "instrumentation.openai_agents"
    api_error = openai.RateLimitError
    call_result = "Sunny"
    stream_result: ClassVar[list[Any]] = [
        "agent_updated_stream_event", *["raw_response_event"] * 4, "run_item_stream_event",
    ]  # fmt: skip
    spans_per_call = 3
    spans_per_round = 6
    fault_targets: ClassVar[dict[str, tuple[Any, str]]] = {
        "describe": (spanmeter_agents, "_start_attributes"),  # agent and chat spans are lost, the workflow's stay
        "result": (spanmeter_agents, "_end_attributes"),
        "model context": (spanmeter_agents.SpanmeterTracingProcessor, "context_of"),
    }

    def spans_with_fault(self, stage: str) -> int:
        return self.spans_per_round // 3 if stage == "describe" else self.spans_per_round

    def _agent(self, sdk: openai.AsyncOpenAI) -> SdkAgent:
        return SdkAgent(name="solo agent", model=OpenAIResponsesModel(model=llm.MODEL, openai_client=sdk))

    def client(self, stage: str | None = None) -> Any:
        return self._agent(llm.ScriptedLLM([llm.text(self.call_result)]).async_client())

    def failing_client(self) -> Any:
        reply = openai_fakes.json_reply(openai_fakes.error_body(429), status=429)
        transport = httpx2.MockTransport(openai_fakes.server(reply))
        sdk = openai.AsyncOpenAI(api_key="sk-test", base_url=llm.BASE_URL, max_retries=0,
                                 http_client=httpx2.AsyncClient(transport=transport))  # fmt: skip
        return self._agent(sdk)

    def call(self, client: Any) -> Any:
        return Runner.run_sync(client, "Weather in Paris?").final_output

    def stream(self, client: Any) -> list[Any]:
        async def events() -> list[Any]:
            return [event.type async for event in Runner.run_streamed(client, "Weather in Paris?").stream_events()]

        return asyncio.run(events())


CASES: list[InstrumentorCase] = [OpenAICase(), AnthropicCase(), LangChainCase(), AgnoCase(), OpenAIAgentsCase()]

FAULTS: list[tuple[InstrumentorCase, str]] = [(case, stage) for case in CASES for stage in case.fault_targets]
"""(case, stage) pairs: every place of every instrumentor where a fault is injected."""


def raising(message: str) -> Callable[..., Any]:
    """A stand-in for spanmeter code that fails with ValueError(message) however it is called."""

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise ValueError(message)

    return boom
