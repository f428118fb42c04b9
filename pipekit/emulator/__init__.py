"""moto, extended for this project's templates: an emulated AWS endpoint for tests and local mode.

`start()` runs the endpoint in-process; `python -m pipekit.emulator --port N` runs it in the
foreground. `apply_extensions()` (patches.apply) registers the fixes into moto (idempotent);
`start()` calls it.
"""

from __future__ import annotations

from importlib.metadata import version as _version

MOTO_VERSION = "5.2.5"

_installed = _version("moto")
if _installed != MOTO_VERSION:
    # The extensions patch moto's internals; another version would break them silently.
    raise ImportError(
        f"pipekit.emulator needs moto=={MOTO_VERSION} exactly (found {_installed}); "
        "run `make setup` to reinstall the pinned environment"
    )

from pipekit.emulator.connections.store import set_connection_status  # noqa: E402
from pipekit.emulator.patches import apply as apply_extensions  # noqa: E402
from pipekit.emulator.server import Emulator, start  # noqa: E402

__all__ = ["MOTO_VERSION", "Emulator", "apply_extensions", "set_connection_status", "start"]
