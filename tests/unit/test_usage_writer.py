"""The one ``gen_ai.usage.*`` writer: the conventions' meanings whatever the library reported."""

from __future__ import annotations

from spanmeter import providers, semconv
from spanmeter.instrumentation.usage import add_usage

INPUT, OUTPUT = semconv.GEN_AI_USAGE_INPUT_TOKENS, semconv.GEN_AI_USAGE_OUTPUT_TOKENS
CACHE_READ = semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS
CACHE_CREATION = semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS
REASONING = semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS


def written(*counts, **convention) -> dict:
    attributes: dict = {}
    add_usage(attributes, *counts, **convention)
    return attributes


def test_input_that_includes_the_cache_is_written_as_reported():
    assert written(1200, 80, 1000, 100, 30) == {INPUT: 1200, OUTPUT: 80, CACHE_READ: 1000, CACHE_CREATION: 100,
                                                 REASONING: 30}  # fmt: skip


def test_input_that_leaves_the_cache_out_gets_it_added_for_the_provider_tables_convention():
    includes = providers.get("anthropic").input_includes_cache
    assert written(200, 80, 1000, 100, input_includes_cache=includes) == {
        INPUT: 1300, OUTPUT: 80, CACHE_READ: 1000, CACHE_CREATION: 100}  # fmt: skip


def test_zero_input_and_output_are_facts_zero_details_are_left_out():
    assert written(0, 0, 0, 0, 0) == {INPUT: 0, OUTPUT: 0}


def test_counts_that_are_not_non_negative_ints_are_left_out():
    assert written("12", True, -1, 2.0, None) == {}
    assert written(None, 5, True, "3", False, input_includes_cache=False) == {OUTPUT: 5}
    assert written(-3, None) == {}


def test_a_missing_input_gets_no_cache_added_to_it():
    assert written(None, 7, 40, input_includes_cache=False) == {OUTPUT: 7, CACHE_READ: 40}
