"""A multi-agent data-analysis workflow that runs fully offline: spanmeter's demo app.

    opentelemetry-instrument python examples/agent_pipeline.py     # or: spanmeter demo

For each analysis request, an orchestrator agent asks an LLM what to do and follows
its tool calls: ``run_pipeline`` runs two pipeline stages (extract, transform) over a
generated orders dataset, ``aggregate_by_region`` sums revenue per region in a thread
pool. An analyst agent then asks a second model to write the summary, and a reviewer,
a LangGraph agent (``langchain.agents.create_agent`` over ``ChatOpenAI``), checks the
top region's figure with a tool. The LLM calls go through the real ``openai`` SDK to a
fake OpenAI server inside this process (a mock HTTP transport with realistic responses
and token usage), so no network or API key is needed and the openai instrumentation
sees ordinary chat completions. Without LangChain installed the reviewer is skipped.

Nothing here sets up OpenTelemetry: that is ``opentelemetry-instrument``'s job (or
``spanmeter.configure()``'s). Run plainly, the script works the same, without spans.
The stages make no LLM calls, so their cost is compute time: ``spanmeter demo`` prices
it at 0.20 USD/hour unless ``SPANMETER_COMPUTE_USD_PER_HOUR`` says otherwise; run
directly, set that variable to see the stages' cost per GB.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import random
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import openai

import spanmeter

REGIONS = ("emea", "amer", "apac", "latam")
PRODUCTS = ("widget", "gadget", "sprocket", "gizmo", "doohickey")
ORDERS = 5_000
SEED = 7
NEWEST_ORDER_AGE_S = 90.0
REQUESTS = (
    ("ana", "finance", "Which region drove revenue this week, and is the data trustworthy?"),
    ("ben", "growth", "Where should we push the next campaign?"),
    ("ana", "finance", "Summarize order quality for the weekly report."),
)


# --- the dataset -------------------------------------------------------------


def make_orders(count: int = ORDERS, seed: int = SEED, now: float | None = None) -> bytes:
    """A CSV of ``count`` orders; deterministic apart from timestamps, so its size is known.

    About 1 % of rows lack a region and 0.8 % have a negative quantity, for the
    quality checks to find. The newest order is NEWEST_ORDER_AGE_S seconds old.
    """
    now = time.time() if now is None else now
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("order_id", "region", "product", "quantity", "unit_price", "created_at"))
    for i in range(count):
        region = "" if i % 97 == 13 else rng.choice(REGIONS)
        quantity = -1 if i % 131 == 7 else rng.randint(1, 20)
        created_at = now - NEWEST_ORDER_AGE_S - (count - 1 - i) * 3.0
        writer.writerow((f"o-{i:06d}", region, rng.choice(PRODUCTS), quantity,
                         f"{rng.uniform(2, 250):.2f}", f"{created_at:.3f}"))  # fmt: skip
    return out.getvalue().encode()


# --- the pipeline ------------------------------------------------------------


@spanmeter.stage("extract", source="orders")
def extract(raw: bytes) -> list[dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(raw.decode())))
    spanmeter.record_data(bytes=len(raw), records=len(rows))
    return rows


@spanmeter.stage("transform", source="orders")
def transform(rows: list[dict[str, str]]) -> list[dict[str, object]]:
    complete = [row for row in rows if all(row.values())]
    valid = [row for row in complete if int(row["quantity"]) > 0]
    clean = [
        {"region": row["region"], "product": row["product"],
         "revenue": int(row["quantity"]) * float(row["unit_price"]),
         "created_at": float(row["created_at"])}
        for row in valid
    ]  # fmt: skip
    spanmeter.record_data(bytes=len(json.dumps(clean).encode()), records=len(clean))
    spanmeter.record_quality("completeness", len(complete) / len(rows))
    spanmeter.record_quality("validity", len(valid) / len(complete))
    spanmeter.record_freshness(time.time() - max(row["created_at"] for row in clean))
    return clean


class Workspace:
    """What the tools of one request share: the cleaned orders."""

    def __init__(self) -> None:
        self.orders: list[dict[str, object]] = []

    @spanmeter.tool("run_pipeline")
    def run_pipeline(self, source: str) -> dict[str, object]:
        raw = make_orders()
        self.orders = transform(extract(raw))
        return {"source": source, "bytes": len(raw), "clean_records": len(self.orders)}

    @spanmeter.tool("aggregate_by_region")
    def aggregate_by_region(self) -> dict[str, float]:
        by_region = defaultdict(list)
        for order in self.orders:
            by_region[order["region"]].append(order["revenue"])
        with ThreadPoolExecutor(max_workers=4) as pool:  # spans keep their parent in workers
            totals = pool.map(self._region_total, by_region.items())
        return dict(totals)

    @staticmethod
    @spanmeter.tool("sum_revenue")
    def _region_total(item: tuple[str, list[float]]) -> tuple[str, float]:
        region, revenues = item
        return region, round(sum(revenues), 2)


TOOLS = [
    {"type": "function", "function": {
        "name": "run_pipeline", "description": "Extract and clean a dataset.",
        "parameters": {"type": "object", "properties": {"source": {"type": "string"}},
                       "required": ["source"]}}},
    {"type": "function", "function": {
        "name": "aggregate_by_region", "description": "Revenue per region of the cleaned data.",
        "parameters": {"type": "object", "properties": {}}}},
]  # fmt: skip


# --- the agents --------------------------------------------------------------


@spanmeter.agent("orchestrator")
def orchestrator(client: openai.OpenAI, question: str) -> dict[str, float]:
    """Follow the planner model's tool calls until it stops; return the region totals."""
    workspace = Workspace()
    tools = {"run_pipeline": workspace.run_pipeline, "aggregate_by_region": workspace.aggregate_by_region}
    messages: list[dict[str, object]] = [
        {"role": "system", "content": "You plan data analyses. Use the tools."},
        {"role": "user", "content": question},
    ]
    results: dict[str, object] = {}
    while True:
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)
        message = reply.choices[0].message
        if not message.tool_calls:
            return results.get("aggregate_by_region", {})
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            result = tools[call.function.name](**json.loads(call.function.arguments))
            results[call.function.name] = result
            messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})


_TOTALS_LABEL = "Revenue by region: "


@spanmeter.agent("analyst")
def analyst(client: openai.OpenAI, question: str, totals: dict[str, float]) -> str:
    reply = client.chat.completions.create(
        model="gpt-4o",
        messages=[
            {"role": "system", "content": "You write short, factual business summaries."},
            {"role": "user", "content": f"{question}\n{_TOTALS_LABEL}{json.dumps(totals)}"},
        ],
    )
    return reply.choices[0].message.content


_REVIEW_TOOL = "region_total"


def review(question: str, totals: dict[str, float], summary: str) -> str | None:
    """The LangGraph reviewer checks the summary's top figure with a tool; None without LangChain."""
    try:
        from langchain.agents import create_agent
        from langchain_core.tools import tool
        from langchain_openai import ChatOpenAI
    except ImportError:
        return None

    @tool(_REVIEW_TOOL)
    def region_total(region: str) -> str:
        """Revenue of one region in the cleaned orders."""
        return f"{region}: {totals.get(region.lower(), 0.0):,.2f}"

    model = ChatOpenAI(model="gpt-4o-mini", api_key="sk-offline-demo", max_retries=0,
                       http_client=openai.DefaultHttpxClient(transport=_fake_transport()))  # fmt: skip
    reviewer = create_agent(model, [region_total], name="reviewer", system_prompt="You verify figures.")
    prompt = f"{question}\n{summary}\n{_TOTALS_LABEL}{json.dumps(totals)}"
    result = reviewer.invoke({"messages": [("user", prompt)]}, {"configurable": {"thread_id": question}})
    return result["messages"][-1].content


@spanmeter.workflow("orders-analysis")
def analyze(client: openai.OpenAI, question: str) -> str:
    totals = orchestrator(client, question)
    summary = analyst(client, question, totals)
    verdict = review(question, totals, summary)
    return summary if verdict is None else f"{summary} [{verdict}]"


# --- the fake OpenAI server ----------------------------------------------------


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)  # about four characters per token, as for English


def _top_region(messages: list[dict]) -> tuple[str, dict[str, float]]:
    totals = json.loads(messages[-1]["content"].split(_TOTALS_LABEL, 1)[1])
    return max(totals, key=totals.get), totals


def _review(messages: list[dict], tool_results: list[dict]) -> tuple[dict[str, object], str, str]:
    """The reviewer's turn: look the top region up, then confirm it."""
    message: dict[str, object] = {"role": "assistant", "content": None, "refusal": None}
    if not tool_results:
        arguments = json.dumps({"region": _top_region(messages)[0]})
        message["tool_calls"] = [{"id": f"call_review_{len(messages)}", "type": "function",
                                  "function": {"name": _REVIEW_TOOL, "arguments": arguments}}]  # fmt: skip
        return message, "tool_calls", arguments
    message["content"] = output = f"Checked: {tool_results[-1]['content']} matches the summary."
    return message, "stop", output


def _completion(request: dict) -> dict:
    """A chat.completions response as the OpenAI API shapes it, decided by the conversation so far."""
    messages = request["messages"]
    tool_results = [m for m in messages if m["role"] == "tool"]
    message: dict[str, object] = {"role": "assistant", "content": None, "refusal": None}
    tool_names = {tool["function"]["name"] for tool in request.get("tools") or ()}
    if _REVIEW_TOOL in tool_names:
        message, finish_reason, output = _review(messages, tool_results)
    elif request.get("tools") and len(tool_results) < 2:
        name, arguments = ("run_pipeline", {"source": "orders"}) if not tool_results else ("aggregate_by_region", {})
        message["tool_calls"] = [{"id": f"call_{len(messages)}", "type": "function",
                                  "function": {"name": name, "arguments": json.dumps(arguments)}}]  # fmt: skip
        finish_reason, output = "tool_calls", json.dumps(arguments) + name
    elif request.get("tools"):
        message["content"] = output = "Pipeline ran and revenue is aggregated; handing over."
        finish_reason = "stop"
    else:
        top, totals = _top_region(messages)
        message["content"] = output = (
            f"{top.upper()} led with {totals[top]:,.2f} in revenue across {len(totals)} regions; "
            "about 1% of orders lacked a region and were excluded."
        )
        finish_reason = "stop"
    prompt_tokens, completion_tokens = _tokens(json.dumps(messages)), _tokens(output)
    time.sleep(0.02 + completion_tokens / 2000)  # a model takes longer to say more
    return {
        "id": f"chatcmpl-demo{random.getrandbits(32):08x}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": {"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4o": "gpt-4o-2024-08-06"}[request["model"]],
        "system_fingerprint": "fp_spanmeter_demo",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
    }


def _fake_transport():
    """An HTTP transport that answers OpenAI API requests in-process."""
    # openai >= 3 speaks httpx2, older versions httpx: mock with the library the SDK's client uses.
    http = importlib.import_module(openai.DefaultHttpxClient.__mro__[1].__module__.split(".")[0])

    def handle(request):
        body = _completion(json.loads(request.content))
        return http.Response(200, json=body, headers={"x-request-id": body["id"]})

    return http.MockTransport(handle)


def fake_openai_client() -> openai.OpenAI:
    """An OpenAI client whose HTTP requests are answered in-process."""
    return openai.OpenAI(
        api_key="sk-offline-demo",
        base_url="https://api.openai.com/v1",
        max_retries=0,
        http_client=openai.DefaultHttpxClient(transport=_fake_transport()),
    )


def main() -> None:
    client = fake_openai_client()
    for user, team, question in REQUESTS:
        with spanmeter.attribution(user=user, team=team):
            print(f"[{user}/{team}] {question}\n  -> {analyze(client, question)}")


if __name__ == "__main__":
    main()
