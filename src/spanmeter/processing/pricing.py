"""Prices an LLM span's token usage: the user's price file first, then genai-prices.

What the token counts mean. spanmeter follows the GenAI semantic conventions:
``gen_ai.usage.input_tokens`` SHOULD *include* cached tokens
(``gen_ai.usage.cache_read.input_tokens``, ``gen_ai.usage.cache_creation.input_tokens``),
as OpenAI's ``prompt_tokens`` do. genai-prices models usage the same way (its
``input_tokens`` is the parent of ``cache_read_tokens``/``cache_write_tokens``), so the
uncached part, billed at the input rate, is ``input - cache_read - cache_write``.
A producer that reports cached tokens *exceeding* ``input_tokens`` is taken to follow
Anthropic's native usage (``input_tokens`` excludes the cache), and its total input is
``input + cache_read + cache_write``. Cached tokens of a model with no cache rate are
billed at its input rate, as genai-prices does.

Which override applies. Providers answer with a dated or versioned model name
(``gpt-4o-mini`` is answered by ``gpt-4o-mini-2024-07-18``), so an override in
``SPANMETER_PRICES_FILE`` is looked up, first match wins, by: the response model, the
request model, then each of them without its date or version suffix
(``-2024-07-18``, ``-20241022``, ``@20240620``, ``-0613``, ``-001``, ``-latest``,
``-v2:0``: any provider's, see :mod:`spanmeter.providers`). For each name the provider's entry comes before a ``*`` provider; a
provider's ``*`` model and then ``*.*`` come last. Only then genai-prices prices the
response model (else the request model) with its own matching. A priced span says which in
``spanmeter.cost.source`` (``override`` or ``genai-prices``). An override whose provider
or model genai-prices and the GenAI semantic conventions do not know is named in one
warning at start-up: it applies only to spans that carry exactly that name.

Why a cache of our own: a genai-prices lookup costs ~15-70 us, and its own caches
grow with every distinct model name. Each (provider, model) is resolved once into a
:class:`Rates` (plain floats, tiers pre-split), kept in a bounded map, so pricing a
span is a dict hit and a few multiplications. Resolving new names is rate limited
(a token bucket), so a flood of distinct model names cannot stall the worker: spans
of a name not yet resolved are priced ``unknown`` and counted in ``lookups_deferred``.
Names found unpriced are kept in a map of their own, so such a flood never evicts a
model already priced.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import yaml

from spanmeter import providers, semconv
from spanmeter.internal_errors import guard
from spanmeter.processing.bounded import BoundedMap
from spanmeter.settings import ConfigError, Settings, one_line

# genai-prices price keys spanmeter prices itself, by the Rates field they fill.
_TOKEN_PRICE_KEYS = {
    "input_mtok": "input",
    "output_mtok": "output",
    "cache_read_mtok": "cache_read",
    "cache_write_mtok": "cache_write",
}
_FILE_KEYS = ("input", "output", "cache_read", "cache_write")
ANY = "*"
_logger = logging.getLogger("spanmeter")


def _override_models(request_model: str | None, response_model: str | None) -> list[str]:
    """Model names an override is looked up by, in the documented order, without repeats."""
    names = [response_model, request_model]
    names += [providers.without_version(name) for name in names if name]
    return list(dict.fromkeys(name for name in names if name))


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per token. ``cache_*`` None: that cache is not priced apart (input rate applies)."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None

    def price(self, total_input: int, output: int, cache_read: int, cache_write: int, _ts: int = 0):
        """(input_usd, output_usd) for token counts already normalised by :func:`total_input`."""
        uncached = total_input
        input_usd = 0.0
        if self.cache_read is not None and cache_read:
            input_usd += cache_read * self.cache_read
            uncached -= cache_read
        if self.cache_write is not None and cache_write:
            input_usd += cache_write * self.cache_write
            uncached -= cache_write
        return input_usd + uncached * self.input, output * self.output


@dataclass(frozen=True, slots=True)
class _TieredRates:
    """Rates that step up once total input tokens exceed a threshold (genai-prices tiers)."""

    base: Rates
    tiers: tuple[tuple[int, Rates], ...]  # (start, rates when total input > start), ascending

    def price(self, total_input: int, output: int, cache_read: int, cache_write: int, _ts: int = 0):
        rates = self.base
        for start, tier_rates in self.tiers:
            if total_input > start:
                rates = tier_rates
            else:
                break
        return rates.price(total_input, output, cache_read, cache_write)


class _TimedRates:
    """A model whose price changes with the request date (genai-prices conditional prices)."""

    __slots__ = ("_converted", "_exact", "_model")

    def __init__(self, provider: Any, model: Any):
        self._model = model
        self._exact = _ExactRates(provider, model)
        self._converted: dict[int, tuple[Any, Any]] = {}  # id(ModelPrice) -> (it, rates)

    def price(self, total_input: int, output: int, cache_read: int, cache_write: int, end_time_ns: int):
        model_price = self._model.get_prices(_utc(end_time_ns))
        hit = self._converted.get(id(model_price))
        if hit is None:  # a handful of periods per model: bounded by the price data itself
            hit = self._converted[id(model_price)] = (model_price, _rates_from_model_price(model_price))
        rates = hit[1] or self._exact
        return rates.price(total_input, output, cache_read, cache_write, end_time_ns)


class _ExactRates:
    """Prices with unusual units (per request, per character...) go through genai-prices itself."""

    __slots__ = ("_model", "_provider")

    def __init__(self, provider: Any, model: Any):
        self._provider, self._model = provider, model

    def price(self, total_input: int, output: int, cache_read: int, cache_write: int, end_time_ns: int):
        from genai_prices import Usage

        usage = Usage(
            input_tokens=total_input,
            output_tokens=output,
            cache_read_tokens=cache_read or None,
            cache_write_tokens=cache_write or None,
        )
        calc = self._model.calc_price(usage, self._provider, genai_request_timestamp=_utc(end_time_ns))
        return float(calc.input_price), float(calc.output_price)


def total_input(input_tokens: int, cache_read: int, cache_write: int) -> int:
    """Total input tokens under spanmeter's assumption (see the module docstring)."""
    cached = cache_read + cache_write
    return input_tokens if cached <= input_tokens else input_tokens + cached


def _utc(time_ns: int) -> datetime:
    return datetime.fromtimestamp(time_ns / 1e9, UTC) if time_ns else datetime.now(UTC)


def _per_token(value: Any) -> float | None:
    return None if value is None else float(value) / 1e6


def _never_reported_price_keys() -> frozenset[str]:
    """genai-prices price keys of units spanmeter never reports: more specific token
    kinds (audio, image, 1h cache writes...) and other units (web searches, audio
    hours...). Their count is 0 and they are not subtracted from the four token
    kinds spanmeter reports, so a model that also has them can use the fast path.
    Only per-request prices count without being reported."""
    from genai_prices.data_units import unit_data

    return frozenset(
        unit["price_key"]
        for usage_key, unit in unit_data.items()
        if usage_key != "requests" and unit["price_key"] not in _TOKEN_PRICE_KEYS
    )


_IGNORABLE_KEYS: frozenset[str] | None = None


def _rates_from_model_price(model_price: Any) -> Rates | _TieredRates | None:
    """Plain-float rates for a genai-prices ModelPrice, or None when it prices units
    spanmeter cannot compute itself (then genai-prices computes each span)."""
    from genai_prices.types import TieredPrices

    global _IGNORABLE_KEYS
    if _IGNORABLE_KEYS is None:
        _IGNORABLE_KEYS = _never_reported_price_keys()
    prices = {key: value for key, value in vars(model_price).items() if value is not None}
    if any(key not in _TOKEN_PRICE_KEYS and key not in _IGNORABLE_KEYS for key in prices):
        return None
    token_prices = {field: prices.get(key) for key, field in _TOKEN_PRICE_KEYS.items()}

    def level(total: float) -> Rates:
        fields: dict[str, float | None] = {}
        for field, price in token_prices.items():
            if isinstance(price, TieredPrices):
                applicable = price.base
                for tier in reversed(price.tiers):
                    if total > tier.start:
                        applicable = tier.price
                        break
                price = applicable
            fields[field] = _per_token(price)
        return Rates(fields["input"] or 0.0, fields["output"] or 0.0, fields["cache_read"], fields["cache_write"])

    starts = sorted(
        {tier.start for price in token_prices.values() if isinstance(price, TieredPrices) for tier in price.tiers}
    )
    if not starts:
        return level(0)
    return _TieredRates(level(0), tuple((start, level(start + 0.5)) for start in starts))


_loading: list[threading.Thread] = []
_fork_waits = False
_FORK_WAIT_S = 10.0


def _start_loading(target: Callable[[], Any]) -> None:
    """Run ``target`` (which imports genai-prices' data) on a daemon thread that a fork waits for."""
    thread = threading.Thread(target=target, name="spanmeter-prices-warm-up", daemon=True)
    global _fork_waits
    if not _fork_waits and hasattr(os, "register_at_fork"):
        _fork_waits = True
        os.register_at_fork(before=_finish_loading)
    _loading.append(thread)
    thread.start()


def _finish_loading() -> None:
    """Before a fork, let the loading threads finish (for at most ``_FORK_WAIT_S``): a child forked
    while a thread holds an import's module lock waits forever on its first genai-prices import."""
    for thread in _loading.copy():
        thread.join(_FORK_WAIT_S)
    _loading[:] = [thread for thread in _loading if thread.is_alive()]


class PriceBook:
    """Answers "what did this usage cost?" for (provider, model). Worker thread only."""

    def __init__(
        self,
        overrides: Mapping[tuple[str, str], Rates] | None = None,
        *,
        max_models: int = 4096,
        lookups_per_second: float = 500.0,
        lookup_burst: int = 2000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._overrides = {(p.lower(), m.lower()): r for (p, m), r in (overrides or {}).items()}
        # Priced names and names nothing prices are kept apart, so a flood of never-seen names
        # can only evict other such names: a known model stays resolved whatever else arrives.
        self._resolved: BoundedMap = BoundedMap(max_models)
        self._unpriced: BoundedMap = BoundedMap(max_models)
        self._rate, self._burst, self._clock = lookups_per_second, float(lookup_burst), clock
        self._tokens, self._last = float(lookup_burst), clock()
        self._snapshot: Any = None
        self._updater: Any = None
        self.lookups_deferred = 0

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> PriceBook:
        """Load ``settings.prices_file`` (ConfigError if malformed), start loading
        genai-prices' data (:meth:`warm_up`), and start its background updater only when
        ``settings.prices_auto_update`` says so."""
        overrides = load_price_file(settings.prices_file) if settings.prices_file else None
        book = cls(overrides, **kwargs)
        book.warm_up()
        if overrides:
            source = f"price file {settings.prices_file}"
            _start_loading(guard("processing.pricing").wrap()(lambda: book.warn_unknown_overrides(source)))
        if settings.prices_auto_update:
            from genai_prices import UpdatePrices

            book._updater = UpdatePrices()
            book._updater.start()
        return book

    @property
    def evicted(self) -> int:
        return self._resolved.evicted + self._unpriced.evicted

    @staticmethod
    def warm_up() -> None:
        """Load genai-prices' bundled data (~0.2 s of imports) now, on a thread of its own.

        Why not lazily in the batch worker: under a busy app thread every file read of
        that import hands the GIL to the app for a whole switch interval, and the first
        batch was measured taking 2.4-5 s while the queue filled and dropped spans
        (openai chat calls over a mock transport, ~1,000 calls/s).
        """

        @guard("processing.pricing").wrap()  # the worker retries, and counts, when it prices
        def load() -> None:
            from genai_prices import data_snapshot

            data_snapshot.get_snapshot()

        _start_loading(load)

    def warn_unknown_overrides(self, source: str) -> list[str]:
        """Log ONE warning naming overrides whose provider or model nothing known matches
        (a typo prices nothing, silently). Returns their names. Loads genai-prices' data:
        run it off the app's thread."""
        unknown = unknown_overrides(self._overrides)
        if unknown:
            _logger.warning(
                "spanmeter: %s: %d override(s) name a provider or model that neither genai-prices nor the GenAI "
                "semantic conventions know: %s; each applies only to spans carrying exactly that name",
                source, len(unknown), ", ".join(unknown),
            )  # fmt: skip
        return unknown

    def refresh(self) -> None:
        """Forget resolved prices if genai-prices swapped its data (auto-update). Once per batch."""
        from genai_prices import data_snapshot

        snapshot = data_snapshot.get_snapshot()
        if snapshot is not self._snapshot:
            self._snapshot = snapshot
            self._resolved.clear()
            self._unpriced.clear()

    def price(
        self,
        provider: str | None,
        request_model: str | None,
        response_model: str | None,
        input_tokens: int,
        output_tokens: int,
        cache_read: int = 0,
        cache_write: int = 0,
        end_time_ns: int = 0,
    ) -> tuple[float, float, str] | None:
        """(input_usd, output_usd, source) or None when no price is known for either model."""
        key = (provider, request_model, response_model)
        hit = self._resolved.get(key)
        if hit is None:
            if key in self._unpriced:
                return None
            if not self._may_look_up():
                self.lookups_deferred += 1
                return None
            hit = self._resolve(provider, request_model, response_model)
            if hit[0] is None:
                self._unpriced.put(key, True)
                return None
            self._resolved.put(key, hit)
        rates, source = hit
        input_usd, output_usd = rates.price(
            total_input(input_tokens, cache_read, cache_write),
            output_tokens,
            cache_read,
            cache_write,
            end_time_ns,
        )
        return input_usd, output_usd, source

    def _may_look_up(self) -> bool:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def _resolve(self, provider: str | None, request_model: str | None, response_model: str | None):
        """(rates or None, cost source): overrides in the module docstring's order, then genai-prices."""
        provider_key = (provider or "").lower()
        request_key, response_key = (request_model or "").lower(), (response_model or "").lower()
        overrides = self._overrides
        if overrides:
            candidates = [(p, m) for m in _override_models(request_key, response_key) for p in (provider_key, ANY)]
            for candidate in (*candidates, (provider_key, ANY), (ANY, ANY)):
                rates = overrides.get(candidate)
                if rates is not None:
                    return rates, semconv.COST_SOURCE_OVERRIDE
        # The response model is what ran (a fine-tune answers to its base model's request name).
        model_key = response_key or request_key
        rates = self._resolve_genai_prices(provider_key, model_key) if model_key else None
        return rates, semconv.COST_SOURCE_GENAI_PRICES

    @staticmethod
    def _resolve_genai_prices(provider_key: str, model_key: str) -> Any:
        """Rates from genai-prices' data, matching as its calc_price does, but without
        its unbounded per-name caches."""
        from genai_prices import data_snapshot

        priced = data_snapshot.get_snapshot().providers
        if provider_key:
            found = data_snapshot.find_provider_by_id(priced, providers.genai_prices_id(provider_key))
        else:
            found = next((p for p in priced if p.model_match is not None and p.model_match.is_match(model_key)), None)
        info = found.find_model(model_key, all_providers=priced) if found is not None else None
        if info is None:
            return None
        if isinstance(info.prices, list):
            return _TimedRates(found, info)
        return _rates_from_model_price(info.prices) or _ExactRates(found, info)

    def shutdown(self) -> None:
        if self._updater is not None:
            self._updater.stop()
            self._updater = None


def _known_providers() -> frozenset[str]:
    """Provider names spans carry: the provider table's (semconv, current and older) and genai-prices' ids."""
    from genai_prices import data_snapshot

    return providers.names() | {provider.id for provider in data_snapshot.get_snapshot().providers}


def unknown_overrides(overrides: Mapping[tuple[str, str], Rates]) -> list[str]:
    """``provider.model`` of overrides no known naming matches: the provider is unknown, or the
    model (not ``*``) is one genai-prices does not know for that provider."""
    from genai_prices import data_snapshot

    priced = data_snapshot.get_snapshot().providers
    known = _known_providers()
    unknown = []
    for provider, model in overrides:
        if provider != ANY and provider not in known:
            unknown.append(f"{provider}.{model}")
            continue
        if model == ANY:
            continue
        if provider == ANY:
            found = [p for p in priced if p.find_model(model) is not None]
        else:
            entry = data_snapshot.find_provider_by_id(priced, providers.genai_prices_id(provider))
            found = [entry] if entry is not None and entry.find_model(model, all_providers=priced) else []
        if not found:
            unknown.append(f"{provider}.{model}")
    return unknown


def load_price_file(path: str) -> dict[tuple[str, str], Rates]:
    """Read a YAML or TOML price file: ``provider -> model -> {input, output, cache_read,
    cache_write}`` in USD per million tokens. ``*`` as provider or model matches any.

    Raises ConfigError naming the file and the offending key.
    """
    where = f"price file {path} (SPANMETER_PRICES_FILE)"
    extension = os.path.splitext(path)[1].lower()
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it ({exc.strerror or exc})") from None
    try:
        if extension == ".toml":
            data = tomllib.loads(raw.decode("utf-8"))
        elif extension in (".yaml", ".yml"):
            data = yaml.safe_load(raw) or {}
        else:
            raise ConfigError(f"{where}: must end in .yaml, .yml or .toml")
    except (tomllib.TOMLDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: not valid {extension[1:].upper()} ({one_line(exc)})") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: top level must map provider names to models")
    table: dict[tuple[str, str], Rates] = {}
    for provider, models in data.items():
        if not isinstance(models, Mapping):
            raise ConfigError(f"{where}: key '{provider}' must map model names to prices")
        for model, prices in models.items():
            key = f"{provider}.{model}"
            if not isinstance(prices, Mapping):
                raise ConfigError(f"{where}: key '{key}' must map {', '.join(_FILE_KEYS)} to USD per million tokens")
            unknown = sorted(str(k) for k in prices if k not in _FILE_KEYS)
            if unknown:
                raise ConfigError(f"{where}: key '{key}.{unknown[0]}' is not one of {', '.join(_FILE_KEYS)}")
            if "input" not in prices and "output" not in prices:
                raise ConfigError(f"{where}: key '{key}' needs at least 'input' or 'output'")
            values = {name: _file_price(where, f"{key}.{name}", prices.get(name)) for name in _FILE_KEYS}
            table[(str(provider).lower(), str(model).lower())] = Rates(
                values["input"] or 0.0, values["output"] or 0.0, values["cache_read"], values["cache_write"]
            )
    return table


def _file_price(where: str, key: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ConfigError(f"{where}: key '{key}' must be a number (USD per million tokens), got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ConfigError(f"{where}: key '{key}' must be a finite number >= 0, got {value!r}")
    return number / 1e6
