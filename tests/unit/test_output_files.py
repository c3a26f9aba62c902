"""Result files: a path that cannot be written is a usage error before any work; results are written whole."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from spanmeter.cli import main
from spanmeter.output_files import unwritable_reason, write_atomically
from support.traces import Call, write_with_sdk


def test_unwritable_reasons(tmp_path):
    (tmp_path / "file").write_text("x")
    assert unwritable_reason(tmp_path / "new.json") is None
    assert unwritable_reason(tmp_path / "file") is None
    assert unwritable_reason(tmp_path / "missing" / "new.json") == f"no directory {tmp_path / 'missing'}"
    assert unwritable_reason(tmp_path / "file" / "new.json") == f"{tmp_path / 'file'} is not a directory"
    assert unwritable_reason(tmp_path) == "it is a directory"
    assert list(tmp_path.iterdir()) == [tmp_path / "file"]  # checking created nothing


def test_write_atomically_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "result.json"
    target.write_text("old")

    write_atomically(target, "new")
    assert target.read_text() == "new"
    with pytest.raises(TypeError):
        write_atomically(target, b"not text")  # fails mid-write

    assert target.read_text() == "new"
    assert list(tmp_path.iterdir()) == [target]


def test_report_html_into_a_missing_folder_is_a_usage_error_before_reading(tmp_path):
    traces = tmp_path / "traces.jsonl"
    traces.write_text("not OTLP\n")  # reading it would warn; the check comes first

    result = CliRunner().invoke(main, ["report", str(traces), "--html", str(tmp_path / "no" / "report.html")])

    assert result.exit_code == 2, result.output
    assert f"Invalid value for '--html': cannot write {tmp_path / 'no' / 'report.html'}: no directory" in result.output
    assert "not OTLP" not in result.output and result.exception.__class__ is SystemExit


@pytest.mark.parametrize("option", ["--output", "--html", "--json"])  # --json FILE: the deprecated form
def test_bench_output_into_a_missing_folder_is_a_usage_error_before_the_load(tmp_path, option):
    out = tmp_path / "no" / "result.json"

    result = CliRunner().invoke(main, ["bench", "support.bench_agent:answer", "--requests", "1", option, str(out)])

    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}': cannot write {out}: no directory {out.parent}" in result.output
    assert "load started" not in result.output


def test_report_html_is_written_whole(tmp_path):
    traces = tmp_path / "traces.jsonl"
    write_with_sdk(traces, [Call("run_stage load", 0, 1_000_000)])
    page = tmp_path / "report.html"

    result = CliRunner().invoke(main, ["report", str(traces), "--json", "--html", str(page)])

    assert result.exit_code == 0, result.output
    assert page.read_text().rstrip().endswith("</html>")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["report.html", "traces.jsonl"]
    assert json.loads(result.stdout)
