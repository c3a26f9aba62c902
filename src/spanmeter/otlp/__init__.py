"""The OTLP wire format, once, below everything that sends or receives it.

protocol.py     the protocol tables: gRPC methods, HTTP paths, request/response types,
                partial success, retryable codes, RetryInfo
anyvalue.py     the AnyValue codec: protobuf <-> Python values, OTLP/JSON -> both
json_codec.py   OTLP/JSON: the one tolerant decoder (hex or base64 ids, camelCase or
                snake_case keys, enums as numbers or names, 64-bit integers as strings or
                numbers) and the encoder of protobuf requests (hex ids)
span_bytes.py   where each span lies in a serialized traces request (tags and lengths only)
"""
