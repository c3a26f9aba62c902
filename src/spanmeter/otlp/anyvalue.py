"""The AnyValue codec, both directions: protobuf <-> Python values, and OTLP/JSON -> either.

Python values are what the OpenTelemetry SDK keeps as attributes: ``str``, ``bool``,
``int``, ``float``, ``bytes``, a sequence of them (a tuple, as the SDK stores arrays, or a
list where the caller asks for one), and a ``dict`` for a key-value list. An AnyValue with
no member set is ``None``.

OTLP/JSON names the members in lowerCamelCase (the specification) or in the proto's own
snake_case (which protobuf's JSON parser accepts too); 64-bit integers are strings or
numbers; bytes are base64. Each member is one row of :data:`_JSON_MEMBERS`, shared by the
JSON -> Python and JSON -> protobuf walks, so the two read a document the same way. A
member of an unknown name is ignored (a newer producer's), as protobuf's parser does with
``ignore_unknown_fields``; a value of the wrong type raises (TypeError or ValueError).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

# Messages a request may nest, itself counted as 1: protobuf's binary and JSON parsers refuse deeper
# ones (its default recursion limit), and the JSON traces decoder here refuses them at the same depth,
# so one limit holds for both encodings (an attribute value of a span: about 48 nested arrays).
MAX_MESSAGE_DEPTH = 100

_ARRAY, _KVLIST = "array_value", "kvlist_value"


def _string(raw: Any) -> str:
    if type(raw) is not str:
        raise TypeError(f"expected a string, got {raw!r}")
    return raw


def _bool(raw: Any) -> bool:
    if type(raw) is not bool:
        raise TypeError(f"expected true or false, got {raw!r}")
    return raw


def int64(raw: Any) -> int:
    """An OTLP/JSON 64-bit integer: a decimal string (the specification) or a whole number."""
    kind = type(raw)
    if kind is str or kind is int:
        return int(raw)
    if kind is float and raw.is_integer():
        return int(raw)
    raise TypeError(f"expected an integer, got {raw!r}")


def base64_bytes(raw: Any) -> bytes:
    """Bytes as protobuf's JSON mapping writes them: base64, standard or URL-safe alphabet, padding optional."""
    text = _string(raw)
    return base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_") + "=" * (-len(text) % 4))


# JSON member name (either case) -> (protobuf field, conversion of the JSON value; None for arrays and kvlists).
_MEMBERS: dict[str, tuple[str, Callable[[Any], Any] | None]] = {
    "string_value": ("string_value", _string),
    "bool_value": ("bool_value", _bool),
    "int_value": ("int_value", int64),
    "double_value": ("double_value", float),  # numbers, "NaN", "Infinity", "-Infinity"
    "bytes_value": ("bytes_value", base64_bytes),
    _ARRAY: (_ARRAY, None),
    _KVLIST: (_KVLIST, None),
}
_JSON_MEMBERS = {**_MEMBERS, **{name.replace("_v", "V"): member for name, member in _MEMBERS.items()}}


# -- protobuf -> Python ------------------------------------------------------------------------


def to_python(value: AnyValue, sequence: Callable[[Iterable[Any]], Any] = tuple) -> Any:
    """An AnyValue as a Python value; arrays become ``sequence`` (tuple unless asked), kvlists dicts."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == _ARRAY:
        return sequence(to_python(item, sequence) for item in value.array_value.values)
    if which == _KVLIST:
        return attributes(value.kvlist_value.values, sequence)
    return getattr(value, which)


def attributes(key_values: Iterable[KeyValue], sequence: Callable[[Iterable[Any]], Any] = tuple) -> dict[str, Any]:
    """Protobuf KeyValues as a dict of Python values."""
    return {kv.key: to_python(kv.value, sequence) for kv in key_values}


# -- Python -> protobuf ------------------------------------------------------------------------


def set_value(target: AnyValue, value: Any) -> None:
    """Write a Python value into an empty ``target``; other types are written as their ``str``."""
    kind = type(value)
    if kind is str:
        target.string_value = value
    elif kind is float:
        target.double_value = value
    elif kind is bool:
        target.bool_value = value
    elif kind is int:
        target.int_value = value
    elif kind is bytes:
        target.bytes_value = value
    elif isinstance(value, tuple | list):
        array = target.array_value
        array.SetInParent()  # an empty array is still an array
        for item in value:
            set_value(array.values.add(), item)
    elif isinstance(value, Mapping):
        target.kvlist_value.SetInParent()
        append_attributes(target.kvlist_value.values, value)
    elif value is not None:
        target.string_value = str(value)


def append_attributes(repeated: Any, new: Mapping[str, Any]) -> None:
    """Append ``new`` to a repeated KeyValue field (span, event, resource or data point attributes)."""
    for key, value in new.items():
        set_value(repeated.add(key=key).value, value)


# -- OTLP/JSON -> Python -----------------------------------------------------------------------


def json_to_python(value: Mapping[str, Any], sequence: Callable[[Iterable[Any]], Any] = tuple) -> Any:
    """An OTLP/JSON AnyValue as the Python value :func:`to_python` gives for the same AnyValue."""
    text = value.get("stringValue")
    if type(text) is str and len(value) == 1:  # most attributes
        return text
    for name, raw in value.items():
        member = _JSON_MEMBERS.get(name)
        if member is None:
            continue
        field, convert = member
        if convert is not None:
            return convert(raw)
        if field == _ARRAY:
            return sequence(json_to_python(item, sequence) for item in raw.get("values", ()))
        return json_attributes(raw.get("values", ()), sequence)
    return None


def json_attributes(items: Iterable[Mapping[str, Any]], sequence: Callable[[Iterable[Any]], Any] = tuple) -> dict:
    """OTLP/JSON KeyValues as a dict of Python values (a KeyValue without its key raises KeyError)."""
    return {item["key"]: json_to_python(item.get("value") or {}, sequence) for item in items}


# -- OTLP/JSON -> protobuf ---------------------------------------------------------------------


def set_from_json(target: AnyValue, value: Mapping[str, Any], level: int = 1) -> None:
    """Write an OTLP/JSON AnyValue into an empty ``target``, which sits ``level`` messages deep in its
    request; nesting past :data:`MAX_MESSAGE_DEPTH` raises ValueError, as protobuf's parsers refuse it."""
    if level > MAX_MESSAGE_DEPTH:
        raise ValueError(f"an attribute value nested deeper than {MAX_MESSAGE_DEPTH} messages")
    text = value.get("stringValue")
    if text is not None and len(value) == 1:  # most attributes; protobuf checks the type
        target.string_value = text
        return
    for name, raw in value.items():
        member = _JSON_MEMBERS.get(name)
        if member is None:
            continue
        field, convert = member
        if convert is not None:
            setattr(target, field, convert(raw))
            return
        if field == _ARRAY:
            array = target.array_value
            array.SetInParent()
            for item in raw.get("values", ()):
                set_from_json(array.values.add(), item, level + 2)
        else:
            target.kvlist_value.SetInParent()
            append_json_attributes(target.kvlist_value.values, raw.get("values", ()), level + 3)
        return
    target.SetInParent()  # no member protobuf knows: an empty value, present (as protobuf's parser leaves it)


def append_json_attributes(repeated: Any, items: Iterable[Mapping[str, Any]], level: int = 1) -> None:
    """Append OTLP/JSON KeyValues to a repeated KeyValue field; ``level``: how many messages deep their
    values sit in the request (a KeyValue without its key raises KeyError)."""
    for item in items:
        kv = repeated.add(key=item["key"])
        value = item.get("value")
        if value is not None:
            set_from_json(kv.value, value, level)
