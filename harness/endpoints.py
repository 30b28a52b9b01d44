#!/usr/bin/env python3
"""Local stand-ins for the cloud and cluster endpoints the workbench talks to.

Each endpoint is a real server process on 127.0.0.1, started, reset and stopped by PID. Its PID,
port and log live in a state directory (default: .rehearsal/ at the repository root, or
$KDSW_STATE_DIR), and `env` prints the variables that point Ansible and boto3 at it.

    harness/endpoints.py start [NAME...]     start endpoints (all by default)
    harness/endpoints.py reset [NAME...]     wipe their state, keep them running
    harness/endpoints.py stop  [NAME...]     stop them by PID
    harness/endpoints.py status              what runs, where
    harness/endpoints.py env                 shell exports for the running endpoints

KDSW_<NAME>_PORT (e.g. KDSW_MOTO_PORT) pins an endpoint's port; by default a free one is taken.
Later endpoints (OpenLDAP, a Kubernetes API emulator, JupyterHub) are added as Endpoint
subclasses in ENDPOINTS; the CLI, the pytest fixtures and molecule use this one registry.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"


def free_port():
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


class Endpoint:
    """A server process owned by the harness. Subclasses say how to start, probe and reset it."""

    name = ""

    def __init__(self, state_dir):
        self.dir = Path(state_dir) / self.name
        self.state_file = self.dir / "state.json"

    # --- what a subclass provides ---------------------------------------------------------
    def command(self, port):
        raise NotImplementedError

    def ready(self, port):
        raise NotImplementedError

    def environment(self, port):
        return {}

    def reset(self):
        raise NotImplementedError

    def process_env(self):
        return dict(os.environ)

    # --- common lifecycle -----------------------------------------------------------------
    def state(self):
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None

    @property
    def log_path(self):
        return self.dir / "server.log"

    @property
    def port(self):
        return (self.state() or {}).get("port")

    def running(self):
        state = self.state()
        return bool(state) and pid_alive(state["pid"])

    def start(self, timeout=60):
        if self.running():
            return self.state()
        self.dir.mkdir(parents=True, exist_ok=True)
        port = int(os.environ.get(f"KDSW_{self.name.upper()}_PORT") or free_port())
        with open(self.log_path, "ab") as log:
            proc = subprocess.Popen(  # pylint: disable=consider-using-with
                self.command(port), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.dir, env=self.process_env(), start_new_session=True)
        state = {"pid": proc.pid, "port": port, "env": self.environment(port)}
        self.state_file.write_text(json.dumps(state))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {proc.returncode}; see {self.log_path}")
            if self.ready(port):
                return state
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} not ready on port {port} after {timeout}s; see {self.log_path}")

    def stop(self, timeout=15):
        state = self.state()
        if not state:
            return False
        pid = state["pid"]
        if pid_alive(pid):
            os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if pid_alive(pid):
                os.killpg(pid, signal.SIGKILL)
        self.state_file.unlink(missing_ok=True)
        return True


class Moto(Endpoint):
    """moto in server mode: the AWS API (EC2, IAM, S3, EFS, SSM, STS...) on 127.0.0.1."""

    name = "moto"
    # One request line of moto's access log; werkzeug colours some (201, 4xx, 5xx) with ANSI escapes.
    request_line = re.compile(rb'"(?:\x1b\[[0-9;]*m)*(GET|POST|PUT|DELETE|HEAD|PATCH) (?!/moto-api)(\S*) HTTP/')

    def command(self, port):
        server = shutil.which("moto_server", path=os.path.dirname(sys.executable)) or "moto_server"
        return [server, "-H", LOOPBACK, "-p", str(port)]

    def process_env(self):
        env = dict(os.environ)
        env["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
        return env

    def url(self, port=None):
        return f"http://{LOOPBACK}:{port or self.port}"

    def ready(self, port):
        try:
            with urllib.request.urlopen(self.url(port) + "/moto-api/data.json", timeout=2):
                return True
        except (urllib.error.URLError, OSError):
            return False

    def environment(self, port):
        url = self.url(port)
        return {
            "AWS_URL": url,
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "AKIDLOCALREHEARSAL00",
            "AWS_SECRET_ACCESS_KEY": "local-endpoint-fake-secret-0000",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
        }

    def reset(self):
        request = urllib.request.Request(self.url() + "/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def log_offset(self):
        """A mark in the access log: pass it to requests() to see only what came after."""
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def requests(self, since=0):
        """(method, path) of each AWS API request answered since the mark, not counting /moto-api."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(since)
                return [(method.decode(), path.decode()) for method, path in self.request_line.findall(log.read())]
        except OSError:
            return []

    def request_count(self, since=0):
        return len(self.requests(since))


ENDPOINTS = {cls.name: cls for cls in (Moto,)}


class Harness:
    """The set of endpoints under one state directory."""

    def __init__(self, state_dir=None):
        self.state_dir = Path(state_dir or os.environ.get("KDSW_STATE_DIR") or REPO / ".rehearsal")

    def endpoint(self, name):
        try:
            return ENDPOINTS[name](self.state_dir)
        except KeyError:
            raise SystemExit(f"unknown endpoint {name!r}; known: {', '.join(ENDPOINTS)}") from None

    def endpoints(self, names=None):
        return [self.endpoint(name) for name in (names or ENDPOINTS)]

    def start(self, names=None):
        for endpoint in self.endpoints(names):
            endpoint.start()
        return self.environment()

    def stop(self, names=None):
        for endpoint in self.endpoints(names):
            endpoint.stop()

    def reset(self, names=None):
        for endpoint in self.endpoints(names):
            if endpoint.running():
                endpoint.reset()

    def environment(self):
        env = {}
        for endpoint in self.endpoints():
            state = endpoint.state()
            if state and endpoint.running():
                env.update(state["env"])
        return env


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("action", choices=["start", "stop", "reset", "status", "env"])
    parser.add_argument("names", nargs="*", help=f"endpoints (default: all of {', '.join(ENDPOINTS)})")
    args = parser.parse_args(argv)
    harness = Harness()
    if args.action == "start":
        harness.start(args.names)
    elif args.action == "stop":
        harness.stop(args.names)
    elif args.action == "reset":
        harness.reset(args.names)
    elif args.action == "status":
        for endpoint in harness.endpoints(args.names):
            state = endpoint.state()
            if state and endpoint.running():
                print(f"{endpoint.name}: pid {state['pid']}, port {state['port']}, log {endpoint.log_path}")
            else:
                print(f"{endpoint.name}: stopped")
    if args.action in ("start", "env"):
        for key, value in sorted(harness.environment().items()):
            print(f"export {key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
