"""Spans made in child processes are exported under ``opentelemetry-instrument``, once each.

Each app runs its work in ``multiprocessing`` children (Process and Pool; fork and spawn)
inside a workflow span of the parent, and writes spans to spanmeter's file exporter,
which every process appends to. The pool is used as most code uses it, ``with Pool()``,
whose exit terminates the workers.
"""

from __future__ import annotations

import textwrap
from collections import Counter

import pytest

from spanmeter.report import read_spans

pytestmark = pytest.mark.integration

CALLS = 10

APP = textwrap.dedent(
    """
    import multiprocessing
    import sys

    import spanmeter


    @spanmeter.tool("lookup")
    def lookup(i):
        return i * 2


    def run_some(start, count):
        for i in range(start, start + count):
            lookup(i)


    if __name__ == "__main__":
        method, kind, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
        context = multiprocessing.get_context(method)
        with spanmeter.workflow("parent"):
            if kind == "pool":
                with context.Pool(2) as pool:
                    assert pool.map(lookup, range(calls)) == [i * 2 for i in range(calls)]
            else:
                half = calls // 2
                children = [context.Process(target=run_some, args=(0, half)),
                            context.Process(target=run_some, args=(half, calls - half))]
                for child in children:
                    child.start()
                for child in children:
                    child.join()
                assert [child.exitcode for child in children] == [0, 0]
        print("app done")
    """
)

BARE_FORK_APP = textwrap.dedent(
    """
    import os
    import sys

    import spanmeter


    @spanmeter.tool("lookup")
    def lookup(i):
        return i * 2


    with spanmeter.workflow("parent"):
        pid = os.fork()
        if pid == 0:
            lookup(1)
            sys.exit(0)  # leaves the parent's workflow span in the child too
        os.waitpid(pid, 0)
        lookup(2)
    print("app done")
    """
)


def spans_by_name(path) -> tuple[Counter, list[str]]:
    spans = list(read_spans(path))
    return Counter(span.name for span in spans), [span.span_id for span in spans]


@pytest.mark.parametrize("method", ["fork", "spawn"])
@pytest.mark.parametrize("kind", ["process", "pool"])
def test_every_span_made_in_a_child_is_exported_once(tmp_path, run_instrumented, method, kind):
    script = tmp_path / "app.py"
    script.write_text(APP)

    run = run_instrumented(
        script, tmp_path, OTEL_PYTHON_DISTRO="spanmeter", OTEL_PYTHON_CONFIGURATOR="spanmeter",
        OTEL_METRICS_EXPORTER="none", args=[method, kind, str(CALLS)],
    )  # fmt: skip

    assert "app done" in run.stdout
    names, span_ids = spans_by_name(tmp_path / "spanmeter-traces.jsonl")
    assert names == {"execute_tool lookup": CALLS, "invoke_workflow parent": 1}
    assert len(set(span_ids)) == len(span_ids)


def test_a_bare_fork_child_never_exports_the_parents_open_span(tmp_path, run_instrumented):
    script = tmp_path / "app.py"
    script.write_text(BARE_FORK_APP)

    run_instrumented(
        script, tmp_path, OTEL_PYTHON_DISTRO="spanmeter", OTEL_PYTHON_CONFIGURATOR="spanmeter",
        OTEL_METRICS_EXPORTER="none",
    )  # fmt: skip

    names, span_ids = spans_by_name(tmp_path / "spanmeter-traces.jsonl")
    assert names == {"execute_tool lookup": 2, "invoke_workflow parent": 1}
    assert len(set(span_ids)) == len(span_ids)
