"""A short agent run as a new user would record it, written through the SDK with spanmeter's processor
(so spans carry real prices): for the report's time buckets, charts, conversations and drill-downs."""

from __future__ import annotations

import os

from spanmeter import semconv
from support.traces import Call, write_with_sdk

S = 10**9
MS = 10**6


TOOL = {semconv.GEN_AI_OPERATION_NAME: "execute_tool", semconv.GEN_AI_TOOL_NAME: "search"}


def chat(model: str, start_ns: int, duration_ns: int, tokens: tuple[int, int], *, error: bool = False) -> Call:
    return Call(f"chat {model}", start_ns, duration_ns, {
        semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_REQUEST_MODEL: model, semconv.GEN_AI_USAGE_INPUT_TOKENS: tokens[0],
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: tokens[1]}, error=error)  # fmt: skip


def short_run(seconds: int = 40) -> list[Call]:
    """One agent turn per second over ``seconds`` s in 4 conversations: each turn a planning call
    (gpt-4o), a tool call and an answer (gpt-4o-mini); an error burst in the middle fifth, a slow
    phase in the last fifth."""
    roots = []
    for second in range(seconds):
        start = second * S
        burst = 2 * seconds // 5 <= second < 3 * seconds // 5
        slow = second >= 4 * seconds // 5
        plan_ns = (2400 if slow else 300 + 13 * (second % 7)) * MS
        children = [
            chat("gpt-4o", start + MS, plan_ns, (600 + 7 * second, 120), error=burst and second % 2 == 0),
            Call("execute_tool search", start + plan_ns + 2 * MS, 40 * MS, TOOL),
            chat("gpt-4o-mini", start + plan_ns + 50 * MS, 200 * MS, (900 + second, 300)),
        ]
        roots.append(Call("invoke_agent planner", start, plan_ns + 300 * MS, {
            semconv.GEN_AI_OPERATION_NAME: "invoke_agent", semconv.GEN_AI_AGENT_NAME: "planner",
            semconv.GEN_AI_CONVERSATION_ID: f"conversation-{second % 4}"}, children=children))  # fmt: skip
    return roots


def write_short_run(path: str | os.PathLike[str], seconds: int = 40) -> None:
    write_with_sdk(path, short_run(seconds), service="shop")
