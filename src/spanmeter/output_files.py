"""Files spanmeter writes its results to: checked before the work that fills them, written whole.

One rule for whether a path can be written serves the start-up check of
``SPANMETER_TRACES_FILE`` / ``SPANMETER_METRICS_FILE`` (and the file the exporter then
uses instead, whichever configurator built it) and the output options of
``spanmeter report --html`` and ``spanmeter bench --json``, so a typo is told at once
instead of after the spans or the load are lost. Results are written to a temporary
file in the same directory, then renamed over the target, so a reader never sees half a
file and a failed write leaves the old one.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any


def unwritable_reason(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be written (created or appended to), or None when it can. Creates nothing."""
    target = Path(path)
    parent = target.parent
    if target.is_dir():
        return "it is a directory"
    if not parent.exists():
        return f"no directory {parent}"
    if not parent.is_dir():
        return f"{parent} is not a directory"
    if target.exists():
        return None if os.access(target, os.W_OK) else "no permission to write it"
    return None if os.access(parent, os.W_OK | os.X_OK) else f"no permission to create files in {parent}"


def writable_or_default(path: str, default: str) -> str:
    """``path``, or ``default`` when ``path`` cannot be written and ``default`` can: where a file
    exporter writes when its setting names a path it cannot (the start-up check says so once)."""
    if path == default or unwritable_reason(path) is None or unwritable_reason(default) is not None:
        return path
    return default


def write_atomically(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in its directory and a rename (OSError if it cannot)."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    # os.open with mode 0o666 honours the umask, as a plain open() of the target would.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def output_path_option(ctx: Any, param: Any, value: Path | None) -> Path | None:
    """click callback for an output-file option: a path that cannot be written is a usage error (exit 2)."""
    if value is not None:
        reason = unwritable_reason(value)
        if reason is not None:
            import click  # the commands' dependency, not the apps' that use unwritable_reason

            raise click.BadParameter(f"cannot write {value}: {reason}", ctx=ctx, param=param)
    return value
