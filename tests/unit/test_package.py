"""The package's top level: what users import from ``spanmeter``, and what that import costs."""

from __future__ import annotations

import subprocess
import sys


def _imported_after(code: str) -> set[str]:
    """Modules loaded in a fresh interpreter after running ``code``."""
    probe = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(run.stdout.split())


def test_spanmeter_processor_is_importable_from_the_top_level():
    from spanmeter import SpanmeterProcessor
    from spanmeter.processing import SpanmeterProcessor as from_processing

    assert SpanmeterProcessor is from_processing


def test_import_spanmeter_loads_neither_processing_nor_the_configurator():
    loaded = _imported_after("import spanmeter")
    assert not {m for m in loaded if m.startswith(("spanmeter.processing", "spanmeter.distro"))}
    assert "spanmeter.version" in loaded


def test_processing_does_not_import_instrumentation():
    loaded = _imported_after("import spanmeter.processing")
    # The package root imports the manual API (spanmeter.instrumentation.manual, with the drivers
    # it runs on, .execution); nothing else of instrumentation may come in through processing.
    assert {m for m in loaded if m.startswith("spanmeter.instrumentation")} == {
        "spanmeter.instrumentation",
        "spanmeter.instrumentation.execution",
        "spanmeter.instrumentation.manual",
    }


def test_settings_import_nothing_of_processing():
    """Settings are read by instrumentation and processing alike; the files they name are checked by their users."""
    loaded = _imported_after("import spanmeter.settings")
    assert not {m for m in loaded if m.startswith("spanmeter.processing")}


def test_version_comes_from_version_module():
    import spanmeter
    from spanmeter.version import __version__

    assert spanmeter.__version__ == __version__
