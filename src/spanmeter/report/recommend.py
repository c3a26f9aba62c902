"""Recommendations drawn from a report's numbers, each with the figures behind it and, where
one can be computed from genai-prices and the observed tokens, an estimated saving in USD.

The rules (thresholds from the recipes spanmeter grew out of, see SEED-NOTES):

* ``latency_outliers``: p95 over 3 x the median (at least 20 calls): outliers, timeouts;
* ``cheaper_model``: a model whose calls are small (average prompt <= 1,000 and answer <= 500
  tokens) while a cheaper model of the same family and provider exists; saving = observed
  cost - the sibling's price for the same tokens. Siblings: the same name (without its version
  suffix) with a smaller size suffix (``gpt-4o`` -> ``gpt-4o-mini``, ``-nano``) or a smaller tier
  word (``sonnet`` -> ``haiku``), as :mod:`spanmeter.providers` lists them per provider;
* ``prompt_caching``: over 40 % of a model's calls repeat a cacheable prompt already seen (see
  :class:`~spanmeter.report.analysis.PromptRepeats`) while cached input is under 30 % of its
  input; saving = those repeated tokens at the cache-read rate instead of the input rate;
* ``long_prompts``: average prompt over 2,000 tokens; saving = the tokens above 2,000 per call
  at the input rate (what prompt compression to that size would save);
* ``error_rate``: over 5 % of at least 10 calls fail; saving = what the failed calls cost;
* ``dominant_model``: one model takes over 60 % of the LLM spend: route simple tasks down;
* ``unpriced_calls``: LLM calls without a price, by reason (no usage reported, no price known).
"""

from __future__ import annotations

import math
from typing import Any

from spanmeter import providers
from spanmeter.processing.pricing import PriceBook
from spanmeter.report.analysis import UNPRICED_NO_PRICE, UNPRICED_NO_USAGE, Analysis, Group

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


def _recommendation(kind: str, message: str, saving: float | None, **numbers: Any) -> dict[str, Any]:
    return {"kind": kind, "message": message, "saving_usd": saving, "numbers": numbers}


def _usd(value: float) -> str:
    """Money with enough significant digits that small amounts do not read as $0.00."""
    if abs(value) >= 1 or value == 0:
        return f"${value:,.2f}"
    return f"${value:.{max(2, 2 - math.floor(math.log10(abs(value))))}f}"


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


def cheaper_model(book: PriceBook, model: str, group: Group) -> dict[str, Any] | None:
    if not group.calls or not group.cost_usd or not group.provider:
        return None
    avg_in, avg_out = group.input_tokens / group.calls, group.output_tokens / group.calls
    if avg_in > SMALL_CALL_INPUT_TOKENS or avg_out > SMALL_CALL_OUTPUT_TOKENS:
        return None
    offers = []
    for sibling in sibling_models(group.provider, model):
        cost = _price(book, group.provider, sibling, group)
        if cost is not None and cost < group.cost_usd:
            offers.append((cost, sibling))
    if not offers:
        return None
    cost, sibling = min(offers)
    saving = group.cost_usd - cost
    return _recommendation(
        "cheaper_model",
        f"{model}: {group.calls} calls averaging {avg_in:,.0f} input / {avg_out:,.0f} output tokens cost "
        f"{_usd(group.cost_usd)}; {sibling} would have cost {_usd(cost)} for the same tokens "
        f"(save {_usd(saving)}, {saving / group.cost_usd:.0%}) - route small calls to it",
        saving, model=model, sibling=sibling, calls=group.calls, cost_usd=group.cost_usd, sibling_cost_usd=cost,
    )  # fmt: skip


def prompt_caching(book: PriceBook, model: str, group: Group, analysis: Analysis) -> dict[str, Any] | None:
    repeats = analysis.repeats.get(model)
    if repeats is None or not group.calls or not group.input_tokens:
        return None
    repeated_share = repeats.repeated_calls / group.calls
    cache_share = group.cache_read_tokens / group.input_tokens
    if repeated_share <= REPEATED_SHARE or cache_share >= LOW_CACHE_SHARE:
        return None
    tokens = repeats.repeated_input_tokens
    plain = book.price(group.provider, None, model, tokens, 0)
    cached = book.price(group.provider, None, model, tokens, 0, cache_read=tokens)
    saving = plain[0] - cached[0] if plain and cached and plain[0] > cached[0] else None
    return _recommendation(
        "prompt_caching",
        f"{model}: {repeated_share:.0%} of {group.calls} calls repeat a prompt of 1,024+ tokens already seen, yet only "
        f"{cache_share:.0%} of input tokens were cache reads - cache the shared prompt prefix"
        + (f" (est. save {_usd(saving)} on {tokens:,} repeated tokens)" if saving else ""),
        saving, model=model, repeated_share=repeated_share, cache_read_share=cache_share, repeated_tokens=tokens,
    )  # fmt: skip


def long_prompts(book: PriceBook, model: str, group: Group) -> dict[str, Any] | None:
    if not group.calls:
        return None
    average = group.input_tokens / group.calls
    if average <= LONG_PROMPT_TOKENS:
        return None
    excess = group.input_tokens - LONG_PROMPT_TOKENS * group.calls
    priced = book.price(group.provider, None, model, excess, 0)
    saving = priced[0] if priced else None
    return _recommendation(
        "long_prompts",
        f"{model}: prompts average {average:,.0f} tokens (over {LONG_PROMPT_TOKENS:,}) - compress or trim them"
        + (f"; cutting them to {LONG_PROMPT_TOKENS:,} would save {_usd(saving)}" if saving else ""),
        saving, model=model, avg_input_tokens=average, calls=group.calls,
    )  # fmt: skip


def latency_outliers(dimension: str, key: str, group: Group) -> dict[str, Any] | None:
    if group.calls < OUTLIER_MIN_CALLS:
        return None
    p50, p95 = group.latency.quantile(0.5), group.latency.quantile(0.95)
    if not p50 or p95 is None or p95 <= OUTLIER_RATIO * p50:
        return None
    return _recommendation(
        "latency_outliers",
        f"{dimension} {key}: p95 {p95:.3g} s is {p95 / p50:.1f}x the median {p50:.3g} s over {group.calls} calls - "
        "look for outliers and timeouts (retries, queueing, long answers)",
        None, dimension=dimension, key=key, p50_s=p50, p95_s=p95,
    )  # fmt: skip


def error_rate(dimension: str, key: str, group: Group) -> dict[str, Any] | None:
    if group.calls < ERROR_MIN_CALLS or group.error_rate <= ERROR_RATE:
        return None
    saving = group.error_cost_usd or None
    return _recommendation(
        "error_rate",
        f"{dimension} {key}: {group.error_rate:.1%} of {group.calls} calls failed (over {ERROR_RATE:.0%}) - "
        "add retries with backoff and handle the errors" + (f"; failed calls cost {_usd(saving)}" if saving else ""),
        saving, dimension=dimension, key=key, errors=group.errors, calls=group.calls,
    )  # fmt: skip


def dominant_model(analysis: Analysis) -> dict[str, Any] | None:
    rows = analysis.dimensions["model"].rows()
    spend = sum(group.cost_usd or 0.0 for _, group in rows)
    if not rows or spend <= 0:
        return None
    model, group = rows[0]
    share = (group.cost_usd or 0.0) / spend
    if share <= DOMINANT_SHARE:
        return None
    return _recommendation(
        "dominant_model",
        f"{model} takes {share:.0%} of the LLM spend ({_usd(group.cost_usd or 0.0)} of {_usd(spend)}) - "
        "route simple tasks to a cheaper model",
        None, model=model, share=share, cost_usd=group.cost_usd,
    )  # fmt: skip


def unpriced_calls(analysis: Analysis) -> dict[str, Any] | None:
    unpriced = analysis.totals.unpriced
    if not any(unpriced.values()):
        return None
    return _recommendation(
        "unpriced_calls",
        f"{sum(unpriced.values())} LLM calls have no cost: {unpriced[UNPRICED_NO_USAGE]} reported no token usage "
        "(for openai streams, set stream_options.include_usage), "
        f"{unpriced[UNPRICED_NO_PRICE]} used a model without a known price (add it to SPANMETER_PRICES_FILE)",
        None, **unpriced,
    )  # fmt: skip


def recommend(analysis: Analysis, book: PriceBook | None = None) -> list[dict[str, Any]]:
    """Every recommendation the data supports, models' first."""
    book = book or PriceBook()
    found: list[dict[str, Any] | None] = []
    for model, group in analysis.dimensions["model"].rows():
        found += [cheaper_model(book, model, group), prompt_caching(book, model, group, analysis),
                  long_prompts(book, model, group)]  # fmt: skip
    found.append(dominant_model(analysis))
    for dimension in ("model", "agent", "tool"):  # one kind of work per row: latencies compare
        found += [latency_outliers(dimension, key, group) for key, group in analysis.dimensions[dimension].rows()]
    for dimension in ("model", "agent", "tool", "service"):
        found += [error_rate(dimension, key, group) for key, group in analysis.dimensions[dimension].rows()]
    found.append(unpriced_calls(analysis))
    return [item for item in found if item is not None]
