"""Prices: equal to genai-prices' own calc_price (cache rates, tiers, dated prices), the
price file winning over it, malformed files rejected by name, unknown models visible,
one lookup per (provider, model), and no network updater unless asked for."""

from __future__ import annotations

import math
import subprocess
import sys
import time

import genai_prices
import pytest
from genai_prices import Usage, calc_price

from spanmeter import internal_errors
from spanmeter.processing.pricing import PriceBook
from spanmeter.settings import ConfigError, Settings
from support.processing import Pipeline, llm_attributes

# (semconv provider, model, input incl. cache, output, cache read, cache write, genai-prices provider id)
CASES = [
    ("openai", "gpt-4o-mini", 1200, 350, 400, 0, "openai"),
    ("openai", "gpt-4o", 10_000, 900, 0, 0, "openai"),
    ("openai", "o3", 5000, 2000, 1000, 0, "openai"),  # prices that changed over time
    ("anthropic", "claude-sonnet-4-5", 5000, 300, 2000, 1000, "anthropic"),
    ("anthropic", "claude-sonnet-4-5", 250_000, 300, 20_000, 0, "anthropic"),  # above the 200k tier
    ("anthropic", "claude-haiku-4-5-20251001", 3000, 700, 0, 2500, "anthropic"),
    ("gcp.gemini", "gemini-2.5-pro", 300_000, 1000, 100_000, 0, "google"),
    ("gcp.gemini", "gemini-2.0-flash", 1000, 100, 0, 0, "google"),
]


@pytest.mark.parametrize(("provider", "model", "inp", "out", "cache_read", "cache_write", "provider_id"), CASES)
def test_cost_equals_genai_prices_calc_price(provider, model, inp, out, cache_read, cache_write, provider_id):
    attributes = llm_attributes(
        model, inp, out, provider,
        **{"gen_ai.usage.cache_read.input_tokens": cache_read, "gen_ai.usage.cache_creation.input_tokens": cache_write},
    )  # fmt: skip
    with Pipeline() as pipeline:
        pipeline.span("chat", attributes)
        span = pipeline.spans()["chat"]
        expected = calc_price(
            Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=cache_read, cache_write_tokens=cache_write),
            model,
            provider_id=provider_id,
        )
        attrs = span.attributes
        assert attrs["spanmeter.cost.source"] == "genai-prices"
        assert attrs["spanmeter.cost.input_usd"] == pytest.approx(float(expected.input_price), rel=1e-12)
        assert attrs["spanmeter.cost.output_usd"] == pytest.approx(float(expected.output_price), rel=1e-12)
        assert attrs["spanmeter.cost.usd"] == pytest.approx(float(expected.total_price), rel=1e-12)
        assert pipeline.value("spanmeter.cost", **{"gen_ai.request.model": model}) == pytest.approx(
            float(expected.total_price), rel=1e-12
        )


def test_cached_input_is_priced_at_cache_rates():
    """The same input, half of it read from cache, costs less by exactly the rate difference."""
    with Pipeline() as pipeline:
        pipeline.span("uncached", llm_attributes("gpt-4o-mini", 10_000, 0))
        pipeline.span(
            "cached", llm_attributes("gpt-4o-mini", 10_000, 0, **{"gen_ai.usage.cache_read.input_tokens": 5000})
        )
        spans = pipeline.spans()
    uncached, cached = (spans[name].attributes["spanmeter.cost.usd"] for name in ("uncached", "cached"))
    # gpt-4o-mini: $0.15 per million input tokens, $0.075 cached
    assert uncached == pytest.approx(10_000 * 0.15e-6)
    assert cached == pytest.approx(5000 * 0.15e-6 + 5000 * 0.075e-6)


def test_anthropic_native_usage_counts_cache_on_top_of_input():
    """Cached tokens above input_tokens: the producer excluded them from input (Anthropic's usage)."""
    with Pipeline() as pipeline:
        pipeline.span(
            "chat",
            llm_attributes("claude-haiku-4-5", 100, 50, "anthropic", **{"gen_ai.usage.cache_read.input_tokens": 4000}),
        )
        cost = pipeline.spans()["chat"].attributes["spanmeter.cost.usd"]
    expected = calc_price(Usage(input_tokens=4100, output_tokens=50, cache_read_tokens=4000), "claude-haiku-4-5",
                          provider_id="anthropic")  # fmt: skip
    assert cost == pytest.approx(float(expected.total_price), rel=1e-12)


def test_each_provider_and_model_is_looked_up_once(monkeypatch):
    calls = []
    original = PriceBook._resolve_genai_prices

    def counting(provider_key, model_key):
        calls.append((provider_key, model_key))
        return original(provider_key, model_key)

    monkeypatch.setattr(PriceBook, "_resolve_genai_prices", staticmethod(counting))
    book = PriceBook()
    for _ in range(200):
        assert book.price("openai", "gpt-4o-mini", None, 1000, 10) is not None
        assert book.price("anthropic", "claude-haiku-4-5", None, 1000, 10) is not None
        assert book.price("openai", "no-such-model", None, 1000, 10) is None  # misses are cached too
    assert sorted(calls) == [("anthropic", "claude-haiku-4-5"), ("openai", "gpt-4o-mini"), ("openai", "no-such-model")]


def test_the_network_updater_starts_only_when_asked(monkeypatch):
    started = []
    monkeypatch.setattr(genai_prices.UpdatePrices, "start", lambda self, *a, **k: started.append(self))
    monkeypatch.setattr(genai_prices.UpdatePrices, "stop", lambda self: None)
    PriceBook.from_settings(Settings.load(environ={})).shutdown()
    assert started == []
    PriceBook.from_settings(Settings.load(environ={"SPANMETER_PRICES_AUTO_UPDATE": "true"})).shutdown()
    assert len(started) == 1


def test_prices_load_in_the_background_before_any_span_arrives():
    """The batch worker must not import genai-prices' 1.6 MB data module itself: under a busy
    app thread that took seconds and dropped spans. A fresh interpreter shows it loaded without
    any pricing call."""
    code = (
        "import sys, time\n"
        "from spanmeter.processing.pricing import PriceBook\n"
        "from spanmeter.settings import Settings\n"
        "assert 'genai_prices.data' not in sys.modules\n"
        "PriceBook.from_settings(Settings.load(environ={}))\n"
        "deadline = time.monotonic() + 30\n"
        "while 'genai_prices.data' not in sys.modules and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"
        "print('genai_prices.data' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


YAML_PRICES = """\
openai:
  gpt-4o-mini: {input: 1000, output: 2000}   # a negotiated price wins over genai-prices
acme:
  support-ft-v2: {input: 3, output: 6, cache_read: 0.5, cache_write: 4}
"*":
  llama-3-70b-selfhosted: {input: 0.2, output: 0.2}
"""
TOML_PRICES = """\
[openai.gpt-4o-mini]
input = 1000
output = 2000

[acme.support-ft-v2]
input = 3
output = 6
cache_read = 0.5
cache_write = 4

["*".llama-3-70b-selfhosted]
input = 0.2
output = 0.2
"""


@pytest.mark.parametrize(("suffix", "content"), [(".yaml", YAML_PRICES), (".toml", TOML_PRICES)])
def test_price_file_takes_precedence(tmp_path, suffix, content):
    path = tmp_path / f"prices{suffix}"
    path.write_text(content)
    with Pipeline({"prices_file": str(path)}) as pipeline:
        pipeline.span("negotiated", llm_attributes("gpt-4o-mini", 1000, 1000))
        pipeline.span(
            "fine-tuned",
            llm_attributes(
                "support-ft-v2", 10_000, 1000, "acme",
                **{"gen_ai.usage.cache_read.input_tokens": 4000, "gen_ai.usage.cache_creation.input_tokens": 1000},
            ),
        )  # fmt: skip
        pipeline.span("self-hosted", llm_attributes("llama-3-70b-selfhosted", 1_000_000, 500_000, "vllm"))
        pipeline.span("listed", llm_attributes("gpt-4o", 1_000_000, 0))
        spans = {name: span.attributes for name, span in pipeline.spans().items()}
    assert spans["negotiated"]["spanmeter.cost.source"] == "override"
    assert spans["negotiated"]["spanmeter.cost.usd"] == pytest.approx(1.0 + 2.0)
    fine_tuned = spans["fine-tuned"]
    assert fine_tuned["spanmeter.cost.input_usd"] == pytest.approx((5000 * 3 + 4000 * 0.5 + 1000 * 4) / 1e6)
    assert fine_tuned["spanmeter.cost.output_usd"] == pytest.approx(1000 * 6 / 1e6)
    assert spans["self-hosted"]["spanmeter.cost.usd"] == pytest.approx(0.2 + 0.1)
    assert spans["listed"]["spanmeter.cost.source"] == "genai-prices"  # not in the file
    assert spans["listed"]["spanmeter.cost.usd"] == pytest.approx(2.5)


@pytest.mark.parametrize(
    ("name", "content", "named_key"),
    [
        ("p.yaml", "openai:\n  gpt-x: {input: [1, 2}\n", "not valid YAML"),
        ("p.toml", "[openai.gpt-x\ninput = 1\n", "not valid TOML"),
        ("p.yaml", "openai:\n  gpt-x: {input: cheap}\n", "'openai.gpt-x.input'"),
        ("p.toml", "[openai.gpt-x]\ninput = -1.0\n", "'openai.gpt-x.input'"),
        ("p.yaml", "openai:\n  gpt-x: {input: 1, outptu: 2}\n", "'openai.gpt-x.outptu'"),
        ("p.yaml", "openai:\n  gpt-x: {cache_read: 1}\n", "'openai.gpt-x'"),
        ("p.yaml", "openai: [gpt-x]\n", "'openai'"),
        ("p.yaml", "- openai\n", "top level"),
        ("p.json", "{}", "must end in"),
    ],
)
def test_malformed_price_file_is_a_config_error_naming_file_and_key(tmp_path, name, content, named_key):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ConfigError) as raised:
        Pipeline({"prices_file": str(path)})
    message = str(raised.value)
    assert str(path) in message and "SPANMETER_PRICES_FILE" in message
    assert named_key in message


def test_missing_price_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        Pipeline({"prices_file": str(tmp_path / "absent.yaml")})


def test_unknown_model_is_marked_and_counted_never_zero():
    with Pipeline() as pipeline:
        pipeline.span("chat", llm_attributes("my-private-model-7b", 500, 50, "vllm"))
        pipeline.span("chat again", llm_attributes("my-private-model-7b", 500, 50, "vllm"))
        spans = pipeline.spans()
        for span in spans.values():
            assert span.attributes["spanmeter.cost.source"] == "unknown"
            assert "spanmeter.cost.usd" not in span.attributes
        unpriced = pipeline.points("spanmeter.cost.unpriced")
        assert [(dict(p.attributes), p.value) for p in unpriced] == [
            ({"gen_ai.provider.name": "vllm", "gen_ai.request.model": "my-private-model-7b", "reason": "no_price"}, 2)
        ]
        assert pipeline.points("spanmeter.cost") == []


@pytest.mark.expect_internal_errors
def test_a_raising_price_lookup_leaves_the_span_exported_and_counted(monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("price data corrupt")

    internal_errors.reset_for_tests()
    monkeypatch.setattr(PriceBook, "price", broken)
    with Pipeline() as pipeline:
        pipeline.span("chat", llm_attributes("gpt-4o-mini", 100, 10))
        span = pipeline.spans()["chat"]
    assert span.attributes["spanmeter.cost.source"] == "unknown"
    assert span.attributes["gen_ai.usage.input_tokens"] == 100
    assert internal_errors.counts[("processing.pricing", "RuntimeError")] == 1


@pytest.mark.parametrize("bad", ["1200", -5, math.nan, math.inf, 12.5, True])
@pytest.mark.expect_internal_errors
def test_malformed_token_counts_never_reach_the_app(bad):
    internal_errors.reset_for_tests()
    with Pipeline() as pipeline:
        pipeline.span("chat", llm_attributes("gpt-4o-mini", bad, 10))  # ending it must not raise
        pipeline.span("fine", llm_attributes("gpt-4o-mini", 100, 10))
        spans = pipeline.spans()
    assert spans["chat"].attributes["spanmeter.cost.source"] == "unknown"
    assert "spanmeter.cost.usd" not in spans["chat"].attributes
    assert spans["fine"].attributes["spanmeter.cost.source"] == "genai-prices"
    assert sum(n for (component, _), n in internal_errors.counts.items() if component == "processing.attributes") == 1


@pytest.mark.parametrize(
    ("provider", "override", "request_model", "response_model"),
    [
        ("openai", "gpt-4o-mini", "gpt-4o-mini", "gpt-4o-mini-2024-07-18"),  # the API answers dated
        ("openai", "gpt-4o-mini", None, "gpt-4o-mini-2024-07-18"),
        ("anthropic", "claude-3-5-sonnet", "claude-3-5-sonnet-latest", "claude-3-5-sonnet-20241022"),
        ("gcp.vertex_ai", "claude-3-5-sonnet", "claude-3-5-sonnet@20240620", None),
        ("aws.bedrock", "anthropic.claude-3-5-sonnet", None, "anthropic.claude-3-5-sonnet-20241022-v2:0"),
        ("openai", "my-router-alias", "my-router-alias", "gpt-4o-2024-08-06"),  # the request model, next
    ],
)
def test_an_override_applies_through_the_dated_response_model(tmp_path, provider, override, request_model,
                                                               response_model):  # fmt: skip
    path = tmp_path / "prices.yaml"
    path.write_text(f"{provider}:\n  {override}: {{input: 1000, output: 2000}}\n")
    attributes = llm_attributes(request_model, 1000, 1000, provider, **{"gen_ai.response.model": response_model})
    attributes = {key: value for key, value in attributes.items() if value is not None}
    with Pipeline({"prices_file": str(path)}) as pipeline:
        pipeline.span("chat", attributes)
        span = pipeline.spans()["chat"]
    assert span.attributes["spanmeter.cost.source"] == "override"
    assert span.attributes["spanmeter.cost.usd"] == pytest.approx(1.0 + 2.0)


def test_override_order_response_then_request_then_without_version(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text(
        "openai:\n"
        "  gpt-4o-mini-2024-07-18: {input: 1000000, output: 0}\n"
        "  alias: {input: 2000000, output: 0}\n"
        "  gpt-4o-mini: {input: 3000000, output: 0}\n"
        "  '*': {input: 4000000, output: 0}\n"
        "'*':\n"
        "  alias: {input: 5000000, output: 0}\n"
    )
    book = PriceBook.from_settings(Settings.load({"prices_file": str(path)}, environ={}))

    def usd(request_model, response_model):
        input_usd, _, source = book.price("openai", request_model, response_model, 1, 0)
        assert source == "override"
        return input_usd

    assert usd("alias", "gpt-4o-mini-2024-07-18") == 1.0  # the response model first
    assert usd("alias", "gpt-4o-mini-2099-01-01") == 2.0  # then the request model
    assert usd("other", "gpt-4o-mini-2099-01-01") == 3.0  # then the response model without its date
    assert usd("other", "gpt-4o-2099-01-01") == 4.0  # then the provider's '*'
    book.shutdown()


UNKNOWN_NAMES = """\
openai:
  gpt-4o-mini: {input: 1, output: 2}
  gpt4o-mini: {input: 1, output: 2}
  "*": {input: 1, output: 2}
opnai:
  gpt-4o: {input: 1, output: 2}
anthropic:
  claude-3-5-sonnet-20241022: {input: 1, output: 2}
"*":
  claude-haiku-4-5: {input: 1, output: 2}
  llama-3-70b-selfhosted: {input: 1, output: 2}
"""


def test_overrides_that_no_known_name_matches_are_named_in_one_warning(tmp_path, caplog):
    path = tmp_path / "prices.yaml"
    path.write_text(UNKNOWN_NAMES)
    caplog.set_level("WARNING", logger="spanmeter")

    book = PriceBook.from_settings(Settings.load({"prices_file": str(path)}, environ={}))
    deadline = time.monotonic() + 30  # checked on a thread of its own: it loads genai-prices' data

    def own() -> list:  # an earlier test's check may still be logging on its own thread
        return [record for record in caplog.records if str(path) in record.getMessage()]

    while not own() and time.monotonic() < deadline:
        time.sleep(0.01)
    book.shutdown()

    (record,) = own()
    assert record.getMessage() == (
        f"spanmeter: price file {path}: 3 override(s) name a provider or model that neither genai-prices nor the "
        "GenAI semantic conventions know: openai.gpt4o-mini, opnai.gpt-4o, *.llama-3-70b-selfhosted; each applies "
        "only to spans carrying exactly that name"
    )


def test_a_known_model_stays_priced_through_a_flood_of_never_seen_names():
    now = [0.0]
    book = PriceBook(max_models=8, lookups_per_second=1.0, lookup_burst=20, clock=lambda: now[0])
    known = ("openai", "gpt-4o-mini", None, 1000, 100)
    expected = book.price(*known)
    for index in range(2_000):  # the other 19 lookups of the burst find nothing; the rest are deferred
        assert book.price("openai", f"ft:never-seen-{index}", None, 1000, 100) is None
    assert book.lookups_deferred == 2_000 - 19
    assert expected is not None and book.price(*known) == expected  # was evicted, then deferred: unpriced
