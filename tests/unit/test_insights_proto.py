"""The generated Insights API code in src/spanmeter/v1 is what grpcio-tools makes of proto/ today."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTO = "spanmeter/v1/insights.proto"
GENERATED = ("insights_pb2.py", "insights_pb2.pyi", "insights_pb2_grpc.py")

# The generator writes its own version (and the protobuf runtime's) into the code: a patch release of
# grpcio-tools changes those lines and nothing else, so they are not part of the comparison.
VERSION_STAMP = re.compile(r"^(GRPC_GENERATED_VERSION = .*|# Protobuf Python Version: .*|\s*\d+,\s*)$", re.MULTILINE)


def without_version_stamps(path: Path) -> str:
    return VERSION_STAMP.sub("", path.read_text())


def test_generated_code_matches_the_proto(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I", str(ROOT / "proto"), f"--python_out={tmp_path}",
         f"--grpc_python_out={tmp_path}", f"--pyi_out={tmp_path}", str(ROOT / "proto" / PROTO)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    committed = ROOT / "src" / "spanmeter" / "v1"
    stale = [
        name
        for name in GENERATED
        if without_version_stamps(tmp_path / "spanmeter" / "v1" / name) != without_version_stamps(committed / name)
    ]
    assert not stale, f"regenerate {', '.join(stale)}: see src/spanmeter/v1/__init__.py"


def test_service_is_the_designed_one():
    from spanmeter.v1 import insights_pb2

    service = insights_pb2.DESCRIPTOR.services_by_name["Insights"]
    assert service.full_name == "spanmeter.v1.Insights"
    assert [m.name for m in service.methods] == ["GetCostSummary", "ListAnomalies", "GetBudgetStatus", "WatchAnomalies"]
    assert service.methods_by_name["WatchAnomalies"].server_streaming
