"""spanmeter's own protobuf APIs (package spanmeter.v1), generated from proto/ by grpcio-tools.

Regenerate with: python -m grpc_tools.protoc -I proto --python_out=src --grpc_python_out=src --pyi_out=src proto/spanmeter/v1/insights.proto
(tests/unit/test_insights_proto.py fails when these files and the .proto disagree).
"""
