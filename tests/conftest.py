"""Shared fixtures: the harness's real endpoints, started per test session in a private state dir."""

import os
import re
import sys
from pathlib import Path

import boto3
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "harness"))
# The repository is the collection: .collections/ansible_collections/kdsw/workbench points back here.
sys.path.insert(0, str(REPO / ".collections"))

from endpoints import Harness  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture(scope="session")
def harness(tmp_path_factory):
    """A Harness whose endpoints are stopped by PID when the session ends."""
    instance = Harness(tmp_path_factory.mktemp("endpoints"))
    yield instance
    instance.stop()


@pytest.fixture(scope="session")
def moto_server(harness):
    """moto in server mode on 127.0.0.1 for the whole session."""
    harness.start(["moto"])
    return harness.endpoint("moto")


def fresh(server, monkeypatch):
    """server reset to empty, with the environment of this test pointing at it."""
    server.reset()
    for key, value in server.state()["env"].items():
        monkeypatch.setenv(key, value)
    return server


@pytest.fixture
def aws(moto_server, monkeypatch):
    """An empty AWS endpoint for one test: the environment points boto3 and amazon.aws at it."""
    return fresh(moto_server, monkeypatch)


@pytest.fixture
def ec2(aws):
    return boto3.client("ec2", region_name="us-east-1")


def pytest_configure(config):
    os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", str(REPO / ".collections"))


def _run_module(name, args, check_mode=False, diff=False, env=None):
    """Run one of the collection's modules as Ansible does: a real process fed ANSIBLE_MODULE_ARGS."""
    import json
    import subprocess
    import tempfile

    payload = dict(args)
    payload["_ansible_check_mode"] = check_mode
    payload["_ansible_diff"] = diff
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": payload}, handle)
    run_env = dict(os.environ, PYTHONPATH=str(REPO / ".collections"), **(env or {}))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", f"ansible_collections.kdsw.workbench.plugins.modules.{name}", handle.name],
            capture_output=True, text=True, env=run_env, check=False, timeout=600)
    finally:
        os.unlink(handle.name)
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"module {name} printed no JSON:\n{proc.stdout}\n{proc.stderr}") from None
    result["_stderr"] = proc.stderr
    return result


@pytest.fixture
def run_module():
    """run_module(name, args, check_mode=False, diff=False) -> the module's result dict."""
    return _run_module


class PlaybookRun:
    """The outcome of one ansible-playbook run: exit code, output, and the recap's counts."""

    def __init__(self, proc):
        self.rc = proc.returncode
        self.output = proc.stdout + proc.stderr
        self.recap = {
            host: {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", counts)}
            for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", proc.stdout, re.MULTILINE)
        }

    @property
    def changed(self):
        return sum(counts.get("changed", 0) for counts in self.recap.values())

    def changed_tasks(self):
        """Names of the tasks that reported a change (from the default callback's TASK headers)."""
        names, current = [], None
        for line in self.output.splitlines():
            header = re.match(r"^TASK \[(.*)\] \*+$", line)
            if header:
                current = header.group(1)
            elif line.startswith("changed:") and current and current not in names:
                names.append(current)
        return names


def run_playbook(playbook, *args, inventory="inventories/local", env=None, timeout=900):
    import subprocess

    run_env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
                   ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0", **(env or {}))
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", inventory, playbook, *args],
        cwd=REPO, capture_output=True, text=True, env=run_env, check=False, timeout=timeout)
    return PlaybookRun(proc)


@pytest.fixture(scope="session")
def playbook():
    """playbook("site.yml", "--check", inventory=..., env=...) -> PlaybookRun, run from the repository root."""
    return run_playbook


@pytest.fixture(scope="session")
def ldap_server(harness):
    """slapd on 127.0.0.1, configured from the templates of roles/ldap (StartTLS with a test CA), for the session."""
    harness.start(["slapd"])
    return harness.endpoint("slapd")


@pytest.fixture
def ldap(ldap_server, monkeypatch):
    """A fresh directory for one test (base entries only; ppolicy state gone): the KDSW_LDAP_* variables point at it."""
    return fresh(ldap_server, monkeypatch)


@pytest.fixture(scope="session")
def kube_server(harness):
    """The Kubernetes API emulator (harness/kube_api.py) on 127.0.0.1 for the session."""
    harness.start(["kube"])
    return harness.endpoint("kube")


@pytest.fixture
def kube(kube_server, monkeypatch):
    """An empty cluster for one test: K8S_AUTH_KUBECONFIG names the emulator's kubeconfig."""
    return fresh(kube_server, monkeypatch)
