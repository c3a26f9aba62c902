"""Recommendations for ``spanmeter report`` and ``spanmeter bench``: one module, so both views
advise by the same rules and in the same shape.

Every recommendation is a dict (:func:`recommendation`): ``kind``; ``message`` (one sentence for
people); ``evidence`` (the figures from the data that triggered it); ``impact`` (what acting
on it saves or gains); ``saving_usd`` (the estimated saving in USD, from genai-prices and the
observed tokens, or None where no money figure applies); ``numbers`` (the same figures for
scripts). A rule is not applied below its minimum amount of data, and never where its advice
cannot apply (a model with no cheaper sibling, calls that failed).

Report rules (:func:`recommend`, over an :class:`~spanmeter.report.analysis.Analysis`):

* ``cheaper_model``: a model of at least :data:`MIN_MODEL_CALLS` calls whose calls are small
  (average prompt <= 1,000 and answer <= 500 tokens) while a cheaper sibling exists; saving =
  observed cost - the sibling's price for the same tokens. Siblings: the same name (without its
  version suffix) with a smaller size suffix (``gpt-4o`` -> ``gpt-4o-mini``) or a smaller tier
  word (``sonnet`` -> ``haiku``), as :mod:`spanmeter.providers` lists them per provider;
* ``dominant_model``: one model takes over 60 % of the LLM spend and a cheaper sibling exists
  (and ``cheaper_model`` did not already say so); saving = the most moving every call would save;
* ``prompt_caching``: over 40 % of a model's calls repeat a cacheable prompt already seen (see
  :class:`~spanmeter.report.analysis.PromptRepeats`) while cached input is under 30 % of its
  input; saving = those repeated tokens at the cache-read rate instead of the input rate;
* ``long_prompts``: average prompt over 2,000 tokens; saving = the tokens above 2,000 per call
  at the input rate (what prompt compression to that size would save);
* ``latency_outliers``: p95 over 3 x the median over at least :data:`OUTLIER_MIN_CALLS` calls,
  not all of them failed; impact = the extra seconds of the slowest 5 %;
* ``error_rate``: over 5 % of at least :data:`ERROR_MIN_CALLS` calls fail; saving = what the
  failed calls cost;
* ``unpriced_calls``: successful LLM calls without a price, by reason (no usage reported: the
  streaming-usage advice; no price known); failed calls are never counted here (nothing billed).

Bench rules (:func:`bench_recommendations`, over ``spanmeter bench``'s result dict), from the
load-test recipe spanmeter grew out of, each over at least :data:`BENCH_MIN_REQUESTS` requests
(errors: :data:`BENCH_ERROR_MIN_REQUESTS`) and latency rules only over successful requests.
"""

from __future__ import annotations

from typing import Any

from spanmeter import providers, rules
from spanmeter.processing.pricing import PriceBook
from spanmeter.report.analysis import MIN_CACHEABLE_TOKENS, UNPRICED_NO_PRICE, UNPRICED_NO_USAGE, Analysis, Group

OUTLIER_RATIO = 3.0
OUTLIER_MIN_CALLS = 20
SMALL_CALL_INPUT_TOKENS = 1000
SMALL_CALL_OUTPUT_TOKENS = 500
REPEATED_SHARE = 0.40
LOW_CACHE_SHARE = 0.30
LONG_PROMPT_TOKENS = 2000
ERROR_RATE = 0.05
ERROR_MIN_CALLS = 10
DOMINANT_SHARE = 0.60
MIN_MODEL_CALLS = 10
"""Calls of a model below which no model, caching or prompt-size advice is made about it."""
MIN_UNPRICED_CALLS = 1

SLOW_AVG_S = 5.0
P95_OVER_AVG = 2.0
LOW_REQUESTS_PER_S = 1.0
HIGH_ERROR_RATE = 0.05
HIGH_MEMORY_MB = 1000.0
LOW_TOKENS_PER_S = 10.0
HIGH_CPU_PERCENT = 80.0
BENCH_MIN_REQUESTS = 20
"""Requests (successful ones for latency) below which bench's latency, throughput and CPU rules say nothing."""
BENCH_MIN_WALL_S = 5.0
"""Seconds of load below which CPU and throughput figures are start-up noise."""
BENCH_ERROR_MIN_REQUESTS = 5
BENCH_ERROR_MIN_ERRORS = 2


def recommendation(kind: str, message: str, evidence: str, impact: str, saving: float | None,
                   **numbers: Any) -> dict[str, Any]:  # fmt: skip
    """One recommendation in the shape report and bench share (see the module docstring)."""
    return {"kind": kind, "message": message, "evidence": evidence, "impact": impact, "saving_usd": saving,
            "numbers": numbers}  # fmt: skip


def base_model(model: str) -> str:
    """The model name without its date or version suffixes (``gpt-4o-2024-08-06`` -> ``gpt-4o``)."""
    return providers.without_version(model.lower())


def is_sibling(base: str, candidate: str) -> bool:
    """``candidate`` is a smaller variant of ``base``: a size suffix added, or a smaller tier word,
    as the rows of :mod:`spanmeter.providers` name them."""
    candidate = base_model(candidate)
    if candidate.startswith(f"{base}-") and candidate[len(base) + 1 :] in providers.SMALLER_VARIANTS:
        return True
    parts = base.split("-")
    for index, part in enumerate(parts):
        for smaller in providers.SMALLER_TIERS.get(part, ()):
            if "-".join([*parts[:index], smaller, *parts[index + 1 :]]) == candidate:
                return True
    return False


def sibling_models(provider: str, model: str) -> list[str]:
    """genai-prices' models of ``provider`` that are smaller variants of ``model``."""
    from genai_prices import data_snapshot

    providers_data = data_snapshot.get_snapshot().providers
    found = data_snapshot.find_provider_by_id(providers_data, providers.genai_prices_id(provider))
    if found is None:
        return []
    base = base_model(model)
    return sorted({info.id for info in found.models if is_sibling(base, info.id)})


def _price(book: PriceBook, provider: str | None, model: str, group: Group) -> float | None:
    priced = book.price(provider, None, model, group.input_tokens, group.output_tokens, group.cache_read_tokens)
    return None if priced is None else priced[0] + priced[1]


def cheapest_sibling(book: PriceBook, model: str, group: Group) -> tuple[float, str] | None:
    """(what ``group``'s tokens would have cost on the cheapest smaller sibling of ``model``, its name);
    None when the provider lists none cheaper than what was paid."""
    if not group.cost_usd or not group.provider:
        return None
    offers = []
    for sibling in sibling_models(group.provider, model):
        cost = _price(book, group.provider, sibling, group)
        if cost is not None and cost < group.cost_usd:
            offers.append((cost, sibling))
    return min(offers) if offers else None


def cheaper_model(book: PriceBook, model: str, group: Group) -> dict[str, Any] | None:
    if group.calls < MIN_MODEL_CALLS or not group.cost_usd:
        return None
    avg_in, avg_out = group.input_tokens / group.calls, group.output_tokens / group.calls
    if avg_in > SMALL_CALL_INPUT_TOKENS or avg_out > SMALL_CALL_OUTPUT_TOKENS:
        return None
    offer = cheapest_sibling(book, model, group)
    if offer is None:
        return None
    cost, sibling = offer
    saving = group.cost_usd - cost
    return recommendation(
        "cheaper_model",
        f"{model}: its calls are small - route them to {sibling}",
        f"{group.calls:,} calls averaging {avg_in:,.0f} input / {avg_out:,.0f} output tokens cost "
        f"{usd(group.cost_usd)}; {sibling} prices the same tokens at {usd(cost)}",
        f"save {usd(saving)} ({saving / group.cost_usd:.0%} of {model}'s cost)",
        saving, model=model, sibling=sibling, calls=group.calls, cost_usd=group.cost_usd, sibling_cost_usd=cost,
    )  # fmt: skip


def dominant_model(book: PriceBook, analysis: Analysis, already: set[str]) -> dict[str, Any] | None:
    """Only with somewhere to route to: a cheaper sibling of the dominant model (one model and no
    sibling: nothing to say); not again for a model ``cheaper_model`` already covered (``already``)."""
    rows = analysis.dimensions["model"].rows()
    spend = sum(group.cost_usd or 0.0 for _, group in rows)
    if not rows or spend <= 0:
        return None
    model, group = rows[0]
    share = (group.cost_usd or 0.0) / spend
    if share <= DOMINANT_SHARE or group.calls < MIN_MODEL_CALLS or model in already:
        return None
    offer = cheapest_sibling(book, model, group)
    if offer is None:
        return None
    cost, sibling = offer
    saving = (group.cost_usd or 0.0) - cost
    return recommendation(
        "dominant_model",
        f"{model} takes {share:.0%} of the LLM spend - route its simple tasks to {sibling}",
        f"{usd(group.cost_usd or 0.0)} of {usd(spend)} over {group.calls:,} calls; {sibling} prices the same "
        f"tokens at {usd(cost)}",
        f"up to {usd(saving)} if every call moved; in proportion to the calls that do",
        saving, model=model, sibling=sibling, share=share, cost_usd=group.cost_usd, sibling_cost_usd=cost,
    )  # fmt: skip


def prompt_caching(book: PriceBook, model: str, group: Group, analysis: Analysis) -> dict[str, Any] | None:
    repeats = analysis.repeats.get(model)
    if repeats is None or group.calls < MIN_MODEL_CALLS or not group.input_tokens:
        return None
    repeated_share = repeats.repeated_calls / group.calls
    cache_share = group.cache_read_tokens / group.input_tokens
    if repeated_share <= REPEATED_SHARE or cache_share >= LOW_CACHE_SHARE:
        return None
    tokens = repeats.repeated_input_tokens
    plain = book.price(group.provider, None, model, tokens, 0)
    cached = book.price(group.provider, None, model, tokens, 0, cache_read=tokens)
    saving = plain[0] - cached[0] if plain and cached and plain[0] > cached[0] else None
    return recommendation(
        "prompt_caching",
        f"{model}: cache the shared prompt prefix",
        f"{repeated_share:.0%} of {group.calls:,} calls repeat a prompt of {MIN_CACHEABLE_TOKENS:,}+ tokens already "
        f"seen ({tokens:,} repeated tokens), yet {cache_share:.0%} of input tokens were cache reads",
        f"save {usd(saving)} at the cache-read rate" if saving else "faster answers (no cache price known)",
        saving, model=model, repeated_share=repeated_share, cache_read_share=cache_share, repeated_tokens=tokens,
    )  # fmt: skip


def long_prompts(book: PriceBook, model: str, group: Group) -> dict[str, Any] | None:
    if group.calls < MIN_MODEL_CALLS:
        return None
    average = group.input_tokens / group.calls
    if average <= LONG_PROMPT_TOKENS:
        return None
    excess = group.input_tokens - LONG_PROMPT_TOKENS * group.calls
    priced = book.price(group.provider, None, model, excess, 0)
    saving = priced[0] if priced else None
    return recommendation(
        "long_prompts",
        f"{model}: compress or trim the prompts",
        f"prompts average {average:,.0f} tokens over {group.calls:,} calls (over {LONG_PROMPT_TOKENS:,})",
        f"cutting them to {LONG_PROMPT_TOKENS:,} tokens saves {usd(saving)}" if saving
        else f"{excess:,} fewer input tokens (no price known)",
        saving, model=model, avg_input_tokens=average, calls=group.calls,
    )  # fmt: skip


def latency_outliers(dimension: str, key: str, group: Group) -> dict[str, Any] | None:
    """Not over calls that all failed: their durations are time-outs and refusals, not answers."""
    if group.calls < OUTLIER_MIN_CALLS or group.errors >= group.calls or group.latency is None:
        return None
    p50, p95 = group.latency.quantile(0.5), group.latency.quantile(0.95)
    if not p50 or p95 is None or p95 <= OUTLIER_RATIO * p50:
        return None
    return recommendation(
        "latency_outliers",
        f"{dimension} {key}: look for outliers and time-outs (retries, queueing, long answers)",
        f"p95 {seconds(p95)} is {p95 / p50:.1f}x the median {seconds(p50)} over {group.calls:,} calls",
        f"the slowest 5 % of calls take {seconds(p95 - p50)}+ longer than the median",
        None, dimension=dimension, key=key, p50_s=p50, p95_s=p95, calls=group.calls,
    )  # fmt: skip


def error_rate(dimension: str, key: str, group: Group) -> dict[str, Any] | None:
    if group.calls < ERROR_MIN_CALLS or group.error_rate <= ERROR_RATE:
        return None
    saving = group.error_cost_usd or None
    return recommendation(
        "error_rate",
        f"{dimension} {key}: add retries with backoff and handle the errors",
        f"{group.errors:,} of {group.calls:,} calls failed ({group.error_rate:.1%}, over {ERROR_RATE:.0%})",
        f"the failed calls cost {usd(saving)}" if saving else f"{group.errors:,} failed calls (they cost nothing)",
        saving, dimension=dimension, key=key, errors=group.errors, calls=group.calls,
    )  # fmt: skip


def unpriced_calls(analysis: Analysis) -> dict[str, Any] | None:
    """Successful calls only (failed ones are not counted unpriced: nothing was billed); the
    streaming-usage advice only when some reported no usage."""
    unpriced = analysis.totals.unpriced
    count = sum(unpriced.values())
    if count < MIN_UNPRICED_CALLS:
        return None
    advice = []
    if unpriced[UNPRICED_NO_USAGE]:
        advice.append("for openai streams set stream_options.include_usage")
    if unpriced[UNPRICED_NO_PRICE]:
        advice.append("add the models to SPANMETER_PRICES_FILE")
    return recommendation(
        "unpriced_calls",
        f"{count:,} LLM calls have no cost: " + "; ".join(advice),
        f"{unpriced[UNPRICED_NO_USAGE]:,} successful calls reported no token usage, "
        f"{unpriced[UNPRICED_NO_PRICE]:,} used a model without a known price",
        f"the spend shown is understated by {count:,} of {analysis.totals.llm_calls:,} calls",
        None, **unpriced,
    )  # fmt: skip


def recommend(analysis: Analysis, book: PriceBook | None = None) -> list[dict[str, Any]]:
    """Every recommendation ``analysis`` supports, models' first (the report's)."""
    book = book or PriceBook()
    found: list[dict[str, Any] | None] = []
    for model, group in analysis.dimensions["model"].rows():
        found += [cheaper_model(book, model, group), prompt_caching(book, model, group, analysis),
                  long_prompts(book, model, group)]  # fmt: skip
    routed = {item["numbers"]["model"] for item in found if item is not None and item["kind"] == "cheaper_model"}
    found.append(dominant_model(book, analysis, routed))
    for dimension in ("model", "agent", "tool"):  # one kind of work per row: latencies compare
        found += [latency_outliers(dimension, key, group) for key, group in analysis.dimensions[dimension].rows()]
    for dimension in ("model", "agent", "tool", "service"):
        found += [error_rate(dimension, key, group) for key, group in analysis.dimensions[dimension].rows()]
    found.append(unpriced_calls(analysis))
    return [item for item in found if item is not None]


def usd(value: float) -> str:
    return rules.format_usd(value)


def seconds(value: float) -> str:
    """A duration for people: ms below a second, else seconds to three significant digits."""
    return f"{value * 1e3:,.0f} ms" if value < 1 else f"{value:,.3g} s" if value < 100 else f"{value:,.0f} s"


def _bench_latency(result: dict[str, Any], successful: int) -> list[dict[str, Any]]:
    """Latency rules, over at least BENCH_MIN_REQUESTS successful requests (a run of failures has no latency)."""
    avg, p95 = result["latency_s"]["avg"], result["latency_s"]["p95"]
    if successful < BENCH_MIN_REQUESTS or avg is None:
        return []
    found = []
    if avg > SLOW_AVG_S:
        found.append(recommendation(
            "slow_average", "add caching or shorten prompts",
            f"average response {seconds(avg)} over {successful:,} successful requests (over {SLOW_AVG_S:g} s)",
            f"{seconds(avg - SLOW_AVG_S)} per request above the {SLOW_AVG_S:g} s mark", None, avg_s=avg))  # fmt: skip
    if avg and p95 is not None and p95 > P95_OVER_AVG * avg:
        found.append(recommendation(
            "latency_outliers", "look for outliers and time-outs",
            f"p95 {seconds(p95)} is {p95 / avg:.1f}x the average {seconds(avg)} over {successful:,} successful requests",
            f"the slowest 5 % take {seconds(p95 - avg)}+ longer than the average", None, avg_s=avg, p95_s=p95))  # fmt: skip
    return found


def _bench_load(result: dict[str, Any], wall_s: float) -> list[dict[str, Any]]:
    """Throughput and CPU rules: only over BENCH_MIN_REQUESTS requests and BENCH_MIN_WALL_S seconds."""
    if result["requests"] < BENCH_MIN_REQUESTS or wall_s < BENCH_MIN_WALL_S:
        return []
    found = []
    rate = result["requests_per_s"]
    if rate < LOW_REQUESTS_PER_S:
        found.append(recommendation(
            "low_throughput", "use connection pooling or async calls",
            f"{rate:.2f} requests/s over {result['requests']:,} requests in {wall_s:.0f} s (under {LOW_REQUESTS_PER_S:g})",
            f"{LOW_REQUESTS_PER_S / rate:.1f}x the throughput to reach {LOW_REQUESTS_PER_S:g}/s", None,
            requests_per_s=rate))  # fmt: skip
    tokens = result["input_tokens"] + result["output_tokens"]
    if tokens and result["tokens_per_s"] < LOW_TOKENS_PER_S:
        found.append(recommendation(
            "low_tokens_per_s", "try a faster model or shorter prompts",
            f"{result['tokens_per_s']:.1f} tokens/s ({tokens:,} tokens in {wall_s:.0f} s; under {LOW_TOKENS_PER_S:g})",
            "faster answers per request", None, tokens_per_s=result["tokens_per_s"]))  # fmt: skip
    if result["cpu_percent"] > HIGH_CPU_PERCENT:
        found.append(recommendation(
            "high_cpu", "scale out, or profile the target's own work",
            f"CPU {result['cpu_percent']:.0f} % over {wall_s:.0f} s of load (over {HIGH_CPU_PERCENT:g} %)",
            "more requests/s once CPU is not the limit", None, cpu_percent=result["cpu_percent"]))  # fmt: skip
    return found


def _bench_failures(result: dict[str, Any]) -> list[dict[str, Any]]:
    requests, errors = result["requests"], result["errors"]
    if (
        requests < BENCH_ERROR_MIN_REQUESTS
        or errors < BENCH_ERROR_MIN_ERRORS
        or result["error_rate"] <= HIGH_ERROR_RATE
    ):
        return []
    return [recommendation(
        "error_rate", "add retries and error handling",
        f"{errors:,} of {requests:,} requests failed ({result['error_rate']:.1%}, over {HIGH_ERROR_RATE:.0%})",
        f"{errors:,} requests answered instead of failing", None, errors=errors, requests=requests)]  # fmt: skip


def bench_recommendations(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The load-test rules over ``spanmeter bench``'s result dict (keys: ``requests``, ``errors``,
    ``timeouts``, ``error_rate``, ``requests_per_s``, ``latency_s.avg``/``p95``, ``input_tokens``,
    ``output_tokens``, ``tokens_per_s``, ``cpu_percent``, ``peak_rss_mb``); one ``within_range``
    item when none fires."""
    requests = result["requests"]
    successful = requests - result["errors"] - result.get("timeouts", 0)
    wall_s = requests / result["requests_per_s"] if result["requests_per_s"] else 0.0
    found = [*_bench_latency(result, successful), *_bench_load(result, wall_s), *_bench_failures(result)]
    if result["peak_rss_mb"] > HIGH_MEMORY_MB:
        found.append(recommendation(
            "high_memory", "look for what the target keeps per request",
            f"peak memory {result['peak_rss_mb']:.0f} MB (over {HIGH_MEMORY_MB:.0f} MB)",
            f"{result['peak_rss_mb'] - HIGH_MEMORY_MB:.0f} MB above the mark", None, peak_rss_mb=result["peak_rss_mb"]))  # fmt: skip
    return found or [recommendation("within_range", "all figures within range: keep monitoring",
                                    f"{requests:,} requests", "none", None)]  # fmt: skip
