"""The one AnyValue codec: every member, both directions, and OTLP/JSON read as protobuf's own parser reads it."""

from __future__ import annotations

import math

import pytest
from google.protobuf import json_format
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValueList

from spanmeter.otlp import anyvalue

PYTHON_VALUES = {
    "s": "x",
    "empty string": "",
    "i": -(2**63),
    "zero": 0,
    "d": 0.25,
    "b": False,
    "bytes": b"\x00\xff\xfe",
    "array": ("a", 1, 2.5, True),
    "empty array": (),
    "nested": (("x",), {"k": 1}),
    "kvlist": {"n": "v", "inner": {"deep": (1, 2)}},
}


@pytest.mark.parametrize("name", PYTHON_VALUES)
def test_python_values_survive_protobuf_both_ways(name):
    value = PYTHON_VALUES[name]
    target = AnyValue()
    anyvalue.set_value(target, value)
    assert anyvalue.to_python(AnyValue.FromString(target.SerializeToString())) == value


def test_arrays_are_tuples_unless_the_caller_asks_for_lists():
    target = AnyValue()
    anyvalue.set_value(target, {"a": (1, (2,))})
    assert anyvalue.to_python(target, list) == {"a": [1, [2]]}
    assert anyvalue.to_python(AnyValue()) is None


def _json_documents(value: AnyValue) -> list[dict]:
    """The same AnyValue as OTLP/JSON in both key cases, 64-bit integers as strings and as numbers."""
    camel = json_format.MessageToDict(value)
    snake = json_format.MessageToDict(value, preserving_proto_field_name=True)

    def numbers(node):
        if isinstance(node, dict):
            return {k: int(v) if k in ("intValue", "int_value") else numbers(v) for k, v in node.items()}
        return [numbers(item) for item in node] if isinstance(node, list) else node

    return [camel, snake, numbers(camel), numbers(snake)]


@pytest.mark.parametrize("name", PYTHON_VALUES)
def test_json_reads_as_protobufs_own_parser_reads_it(name):
    source = AnyValue()
    anyvalue.set_value(source, PYTHON_VALUES[name])
    for document in _json_documents(source):
        parsed = json_format.ParseDict(document, AnyValue())
        built = AnyValue()
        anyvalue.set_from_json(built, document)
        assert built == parsed == source
        assert anyvalue.json_to_python(document) == anyvalue.to_python(parsed)
        assert anyvalue.json_to_python(document, list) == anyvalue.to_python(parsed, list)


def test_unknown_members_are_ignored_and_special_doubles_are_read():
    value = {"futureValue": {"x": 1}, "doubleValue": "-Infinity"}
    built = AnyValue()
    anyvalue.set_from_json(built, value)
    assert built == json_format.ParseDict(value, AnyValue(), ignore_unknown_fields=True)
    assert anyvalue.json_to_python(value) == -math.inf
    assert anyvalue.json_to_python({"futureValue": 1}) is None


def test_url_safe_unpadded_bytes_are_read_as_protobuf_reads_them():
    value = {"bytesValue": "_-8"}
    assert anyvalue.json_to_python(value) == json_format.ParseDict(value, AnyValue()).bytes_value == b"\xff\xef"


@pytest.mark.parametrize(
    "value",
    [{"stringValue": 5}, {"boolValue": "true"}, {"intValue": "1.5"}, {"intValue": 1.5}, {"doubleValue": [1]}],
)
def test_wrong_types_raise(value):
    with pytest.raises((TypeError, ValueError)):
        anyvalue.json_to_python(value)
    with pytest.raises((TypeError, ValueError)):
        anyvalue.set_from_json(AnyValue(), value)
    with pytest.raises(json_format.ParseError):
        json_format.ParseDict(value, AnyValue())


def test_key_value_lists_need_their_keys():
    with pytest.raises(KeyError):
        anyvalue.json_attributes([{"value": {"stringValue": "x"}}])
    with pytest.raises(KeyError):
        anyvalue.append_json_attributes(KeyValueList().values, [{"value": {}}])
