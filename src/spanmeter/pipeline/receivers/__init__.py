"""OTLP receivers (gRPC and HTTP) and what they share: decoding (protobuf, JSON), auth, the answer to the sender.

A receiver decodes a request, hands it to the service's ``consume`` and answers from
what that returns: accepted (possibly with some spans rejected: partial success),
or refused because a queue is full (retryable), or the request was bad.
"""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Callable

from google.protobuf.message import DecodeError, Message

from spanmeter.otlp import json_codec
from spanmeter.otlp.protocol import REQUESTS

RETRY_AFTER_S = 1  # what a refused sender is told to wait


class BadRequest(ValueError):
    """The request cannot be decoded: INVALID_ARGUMENT / 400 with this message."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    refused: bool = False  # a queue is full (or, without a queue, the backend said so): retry later
    failed: bool = False  # without a queue, the backend refused the data for good: INTERNAL / 500
    rejected: int = 0  # items dropped from the request (partial success)
    message: str = ""


ACCEPTED = Outcome()
# consume(receiver name, transport, signal, decoded request, its protobuf bytes or None,
#         request headers / gRPC metadata (lower-case keys) when the receiver has include_metadata) -> Outcome
Consume = Callable[[str, str, str, Message, bytes | None, dict[str, str] | None], Outcome]


def decode_protobuf(signal: str, body: bytes) -> Message:
    try:
        return REQUESTS[signal].FromString(body)
    except DecodeError as exc:
        raise BadRequest(f"cannot decode the {REQUESTS[signal].__name__} protobuf: {exc}") from None


def decode_json(signal: str, body: bytes) -> Message:
    """An OTLP/JSON body, read by the one tolerant decoder (hex or base64 ids, either key case)."""
    try:
        return json_codec.decode(body, REQUESTS[signal])
    except json_codec.MalformedJSON as exc:
        raise BadRequest(f"cannot decode the OTLP/JSON {signal} request: {exc}") from None


def token_matches(header: str | None, token: str | None) -> bool:
    """``Authorization: Bearer <token>`` checked in constant time (no token configured: open)."""
    if token is None:
        return True
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[7:].strip().encode(), token.encode())
