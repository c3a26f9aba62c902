"""Agno apps for the tests and the bench: real ``Agent`` / ``Team`` objects whose models call the
real openai SDK over :mod:`support.scripted_llm`.

Agno's run telemetry (a call to Agno's API per run) is off: the tests stay offline.
The team delegates twice (to an agent with a tool, then to a writer) and answers; each model
reports distinct token counts, so sums over spans can be checked against Agno's run metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

from agno.agent import Agent
from agno.models.openai import OpenAIChat
from agno.team import Team

from support import scripted_llm as llm


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def openai_model(script: llm.ScriptedLLM) -> OpenAIChat:
    return OpenAIChat(id=llm.MODEL, api_key="sk-test", client=script.client(), async_client=script.async_client())


@dataclass
class TeamApp:
    team: Team
    leader: llm.ScriptedLLM
    weather: llm.ScriptedLLM
    writer: llm.ScriptedLLM

    @property
    def llm_calls(self) -> int:
        return len(self.leader.served) + len(self.weather.served) + len(self.writer.served)


def team_app() -> TeamApp:
    leader = llm.ScriptedLLM([
        llm.call("delegate_task_to_member", {"member_id": "weather-agent", "task": "Weather in Paris?"}, "call_d1",
                 300, 20),
        llm.call("delegate_task_to_member", {"member_id": "writer-agent", "task": "Write it up"}, "call_d2", 400, 25),
        llm.text("Sunny in Paris, written up.", 500, 30),
    ])  # fmt: skip
    weather = llm.ScriptedLLM([llm.call("get_weather", {"city": "Paris"}, "call_w1", 110, 11),
                               llm.text("It is sunny in Paris", 120, 12)])  # fmt: skip
    writer = llm.ScriptedLLM([llm.text("A sunny note", 130, 13, cached_tokens=64)])
    weather_agent = Agent(
        name="weather agent", id="weather-agent", model=openai_model(weather), tools=[get_weather], telemetry=False
    )
    writer_agent = Agent(name="writer agent", id="writer-agent", model=openai_model(writer), telemetry=False)
    team = Team(name="research team", id="research-team", members=[weather_agent, writer_agent],
                model=openai_model(leader), telemetry=False)  # fmt: skip
    return TeamApp(team, leader, weather, writer)


def tool_agent(stream: bool = False, tools: list | None = None) -> tuple[Agent, llm.ScriptedLLM]:
    """An agent that calls ``get_weather`` (or the first of ``tools``) once and answers."""
    tools = tools or [get_weather]
    name = getattr(tools[0], "__name__", "get_weather")
    script = llm.ScriptedLLM([llm.call(name, {"city": "Paris"}, "call_t1", 150, 15), llm.text("Done", 160, 16)])
    return Agent(name="solo agent", model=openai_model(script), tools=tools, stream=stream, telemetry=False), script
