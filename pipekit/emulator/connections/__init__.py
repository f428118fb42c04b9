"""The connections services moto lacks (codeconnections, codestar-connections): the store
(store.py), the API in front of moto (app.py) and its CBOR wire format (codec.py). Their
CloudFormation models are in models/connections.py.
"""

from __future__ import annotations

from pipekit.emulator.connections.store import get_connection

__all__ = ["get_connection"]
