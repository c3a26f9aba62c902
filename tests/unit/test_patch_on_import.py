"""Instrumentors patch a library when the app imports it: instrument() alone imports nothing.

Run in a fresh interpreter, since this test session imported openai and anthropic long ago.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench import llm_fakes

TESTS = Path(__file__).resolve().parents[1]

_SCRIPT = """
import sys
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from spanmeter.instrumentation.anthropic import AnthropicInstrumentor
from spanmeter.instrumentation.openai import OpenAIInstrumentor

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
OpenAIInstrumentor().instrument(tracer_provider=provider)
AnthropicInstrumentor().instrument(tracer_provider=provider)
print("after instrument:", "openai" in sys.modules, "anthropic" in sys.modules)

from support import openai_fakes  # the app's `import openai`
from bench import llm_fakes

client = openai_fakes.server(llm_fakes.openai_chat_body()).client()
client.chat.completions.create(model=openai_fakes.MODEL, messages=openai_fakes.MESSAGES)
print("spans:", [span.name for span in exporter.get_finished_spans()])
"""


def test_instrument_imports_no_sdk_until_the_app_does_and_then_patches_it():
    run = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        env={"PYTHONPATH": f"{TESTS}:{TESTS / 'unit'}", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "after instrument: False False",
        f"spans: ['chat {llm_fakes.OPENAI_MODEL}']",
    ]
