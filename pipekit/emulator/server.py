"""The emulated endpoint: moto's threaded server with the project's extensions in front of it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from pipekit.emulator import clock, patches, sessions
from pipekit.emulator.admin import AdminApp
from pipekit.emulator.authn import AuthnApp
from pipekit.emulator.connections import store as connections
from pipekit.emulator.connections.app import ConnectionsApp
from pipekit.emulator.models.codedeploy import DeploymentConfig
from pipekit.emulator.patches import autoscaling

REGION = "us-east-1"
# Dummy credentials: moto accepts any, boto3 needs some to sign.
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass
class Emulator:
    host: str
    port: int
    _server: BaseWSGIServer = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def endpoint_url(self) -> str:
        # "localhost" rather than the IP: moto's nested-stack loader resolves
        # http://localhost:PORT/<bucket>/<key> template URLs but not 127.0.0.1 ones.
        host = "localhost" if self.host in ("127.0.0.1", "localhost") else self.host
        return f"http://{host}:{self.port}"

    def client(self, service: str, region: str = REGION) -> Any:
        """A boto3 client pointed at this endpoint with dummy credentials."""
        import boto3

        return boto3.client(
            service, region_name=region, endpoint_url=self.endpoint_url, **CREDENTIALS
        )

    def env(self, region: str = REGION) -> dict[str, str]:
        """Environment variables that point boto3/awscli in a subprocess at this endpoint."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
        }

    def reset(self) -> None:
        """Forget every resource in every emulated service (moto's reset plus ours), and put the
        clock back to real time."""
        from moto.moto_api import _internal

        from pipekit.emulator import records
        from pipekit.emulator.records import deployconfigs

        _internal.moto_api_backend.reset()
        autoscaling.reset()
        connections.reset()
        DeploymentConfig.STORE.clear()
        deployconfigs.reset()
        records.reset_all()
        sessions.reset()
        clock.reset()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class _QuietHandler(MotoRequestHandler):
    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        pass


def build_app() -> Any:
    """The WSGI application: role sessions' requests authorized first (authn), then the admin
    call (/_pipekit/clock), then the connections API, in front of moto's dispatcher, with the
    record APIs in place of moto's (CreateDeployment gets AWS's ids and rules even without local
    mode's engine)."""
    from pipekit.emulator import records

    patches.apply()
    records.install()
    return AuthnApp(AdminApp(ConnectionsApp(DomainDispatcherApplication(create_backend_app))))


def start(port: int = 0, host: str = "127.0.0.1", *, log_requests: bool = False) -> Emulator:
    """Serve the emulated AWS endpoint on host:port (0 = any free port) in a daemon thread."""
    app = build_app()
    handler = MotoRequestHandler if log_requests else _QuietHandler
    server = make_server(host, port, app, threaded=True, request_handler=handler)
    thread = threading.Thread(target=server.serve_forever, name="pipekit-emulator", daemon=True)
    thread.start()
    return Emulator(host=host, port=server.server_address[1], _server=server, _thread=thread)
