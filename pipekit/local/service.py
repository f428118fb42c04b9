"""The local-mode service: one process holding the emulated AWS endpoint (extended moto) and
the pipeline engine, plus a small loopback control endpoint for the git hook and `local up`.

    python -m pipekit.local.service --state-dir DIR --port P --control-port C --app-port A
        [--load-balancer]   (fleet mode: 127.0.0.1:A is the load balancer, local/loadbalancer.py;
                             else the Elastic IP, local/elasticip.py)

Control endpoint (JSON over HTTP, 127.0.0.1 only):
  GET  /health                      -> {"endpoint_url", "machines", "addresses" (instance id
                                        -> host address), "elastic_ip" (its instance), "pid",
                                        "load_balancer" (fleet: LoadBalancer.describe())}
  POST /push      {repository, updates:[{old,new,ref}]} -> {"started": [execution ids]}
  POST /hosts     {instance_ids:[...]}                  -> {"machines": [...]} (boots them;
                  later launches and terminations boot and stop hosts by themselves)
  POST /connection {arn, status}    stands in for the console handshake
  POST /shutdown                    stops hosts, engine and endpoint, then exits
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pipekit.emulator import records
from pipekit.local import lbcloudwatch
from pipekit.local.actions.base import Runners
from pipekit.local.autoscaling import Launches, instance_app_env
from pipekit.local.elasticip import ElasticIp
from pipekit.local.engine import Engine
from pipekit.local.gitremote import GitRemote
from pipekit.local.loadbalancer import LoadBalancer

log = logging.getLogger("pipekit.local.service")


class HostPool:
    """One booted nspawn host per EC2 instance id, booted on first use, each in its own network
    namespace listening on the app port at its own address."""

    def __init__(
        self,
        state_dir: Path,
        app_port: int,
        env_for: Callable[[str], dict[str, str]] | None = None,
        emulator_url: str = "",
    ) -> None:
        self.state_dir = state_dir
        self.app_port = app_port
        # what the instance's user data writes to /etc/sample-app/env besides PORT
        self.env_for = env_for or (lambda instance_id: {})
        self.emulator_url = emulator_url  # reached by each host through its link's forwarder
        self.hosts: dict[str, Any] = {}
        self.links: dict[str, Any] = {}  # instance id -> its Forwarder to the emulator
        self._lock = threading.Lock()  # the table; never held through a boot
        self._booting = threading.Lock()  # one boot at a time

    def get(self, instance_id: str) -> Any:
        from pipekit.local.runtime.host import boot_host

        with self._booting:
            with self._lock:
                host = self.hosts.get(instance_id)
            if host is None:
                log.info("booting host %s on app port %s", instance_id, self.app_port)
                host = self._boot(boot_host, instance_id)
                with self._lock:
                    self.hosts[instance_id] = host
            return host

    def _boot(self, boot_host: Any, instance_id: str) -> Any:
        """Boot the instance's host as its user data leaves it (pipekit.local.instance_aws):
        the env file's lines, an AWS CLI, a way to the emulator and nothing else."""
        from pipekit.local import instance_aws
        from pipekit.local.forwarder import Forwarder

        packages = instance_aws.site_packages()
        host = boot_host(
            instance_id,
            app_port=self.app_port,
            state_dir=self.state_dir,
            env=self.env_for(instance_id),
            bind_ro=((packages, instance_aws.MOUNT_POINT),) if packages else (),
        )
        if not self.emulator_url:
            return host
        try:
            if packages:
                host.put_file(instance_aws.WRAPPER_PATH, instance_aws.WRAPPER.encode(), 0o755)
            listen, port, _ = instance_aws.endpoint_for(host.network.peer, self.emulator_url)
            target = instance_aws.emulator_target(self.emulator_url)
            link = Forwarder(listen, port, lambda: target)
            link.start()
        except BaseException:
            host.stop()
            raise
        with self._lock:
            self.links[instance_id] = link
        return host

    def endpoint(self, instance_id: str) -> str:
        """AWS_ENDPOINT_URL for the instance's processes ("" without a host or emulator)."""
        with self._lock:
            host = self.hosts.get(instance_id)
        if host is None or not self.emulator_url:
            return ""
        from pipekit.local import instance_aws

        return instance_aws.endpoint_for(host.network.peer, self.emulator_url)[2]

    def _unlink(self, instance_id: str) -> None:
        with self._lock:
            link = self.links.pop(instance_id, None)
        if link is not None:
            link.close()

    def stop(self, instance_id: str) -> None:
        """Stop the host of a terminated instance (nothing if it has none)."""
        with self._lock:
            host = self.hosts.pop(instance_id, None)
        if host is not None:
            log.info("stopping host %s (instance terminated)", instance_id)
            self._unlink(instance_id)
            host.stop()

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self.hosts)

    def address(self, instance_id: str) -> str | None:
        """Where this machine reaches the instance's host, if it has one."""
        with self._lock:
            host = self.hosts.get(instance_id)
        return host.address if host is not None else None

    def addresses(self) -> dict[str, str]:
        with self._lock:
            return {name: host.address for name, host in sorted(self.hosts.items())}

    def stop_all(self) -> None:
        with self._booting, self._lock:  # a boot under way ends first, then stops too
            links, self.links = dict(self.links), {}
        for link in links.values():
            link.close()
        with self._booting, self._lock:
            for name, host in list(self.hosts.items()):
                try:
                    host.stop()
                except Exception:
                    log.exception("could not stop host %s", name)
                self.hosts.pop(name, None)


def _build(source_dir: Path, work_dir: Path, env: dict[str, str], buildspec: Path | None) -> Any:
    from pipekit.local.runtime.buildrunner import run_build

    project = env.get("CODEBUILD_BUILD_ID", "build:").split(":", 1)[0]
    return run_build(source_dir, work_dir, env, buildspec, project=project)


def _deploy(host: Any, bundle: Path, **kwargs: Any) -> Any:
    from pipekit.local.runtime.hookrunner import deploy_to_host

    return deploy_to_host(host, bundle, **kwargs)


def _connection_status(arn: str) -> str | None:
    try:
        from pipekit.emulator.connections import get_connection

        return get_connection(arn).status
    except Exception:
        return None


class Service:
    def __init__(
        self,
        state_dir: Path,
        port: int,
        control_port: int,
        app_port: int,
        connection_wait_s: float,
        load_balancer: bool = False,
    ) -> None:
        self.state_dir = state_dir
        self.hosts = HostPool(state_dir / "machines", app_port, instance_app_env)
        self.git = GitRemote(state_dir / "git")
        from pipekit.emulator import start

        self.emulator = start(port)
        self.hosts.emulator_url = self.emulator.endpoint_url
        self.engine = Engine(
            Runners(
                build=_build,
                deploy=_deploy,
                host_for=self.hosts.get,
                connection_status=_connection_status,
                connection_wait_s=connection_wait_s,
                endpoint_url=self.emulator.endpoint_url,
                instance_endpoint=self.hosts.endpoint,
            ),
            self.git,
            state_dir / "work",
        )
        (state_dir / "work").mkdir(parents=True, exist_ok=True)
        records.install()
        records.set_controller(self.engine)
        self.elastic_ip: ElasticIp | None = None
        self.load_balancer: LoadBalancer | None = None
        if load_balancer:
            self.load_balancer = LoadBalancer(self.hosts, app_port, state_dir, self._elbv2)
            self.load_balancer.add_stats_listener(
                lbcloudwatch.stats_listener(self.load_balancer.health)
            )
            self.load_balancer.start()
        else:
            self.elastic_ip = ElasticIp(self.hosts, app_port)
            self.elastic_ip.start()
        self.launches = Launches(self.hosts, self.engine.deployer, self.elastic_ip)
        self.launches.start()
        self.control = ThreadingHTTPServer(("127.0.0.1", control_port), self._handler())
        self.control.daemon_threads = True
        self._stopped = threading.Event()

    @property
    def endpoint_url(self) -> str:
        return self.emulator.endpoint_url

    def _elbv2(self) -> Any:
        import boto3

        from pipekit.local.state import LOCAL_CREDENTIALS, LOCAL_REGION

        return boto3.client(
            "elbv2",
            region_name=LOCAL_REGION,
            endpoint_url=self.endpoint_url,
            **LOCAL_CREDENTIALS,
        )

    def serve(self) -> None:
        threading.Thread(target=self.engine.watch_new_pipelines, daemon=True).start()
        threading.Thread(target=self.control.serve_forever, daemon=True).start()
        self._stopped.wait()

    def shutdown(self) -> None:
        if self._stopped.is_set():
            return
        log.info("shutting down")
        self.engine.close()
        self.launches.close()
        if self.elastic_ip is not None:
            self.elastic_ip.close()
        if self.load_balancer is not None:
            self.load_balancer.close()
        self.hosts.stop_all()
        records.set_controller(None)
        self.control.shutdown()
        self.emulator.stop()
        self._stopped.set()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug(fmt, *args)

            def _reply(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/health":
                    self._reply(
                        200,
                        {
                            "endpoint_url": service.endpoint_url,
                            "machines": service.hosts.names(),
                            "addresses": service.hosts.addresses(),
                            "elastic_ip": service.elastic_ip.instance()
                            if service.elastic_ip
                            else None,
                            "pid": os.getpid(),
                            **(
                                {"load_balancer": service.load_balancer.describe()}
                                if service.load_balancer
                                else {}
                            ),
                        },
                    )
                else:
                    self._reply(404, {"error": "not found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                    if self.path == "/push":
                        started = service.engine.on_push(body["repository"], body["updates"])
                        self._reply(200, {"started": started})
                    elif self.path == "/hosts":
                        for instance_id in body.get("instance_ids", []):
                            service.launches.boot(instance_id)
                        self._reply(200, {"machines": service.hosts.names()})
                    elif self.path == "/connection":
                        from pipekit.emulator import set_connection_status

                        set_connection_status(body["arn"], body["status"])
                        self._reply(200, {"arn": body["arn"], "status": body["status"]})
                    elif self.path == "/shutdown":
                        self._reply(200, {"stopping": True})
                        threading.Thread(target=service.shutdown, daemon=True).start()
                    else:
                        self._reply(404, {"error": "not found"})
                except Exception as exc:
                    log.exception("control request %s failed", self.path)
                    self._reply(500, {"error": f"{type(exc).__name__}: {exc}"})

        return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipekit.local.service")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True, help="emulated AWS endpoint port")
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("--app-port", type=int, required=True, help="port the app listens on")
    parser.add_argument(
        "--connection-wait",
        type=float,
        default=300.0,
        help="seconds a Source action waits for a PENDING connection (AWS fails at once)",
    )
    parser.add_argument(
        "--load-balancer",
        action="store_true",
        help="fleet mode: run the load balancer (HAProxy) on the app port instead of the "
        "Elastic IP's forwarder",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    service = Service(
        args.state_dir.resolve(),
        args.port,
        args.control_port,
        args.app_port,
        args.connection_wait,
        args.load_balancer,
    )
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=service.shutdown).start())
    signal.signal(signal.SIGINT, lambda *_: threading.Thread(target=service.shutdown).start())
    print(json.dumps({"endpoint_url": service.endpoint_url, "pid": os.getpid()}), flush=True)
    service.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
