"""The provider table: every semconv provider has a row, each row's ids are the ones the
libraries themselves use (genai-prices, LangChain, Agno), and its lookups answer as documented."""

from __future__ import annotations

import re

import pytest
from genai_prices import data_snapshot
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes

from spanmeter import providers
from spanmeter.processing.pricing import PriceBook
from spanmeter.report.recommend import sibling_models


def test_every_semconv_provider_name_and_older_system_value_has_a_row():
    values = {v.value for v in gen_ai_attributes.GenAiProviderNameValues}
    values |= {v.value for v in gen_ai_attributes.GenAiSystemValues}
    assert sorted(value for value in values if providers.get(value) is None) == []
    assert providers.names() >= values
    assert providers.get("gemini").name == "gcp.gemini" and providers.get("az.ai.openai").name == "azure.ai.openai"
    assert providers.get("nobody") is None and providers.get(None) is None


def test_each_genai_prices_id_is_one_genai_prices_has():
    priced = data_snapshot.get_snapshot().providers
    for row in providers.PROVIDERS:
        if row.genai_prices_id is not None:
            found = data_snapshot.find_provider_by_id(priced, row.genai_prices_id)
            assert found is not None and found.id == row.genai_prices_id, row.name


def test_genai_prices_id_maps_semconv_and_older_names_and_passes_unknown_through():
    assert providers.genai_prices_id("mistral_ai") == "mistral"
    assert providers.genai_prices_id("x_ai") == providers.genai_prices_id("xai") == "x-ai"
    assert providers.genai_prices_id("az.ai.inference") == "azure"
    assert providers.genai_prices_id("azure.ai.openai") == "openai"
    assert providers.genai_prices_id("ibm.watsonx.ai") == "ibm.watsonx.ai"  # no genai-prices id: unchanged
    assert providers.genai_prices_id("openrouter") == "openrouter"


def test_an_older_system_name_is_priced_as_its_current_name():
    book = PriceBook()
    current = book.price("azure.ai.inference", "o1-mini", None, 1000, 100)
    assert current is not None
    assert book.price("az.ai.inference", "o1-mini", None, 1000, 100) == current


def test_langchain_ids_are_the_ones_langchain_reports():
    from langchain_openai import AzureChatOpenAI, ChatOpenAI

    chat = ChatOpenAI(model="gpt-4o", api_key="sk-test")
    azure = AzureChatOpenAI(model="gpt-4o", api_key="sk-test", azure_endpoint="https://x.openai.azure.com",
                            api_version="2024-10-21")  # fmt: skip
    assert providers.from_langchain(chat._get_ls_params()["ls_provider"]) == "openai"
    assert providers.from_langchain(azure._get_ls_params()["ls_provider"]) == "azure.ai.openai"
    assert providers.from_langchain("Bedrock_Converse") == "aws.bedrock"
    assert providers.from_langchain("SomethingNew") == "SomethingNew"


def test_agno_labels_and_adapter_modules_are_agno_s_own():
    from agno.models.anthropic import Claude
    from agno.models.openai import OpenAIChat

    for model_class, name in ((OpenAIChat, "openai"), (Claude, "anthropic")):
        assert providers.from_agno(model_class(id="m").provider) == name
        rows = providers.for_agno_modules(klass.__module__ + "." for klass in model_class.__mro__)
        assert [row.name for row in rows] == [name]
    assert providers.from_agno("AwsBedrock") == "aws.bedrock" and providers.from_agno("LMStudio") == "lmstudio"
    assert providers.for_agno_modules(["agno.models.aws.bedrock."])[0].name == "aws.bedrock"
    assert providers.for_agno_modules(["agno.models.groq.groq."]) == []


def test_cache_convention_per_provider():
    assert providers.get("openai").input_includes_cache and providers.get("gcp.gemini").input_includes_cache
    assert not providers.get("anthropic").input_includes_cache
    assert not providers.get("aws.bedrock").input_includes_cache


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("claude-3-5-sonnet@20240620", "claude-3-5-sonnet"),
        ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
        ("anthropic.claude-3-5-sonnet-20241022-v2:0", "anthropic.claude-3-5-sonnet"),
        ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
        ("gemini-1.5-pro-002", "gemini-1.5-pro"),
        ("mistral-large-2407", "mistral-large"),
        ("gpt-4o", "gpt-4o"),
        ("o3", "o3"),
        ("gpt-4-32k", "gpt-4-32k"),
        ("2024-07-18", "2024-07-18"),
    ],
)
def test_without_version_strips_dates_and_versions_only(model, expected):
    assert providers.without_version(model) == expected


@pytest.mark.parametrize(
    ("name", "model"),
    [("openai", "gpt-4-0613"), ("anthropic", "claude-3-opus-20240229"), ("aws.bedrock", "mistral.large-v1:0"),
     ("gcp.gemini", "gemini-1.5-flash-001"), ("gcp.vertex_ai", "claude-3-haiku@20240307"),
     ("mistral_ai", "mistral-small-latest")],
)  # fmt: skip
def test_each_row_declares_the_suffixes_its_model_names_carry(name, model):
    own = re.compile(rf"[-@](?:{'|'.join(providers.get(name).version_suffixes)})$")
    assert own.search(model) and providers.VERSION_SUFFIX.search(model)


def test_siblings_use_every_makers_tiers_and_the_shared_version_suffixes():
    assert providers.SMALLER_TIERS["opus"] == ("sonnet", "haiku")
    assert {"mini", "nano", "lite", "small"} <= providers.SMALLER_VARIANTS
    # Bedrock names end in -v1:0 / -v2:0: the same version rule as pricing finds the cheaper tier.
    assert sibling_models("aws.bedrock", "regional.anthropic.claude-3-5-sonnet-20241022-v2:0") == [
        "regional.anthropic.claude-3-5-haiku-20241022-v1:0"
    ]
    assert "grok-3-mini" in sibling_models("x_ai", "grok-3")  # semconv name mapped to genai-prices' x-ai
