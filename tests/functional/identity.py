"""Real ways in, shared by the identity and journey tests: the bastion role's sshd (keys looked up in
the harness's slapd) in its own mount namespace, and a JupyterHub with the jupyterhub role's LDAP
settings.

The fixtures `rendered` and `bastion` need a module-scoped `rehearsal` fixture in the test module
that yields a dict with the endpoints' environment under "env"; a test module imports them by name.
"""

import contextlib
import http.cookiejar
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from conftest import REPO

BIN = Path(sys.executable).parent
CHP = REPO / ".venv/node/node_modules/.bin/configurable-http-proxy"
needs_root_and_sshd = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("sshd", path="/usr/sbin:/usr/bin"),
                                         reason="needs root (an sshd with its own passwd in a mount namespace) and OpenSSH's sshd")
needs_proxy = pytest.mark.skipif(not CHP.exists(), reason="configurable-http-proxy is installed by scripts/setup.sh")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout=20, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def rendered(rehearsal):
    """The bastion role's sshd_config and scripts, and the jupyterhub role's hub config, for this slapd.
    sshd forwards (PermitOpen) to 127.0.0.1:<web_port>, where a test puts its web service, and to the
    loopback ports of the list rehearsal["forward_ports"] when there is one."""
    env = rehearsal["env"]
    render_dir = Path(tempfile.mkdtemp(prefix="kdsw-bastion-", dir="/run"))
    os.chmod(render_dir, 0o755)
    # The AuthorizedKeysCommand runs as nobody: its CA and bind password must be readable by it.
    shutil.copy(env["KDSW_LDAP_CA"], render_dir / "ca.crt")
    (render_dir / "bind-pw").write_text(env["KDSW_LDAP_BIND_PW"])
    for name in ("ca.crt", "bind-pw"):
        (render_dir / name).chmod(0o644)
    host_keys = render_dir / "host-keys"
    host_keys.mkdir(mode=0o700)
    for key_type in ("ed25519", "rsa"):
        subprocess.run(["ssh-keygen", "-q", "-t", key_type, "-N", "", "-f", str(host_keys / f"ssh_host_{key_type}_key")], check=True)
    web_port, ssh_port = free_port(), free_port()
    uri = urllib.parse.urlsplit(env["KDSW_LDAP_URI"])
    extra = {
        "render_dir": str(render_dir),
        "bastion_port": ssh_port, "bastion_listen_address": "127.0.0.1",
        "bastion_host_keys_dir": str(host_keys), "bastion_pid_file": str(render_dir / "sshd.pid"),
        "bastion_keys_command": str(render_dir / "kdsw-ldap-keys"),
        "bastion_ldap_uri": env["KDSW_LDAP_URI"], "bastion_ldap_ca_file": str(render_dir / "ca.crt"),
        "bastion_ldap_bind_dn": env["KDSW_LDAP_BIND_DN"], "bastion_ldap_bind_pw_file": str(render_dir / "bind-pw"),
        "bastion_ldap_people_dn": f"ou=people,{env['KDSW_LDAP_BASE_DN']}",
        "bastion_ldap_groups_dn": f"ou=groups,{env['KDSW_LDAP_BASE_DN']}",
        "bastion_permit_open": [f"127.0.0.1:{port}" for port in (web_port, *rehearsal.get("forward_ports", ()))],
        "bastion_per_source_penalties": False,
        # localhost, not 127.0.0.1: ldap3 matches the certificate's DNS names only, as the cluster's service name does.
        "jupyterhub_ldap_host": "localhost", "jupyterhub_ldap_port": uri.port, "jupyterhub_ldap_ca_file": env["KDSW_LDAP_CA"],
        "jupyterhub_ldap_base_dn": env["KDSW_LDAP_BASE_DN"], "jupyterhub_ldap_bind_dn": env["KDSW_LDAP_BIND_DN"],
    }
    run = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                          "tests/functional/playbooks/render_access.yml", "-e", json.dumps(extra)],
                         cwd=REPO, capture_output=True, text=True, check=False,
                         env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg")))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    yield {"dir": render_dir, "ssh_port": ssh_port, "web_port": web_port}
    shutil.rmtree(render_dir, ignore_errors=True)


class Sshd:
    """The role's sshd, with passwd and group written by the role's LDAP accounts script when it starts,
    in its own mount namespace (the machine's /etc/passwd is never touched)."""

    def __init__(self, rendered_access):
        self.dir = rendered_access["dir"]
        self.port = rendered_access["ssh_port"]
        self.log = self.dir / "sshd.log"
        self.proc = None

    def start(self):
        Path("/run/sshd").mkdir(exist_ok=True)
        script = (f"{self.dir}/kdsw-ldap-accounts /etc/passwd /etc/group {self.dir}/passwd {self.dir}/group"
                  f" && mount --bind {self.dir}/passwd /etc/passwd && mount --bind {self.dir}/group /etc/group"
                  f" && exec /usr/sbin/sshd -D -e -f {self.dir}/sshd_config")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],  # pylint: disable=consider-using-with
                                         stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.proc.poll() is None and socket.socket().connect_ex(("127.0.0.1", self.port)) == 0,
                 what=f"sshd (log: {self.log})")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Hello(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802  (http.server's naming)
        body = b"hello through the bastion"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def bastion(rendered):
    """The role's sshd (started by the test, once its users exist) in front of a small web service on web_port."""
    web = HTTPServer(("127.0.0.1", rendered["web_port"]), Hello)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    sshd = Sshd(rendered)
    yield {"start": sshd.start, "stop": sshd.stop, "log": sshd.log, **rendered}
    sshd.stop()
    web.shutdown()


def ssh(bastion_access, key, *args):
    """The ssh command line of a user with the private key `key` through the bastion."""
    return ["ssh", "-i", str(key), "-p", str(bastion_access["ssh_port"]), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", *args]


@contextlib.contextmanager
def tunnel(bastion_access, key, user, remote_port):
    """`ssh -N -L` as `user` to 127.0.0.1:remote_port through the bastion; yields the local port once it answers."""
    local = free_port()
    proc = subprocess.Popen(ssh(bastion_access, key, "-N", "-o", "ExitOnForwardFailure=yes",  # pylint: disable=consider-using-with
                                "-L", f"127.0.0.1:{local}:127.0.0.1:{remote_port}", f"{user}@127.0.0.1"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def forwarding():
            if proc.poll() is not None:
                raise AssertionError(f"ssh as {user} exited {proc.returncode}: {proc.stderr.read().decode()}")
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", local)) == 0
        wait_for(forwarding, what=f"the tunnel of {user}")
        yield local
    finally:
        proc.terminate()
        proc.wait(10)


def generate_key(directory, user):
    """A new ed25519 key pair of `user` in `directory`: the private key's path (the public one beside it, .pub)."""
    key = Path(directory) / user
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{user}@laptop", "-f", str(key)], check=True)
    return key


def hub_config(rendered_access, env, workdir, hub_port=None):
    """A jupyterhub_config.py applying the role's hub.config (as z2jh does) on hub_port (default: a free one)."""
    hub_port = hub_port or free_port()
    config = workdir / "jupyterhub_config.py"
    config.write_text(f"""
import json
c = get_config()  # noqa: F821
# hub.config of the chart values the jupyterhub role deploys, applied the way z2jh applies it:
# c.<Class>.<option> = value. (Its KubeSpawner section configures a spawner this hub does not run.)
for section, options in json.load(open({str(rendered_access['dir'] / 'hub-config.json')!r})).items():
    for option, value in options.items():
        setattr(getattr(c, section), option, value)
# What a real deployment takes from its secret and its pod, not from the chart's values:
c.LDAPAuthenticator.lookup_dn_search_password = {env['KDSW_LDAP_BIND_PW']!r}
c.JupyterHub.bind_url = "http://127.0.0.1:{hub_port}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{free_port()}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{free_port()}"
c.ConfigurableHTTPProxy.command = [{str(CHP)!r}]
c.JupyterHub.db_url = "sqlite:///{workdir}/hub.sqlite"
c.JupyterHub.cookie_secret_file = "{workdir}/cookie_secret"
c.JupyterHub.pid_file = "{workdir}/hub.pid"
""")
    return config, hub_port


@contextlib.contextmanager
def jupyterhub(rendered_access, env, workdir, hub_port=None):
    """A real JupyterHub with the role's settings, running until the block ends; yields its port."""
    config, hub_port = hub_config(rendered_access, env, workdir, hub_port)
    log = workdir / "hub.log"
    # The chart keeps auth state (the user's uid and gid for the spawner) encrypted with a key it makes.
    with open(log, "wb") as output:
        hub = subprocess.Popen([str(BIN / "jupyterhub"), "-f", str(config)], cwd=workdir,  # pylint: disable=consider-using-with
                               env=dict(os.environ, JUPYTERHUB_CRYPT_KEY=secrets.token_hex(32)),
                               stdout=output, stderr=subprocess.STDOUT)
    try:
        def ready():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{hub_port}/hub/login", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False
        wait_for(ready, timeout=60, what=f"JupyterHub (log: {log})")
        yield hub_port
    finally:
        hub.terminate()
        hub.wait(20)


def login(hub_port, user, password):
    """A login on the hub's form: (status, Location); 302 to /hub/... is a login, 403 a refusal."""
    jar = http.cookiejar.CookieJar()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    with opener.open(f"http://127.0.0.1:{hub_port}/hub/login", timeout=10) as response:
        response.read()
    xsrf = next(cookie.value for cookie in jar if cookie.name == "_xsrf")
    data = urllib.parse.urlencode({"username": user, "password": password, "_xsrf": xsrf}).encode()
    try:
        with opener.open(f"http://127.0.0.1:{hub_port}/hub/login?next=", data=data, timeout=20) as response:
            return response.status, response.headers.get("Location", "")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location", "")
