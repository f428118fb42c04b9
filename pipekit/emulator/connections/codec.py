"""Smithy RPC v2 CBOR for the codeconnections API: botocore speaks it to codeconnections
(2023-12-01), and nothing in moto can read or write it.

Requests are parsed and successful responses encoded with botocore's own CBOR parser and
serializer against the service model's shapes, so clients parse exactly what AWS would send;
error bodies ({"__type", "message"}) have no output shape and are written by hand.
"""

from __future__ import annotations

import io
from typing import Any

from botocore.parsers import RpcV2CBORParser
from botocore.serialize import RpcV2CBORSerializer

from pipekit.emulator.convert import service_model


def decode(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    return RpcV2CBORParser().parse_data_item(io.BufferedReader(io.BytesIO(body)))


def encode(service: str, operation: str, result: dict[str, Any], status: int) -> bytes:
    if status != 200:
        return _cbor_text_map(result)
    out = bytearray()
    shape = service_model(service).operation_model(operation).output_shape
    RpcV2CBORSerializer()._serialize_data_item(out, result, shape)
    return bytes(out)


def _cbor_head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if length < 1 << (8 * size):
            return bytes([major << 5 | info]) + length.to_bytes(size, "big")
    raise ValueError("too long")


def _cbor_text_map(values: dict[str, str]) -> bytes:
    """An error body ({"__type", "message"}): a CBOR map of text strings."""
    out = bytearray(_cbor_head(5, len(values)))
    for key, value in values.items():
        for text in (key, value):
            data = text.encode()
            out += _cbor_head(3, len(data)) + data
    return bytes(out)
