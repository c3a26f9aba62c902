"""One row per LLM provider: every fact spanmeter keeps about a provider, in one table.

A row (:class:`LLMProvider`) holds the provider's GenAI semantic-convention name
(``gen_ai.provider.name``) and the older ``gen_ai.system`` spellings of it, its genai-prices
id, the labels frameworks give it (LangChain's ``ls_provider`` / ``model_provider`` ids,
Agno's ``Model.provider`` labels and adapter modules), whether the input-token count its
API reports includes cached tokens, the version suffixes it appends to model names, and
its cheaper sibling tiers. Pricing, recommendations and the instrumentors read these facts
here instead of keeping copies.

The lookups are dicts built once at import: instrumentors call them per model call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LLMProvider:
    """What spanmeter knows about one LLM provider (see the module docstring)."""

    name: str
    """``gen_ai.provider.name``, as the GenAI semantic conventions spell it."""
    genai_prices_id: str | None = None
    """genai-prices' provider id; None: genai-prices prices none of its models."""
    older_names: tuple[str, ...] = ()
    """Older ``gen_ai.system`` values other SDKs still write for it."""
    langchain_ids: tuple[str, ...] = ()
    """LangChain's ids for it (``ls_provider``, ``response_metadata["model_provider"]``), lowercase."""
    agno_labels: tuple[str, ...] = ()
    """Agno's ``Model.provider`` labels."""
    agno_modules: tuple[str, ...] = ()
    """Prefixes of the modules of Agno's adapters that call its API (a model class's MRO is matched)."""
    input_includes_cache: bool = True
    """Its API's input-token count includes cache reads and writes (OpenAI's does, Anthropic's not)."""
    version_suffixes: tuple[str, ...] = ()
    """Regexes of the date or version suffixes it appends to a model name, after a ``-`` or ``@``."""
    smaller_variants: tuple[str, ...] = ()
    """Suffixes naming a smaller variant of a model (``gpt-4o`` -> ``gpt-4o-mini``)."""
    smaller_tiers: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Tier words of its model names, each with the cheaper tier words (``opus`` -> ``sonnet``, ``haiku``)."""


_DATE = r"\d{4}-\d{2}-\d{2}"  # gpt-4o-mini-2024-07-18
_COMPACT_DATE = r"\d{8}"  # claude-3-5-sonnet-20241022, claude-3-5-sonnet@20240620
_NUMBER = r"\d{4}"  # gpt-4-0613, mistral-large-2407
_REVISION = r"\d{3}"  # gemini-1.5-pro-002
_LATEST = "latest"  # claude-3-5-sonnet-latest, chatgpt-4o-latest
_BEDROCK_VERSION = r"v\d+(?::\d+)?"  # anthropic.claude-3-5-sonnet-20241022-v2:0

_OPENAI_SUFFIXES = (_DATE, _NUMBER, _LATEST)

PROVIDERS: tuple[LLMProvider, ...] = (
    LLMProvider("openai", "openai", langchain_ids=("openai",), agno_labels=("OpenAI",),
                agno_modules=("agno.models.openai.",), version_suffixes=_OPENAI_SUFFIXES,
                smaller_variants=("mini", "nano"), smaller_tiers=(("large", ("small",)),)),
    LLMProvider("azure.ai.openai", "openai", older_names=("az.ai.openai",), langchain_ids=("azure", "azure_openai"),
                agno_labels=("Azure",), version_suffixes=_OPENAI_SUFFIXES),
    LLMProvider("azure.ai.inference", "azure", older_names=("az.ai.inference",), agno_labels=("AzureFoundry",)),
    LLMProvider("anthropic", "anthropic", langchain_ids=("anthropic",), agno_labels=("Anthropic",),
                agno_modules=("agno.models.anthropic.",), input_includes_cache=False,
                version_suffixes=(_COMPACT_DATE, _LATEST),
                smaller_tiers=(("opus", ("sonnet", "haiku")), ("sonnet", ("haiku",)))),
    LLMProvider("aws.bedrock", "aws", langchain_ids=("bedrock", "amazon_bedrock", "bedrock_converse"),
                agno_labels=("AwsBedrock",), agno_modules=("agno.models.aws.bedrock",), input_includes_cache=False,
                version_suffixes=(_COMPACT_DATE, _BEDROCK_VERSION)),
    LLMProvider("gcp.gemini", "google", older_names=("gemini",), langchain_ids=("google_genai",),
                agno_labels=("Google",), version_suffixes=(_REVISION, _LATEST), smaller_variants=("lite",),
                smaller_tiers=(("pro", ("flash", "flash-lite")), ("flash", ("flash-lite",)))),
    LLMProvider("gcp.vertex_ai", "google", older_names=("vertex_ai",), langchain_ids=("google_vertexai", "vertexai"),
                agno_labels=("VertexAI",), version_suffixes=(_COMPACT_DATE, _REVISION)),
    LLMProvider("gcp.gen_ai", "google", version_suffixes=(_REVISION, _LATEST)),
    LLMProvider("mistral_ai", "mistral", langchain_ids=("mistralai",), agno_labels=("Mistral",),
                version_suffixes=(_NUMBER, _LATEST),
                smaller_variants=("small",), smaller_tiers=(("large", ("medium", "small")), ("medium", ("small",)))),
    LLMProvider("x_ai", "x-ai", older_names=("xai",), langchain_ids=("xai",), agno_labels=("xAI",),
                version_suffixes=(_NUMBER, _LATEST)),
    LLMProvider("groq", "groq", langchain_ids=("groq",), agno_labels=("Groq",)),
    LLMProvider("deepseek", "deepseek", langchain_ids=("deepseek",), agno_labels=("DeepSeek",)),
    LLMProvider("cohere", "cohere", langchain_ids=("cohere",), agno_labels=("Cohere",)),
    LLMProvider("perplexity", "perplexity", langchain_ids=("perplexity",), agno_labels=("Perplexity",)),
    LLMProvider("ibm.watsonx.ai", None, langchain_ids=("ibm", "watsonx"), agno_labels=("IBM",)),
)  # fmt: skip

_BY_NAME = {name: row for row in PROVIDERS for name in (row.name, *row.older_names)}
_BY_LANGCHAIN = {label: row for row in PROVIDERS for label in row.langchain_ids}
_BY_AGNO = {label: row for row in PROVIDERS for label in row.agno_labels}
_SUFFIXES = dict.fromkeys(suffix for row in PROVIDERS for suffix in row.version_suffixes)
VERSION_SUFFIX = re.compile(rf"[-@](?:{'|'.join(_SUFFIXES)})$")
"""Any provider's version suffix: a span may carry another maker's model name (Bedrock, Azure, Vertex)."""


def get(name: str | None) -> LLMProvider | None:
    """The row of a ``gen_ai.provider.name`` (or older ``gen_ai.system``) value; None: not in the table."""
    return _BY_NAME.get(name) if name else None


def names() -> frozenset[str]:
    """Every provider name spans carry for a row: the current and the older ones."""
    return frozenset(_BY_NAME)


def genai_prices_id(name: str) -> str:
    """The genai-prices provider id for a span's provider name; an unknown name passes through
    (genai-prices' own provider matching gets it)."""
    row = _BY_NAME.get(name)
    return row.genai_prices_id if row is not None and row.genai_prices_id else name


def from_langchain(label: str) -> str:
    """The semconv name of a LangChain provider id (any case); an unknown id passes through."""
    row = _BY_LANGCHAIN.get(label.lower())
    return row.name if row is not None else label


def from_agno(label: str) -> str:
    """The semconv name of an Agno ``Model.provider`` label; an unknown one lowercased."""
    row = _BY_AGNO.get(label)
    return row.name if row is not None else label.lower()


def for_agno_modules(modules: Iterable[str]) -> list[LLMProvider]:
    """Rows whose Agno adapter modules any of ``modules`` (a model class's MRO, each ending in ``.``) is under."""
    modules = tuple(modules)
    return [row for row in PROVIDERS if any(m.startswith(p) for p in row.agno_modules for m in modules)]


def without_version(model: str) -> str:
    """``model`` without its date or version suffixes: ``claude-3-5-sonnet-20241022-v2:0`` -> ``claude-3-5-sonnet``."""
    while True:
        stripped = VERSION_SUFFIX.sub("", model)
        if stripped == model or not stripped:
            return model
        model = stripped


def _smaller_tiers() -> dict[str, tuple[str, ...]]:
    tiers: dict[str, tuple[str, ...]] = {}
    for row in PROVIDERS:
        for tier, smaller in row.smaller_tiers:
            tiers[tier] = tuple(dict.fromkeys((*tiers.get(tier, ()), *smaller)))
    return tiers


SMALLER_VARIANTS = frozenset(variant for row in PROVIDERS for variant in row.smaller_variants)
"""Every maker's smaller-variant suffixes: hosts (Bedrock, Vertex AI, OpenRouter) serve many makers' models."""
SMALLER_TIERS = _smaller_tiers()
"""Every maker's tier word -> cheaper tier words."""
