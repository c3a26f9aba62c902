"""OpenAI Agents SDK apps for the tests: a triage agent that hands off to an agent with a function
tool and an input guardrail, over the real openai SDK and :mod:`support.scripted_llm` (Responses API).
"""

from __future__ import annotations

from dataclasses import dataclass

from agents import Agent, GuardrailFunctionOutput, ModelSettings, function_tool, input_guardrail
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from agents.models.openai_responses import OpenAIResponsesModel
from opentelemetry import trace

from support import scripted_llm as llm


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city (looked up inside a span of the tool's own, which nests under the tool's)."""
    with trace.get_tracer("weather-service").start_as_current_span("weather lookup"):
        return f"sunny in {city}"


@input_guardrail(name="polite")
def polite(context, agent, user_input) -> GuardrailFunctionOutput:
    return GuardrailFunctionOutput(output_info="ok", tripwire_triggered=False)


@dataclass
class HandoffApp:
    triage: Agent
    script: llm.ScriptedLLM


def handoff_app(api: str = "responses") -> HandoffApp:
    """``api``: the Responses API (the SDK's default model) or Chat Completions."""
    script = llm.ScriptedLLM([
        llm.call("transfer_to_weather_agent", {}, "call_h1", 200, 20),
        llm.call("get_weather", {"city": "Paris"}, "call_t1", 210, 21),
        llm.text("Sunny in Paris", 220, 22),
    ])  # fmt: skip
    model_class = OpenAIResponsesModel if api == "responses" else OpenAIChatCompletionsModel
    model = model_class(model=llm.MODEL, openai_client=script.async_client())
    settings = ModelSettings(include_usage=True)  # streamed chat usage from a non-OpenAI base URL
    weather = Agent(name="weather agent", model=model, model_settings=settings, tools=[get_weather])
    triage = Agent(name="triage agent", model=model, model_settings=settings, handoffs=[weather],
                   input_guardrails=[polite])  # fmt: skip
    return HandoffApp(triage, script)
