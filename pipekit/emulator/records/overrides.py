"""How the record APIs take over moto's responses: each service module names the response methods
it replaces; `replace()` installs them once and keeps moto's originals, which the overrides call
for what is not theirs (an execution moto started, a build the engine never ran).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipekit.emulator.records.store import Records, records_for

_ORIGINALS: dict[str, Callable[..., Any]] = {}


def replace(response_class: type, service: str, table: dict[str, Callable[..., Any]]) -> None:
    """Put `table`'s functions in place of those methods of `response_class`. Idempotent."""
    for method, func in table.items():
        key = f"{service}.{method}"
        if key not in _ORIGINALS:
            _ORIGINALS[key] = getattr(response_class, method, None) or _not_implemented(method)
            setattr(response_class, method, func)


def original(key: str) -> Callable[..., Any]:
    """moto's own method for "<service>.<method>"."""
    return _ORIGINALS[key]


def context(response: Any) -> tuple[str, str, Records]:
    """The account, region and records a request is for."""
    account_id, region = response.current_account, response.region
    return account_id, region, records_for(account_id, region)


def _not_implemented(method: str) -> Callable[..., Any]:
    def fail(self: Any) -> Any:
        raise NotImplementedError(f"The {method} action has not been implemented")

    return fail
