"""The one writer of ``gen_ai.usage.*``: every instrumentor hands it the counts its library reports.

Whichever library the counts come from, the attributes mean the same:

* ``gen_ai.usage.input_tokens`` includes cached tokens (cache reads and writes), as the GenAI
  semantic conventions and pricing want it. For a provider whose API leaves them out
  (``input_includes_cache`` false in :mod:`spanmeter.providers`: Anthropic, Bedrock) they
  are added.
* Input and output counts are written when reported, zero included; cache read, cache
  creation and reasoning counts only when above zero (an absent count prices as zero, and a
  zero tells readers nothing).
* A count that is not a non-negative ``int`` (None, a bool, a str from an odd body) is left
  out: a payload a library changes costs an attribute, never the app.

Called once per model call on the app's thread: a few type checks and dict writes.
"""

from __future__ import annotations

from typing import Any

from spanmeter import semconv

_INPUT = semconv.GEN_AI_USAGE_INPUT_TOKENS
_OUTPUT = semconv.GEN_AI_USAGE_OUTPUT_TOKENS
_CACHE_READ = semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS
_CACHE_CREATION = semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS
_REASONING = semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS


def add_usage(
    attributes: dict[str, Any],
    input_tokens: Any,
    output_tokens: Any,
    cache_read: Any = None,
    cache_creation: Any = None,
    reasoning: Any = None,
    *,
    input_includes_cache: bool = True,
) -> None:
    """Write the ``gen_ai.usage.*`` attributes of one model call into ``attributes``.

    The counts are as the library reports them; ``input_includes_cache`` is the provider's
    convention for ``input_tokens`` (its row in :mod:`spanmeter.providers`).
    """
    cache_read = cache_read if type(cache_read) is int and cache_read > 0 else 0
    cache_creation = cache_creation if type(cache_creation) is int and cache_creation > 0 else 0
    if type(input_tokens) is int and input_tokens >= 0:
        attributes[_INPUT] = input_tokens if input_includes_cache else input_tokens + cache_read + cache_creation
    if type(output_tokens) is int and output_tokens >= 0:
        attributes[_OUTPUT] = output_tokens
    if cache_read:
        attributes[_CACHE_READ] = cache_read
    if cache_creation:
        attributes[_CACHE_CREATION] = cache_creation
    if type(reasoning) is int and reasoning > 0:
        attributes[_REASONING] = reasoning
