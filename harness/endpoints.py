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
Endpoints are Endpoint subclasses in ENDPOINTS; the CLI, the pytest fixtures and molecule use this
one registry: moto (the AWS APIs), slapd (the workbench's OpenLDAP directory, configured from the
templates of roles/ldap) and kube (the Kubernetes API emulator of harness/kube_api.py).
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

    def missing(self):
        """Why this endpoint cannot start on this machine (a program is not installed...), or None."""
        return None

    def prepare(self, port):
        """Called before the server process starts (not when it already runs)."""

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
    def watched_log(self):
        """The log that requests() or writes() read: the server's own, unless a subclass keeps another."""
        return self.log_path

    def log_offset(self):
        """A mark in the watched log: pass it to requests() or writes() to see only what came after."""
        try:
            return self.watched_log.stat().st_size
        except OSError:
            return 0

    @property
    def port(self):
        return (self.state() or {}).get("port")

    def running(self):
        state = self.state()
        return bool(state) and pid_alive(state["pid"])

    def start(self, timeout=60, port=None):
        if self.running():
            return self.state()
        problem = self.missing()
        if problem:
            raise RuntimeError(f"{self.name}: {problem}")
        self.dir.mkdir(parents=True, exist_ok=True)
        port = int(port or os.environ.get(f"KDSW_{self.name.upper()}_PORT") or free_port())
        self.prepare(port)
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


def write_test_pki(directory, name="kdsw test CA", hosts=("127.0.0.1", "localhost")):
    """A CA and a server certificate signed by it for hosts, as PEM files in directory.

    Returns {"ca": ..., "cert": ..., "key": ...} paths. Used for slapd's TLS and, with another
    name, by the tests for a CA that did not sign the server's certificate.
    """
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    not_before, not_after = now - datetime.timedelta(days=1), now + datetime.timedelta(days=30)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256()))

    key = ec.generate_private_key(ec.SECP256R1())
    names = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256()))

    paths = {"ca": directory / "ca.crt", "cert": directory / "tls.crt", "key": directory / "tls.key"}
    paths["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    paths["key"].chmod(0o600)
    return {kind: str(path) for kind, path in paths.items()}


def render_ldap_templates(overrides):
    """The LDIF of roles/ldap: {"config": cn=config LDIF, "base": base entries LDIF}.

    Rendered from the role's own templates and defaults/main.yml (overridden by overrides) with
    plain Jinja2 set up like ansible.builtin.template (trim_blocks), so that what the tests run
    against is what the role deploys.
    """
    import jinja2
    import yaml

    role = REPO / "roles" / "ldap"
    variables = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
    variables.update(overrides)
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(str(role / "templates")), trim_blocks=True,
                                     undefined=jinja2.StrictUndefined, autoescape=False)
    return {kind: environment.get_template(f"{kind}.ldif.j2" if kind == "base" else "slapd-config.ldif.j2")
            .render(**variables) for kind in ("config", "base")}


class Slapd(Endpoint):
    """OpenLDAP's slapd, configured from the templates of roles/ldap, with StartTLS from a test CA.

    Each start of a stopped instance and each reset builds a fresh directory: an empty cn=config
    and database loaded with slapadd from the rendered LDIF (the base entries only), so state such
    as ppolicy lockouts never leaks from one test to the next. The administrator's password is
    made at random once per state directory.
    """

    name = "slapd"
    workbench = "rehearsal"
    sbin = ("/usr/sbin", "/usr/local/sbin", "/sbin")

    def program(self, name):
        return shutil.which(name) or shutil.which(name, path=os.pathsep.join(self.sbin))

    def missing(self):
        absent = [name for name in ("slapd", "slapadd") if not self.program(name)]
        if absent:
            return (f"{' and '.join(absent)} not found: OpenLDAP's server is not installed on this machine. "
                    "Run scripts/setup.sh (it installs the Debian packages of bindep.txt), or "
                    "`apt-get install slapd ldap-utils`.")
        if not Path("/usr/lib/ldap/back_mdb.so").exists() and not list(Path("/usr/lib").glob("*/ldap/back_mdb.so")):
            return "slapd's modules (back_mdb.so) not found under /usr/lib/ldap; reinstall the slapd package."
        return None

    @property
    def base_dn(self):
        return f"dc={self.workbench},dc=kdsw"

    @property
    def root_dn(self):
        return f"cn=admin,{self.base_dn}"

    def secret(self):
        path = self.dir / "admin.secret"
        if not path.exists():
            import secrets

            path.write_text(secrets.token_urlsafe(24))
            path.chmod(0o600)
        return path.read_text().strip()

    def pki(self):
        paths = {"ca": self.dir / "pki" / "ca.crt", "cert": self.dir / "pki" / "tls.crt", "key": self.dir / "pki" / "tls.key"}
        if not all(path.exists() for path in paths.values()):
            return write_test_pki(self.dir / "pki")
        return {kind: str(path) for kind, path in paths.items()}

    def render(self):
        if str(REPO / ".collections") not in sys.path:
            sys.path.insert(0, str(REPO / ".collections"))
        from ansible_collections.kdsw.workbench.plugins.module_utils.ldap_password import hash_password

        pki = self.pki()
        return render_ldap_templates({
            "ldap_name": self.workbench,
            "ldap_root_password_hash": hash_password(self.secret(), rounds=5000),
            "ldap_data_dir": str(self.dir / "db"),
            "ldap_run_dir": str(self.dir),
            "ldap_module_dir": "/usr/lib/ldap",
            "ldap_schema_dir": "/etc/ldap/schema",
            "ldap_tls_ca_file": pki["ca"],
            "ldap_tls_cert_file": pki["cert"],
            "ldap_tls_key_file": pki["key"],
        })

    def prepare(self, port):
        """A fresh instance: render the LDIF (kept in the state directory), then slapadd config and base."""
        ldif = {"config": self.dir / "config.ldif", "base": self.dir / "base.ldif"}
        for kind, text in self.render().items():
            ldif[kind].write_text(text)
        for sub in ("slapd.d", "db"):
            shutil.rmtree(self.dir / sub, ignore_errors=True)
            (self.dir / sub).mkdir(mode=0o700)
        slapadd = self.program("slapadd")
        for database, kind in ((0, "config"), (1, "base")):
            proc = subprocess.run([slapadd, "-n", str(database), "-F", str(self.dir / "slapd.d"), "-l", str(ldif[kind])],
                                  capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise RuntimeError(f"slapadd of {ldif[kind]} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")

    def command(self, port):
        # -d 0: stay in the foreground (the harness owns the process); the log level of
        # cn=config (olcLogLevel) goes to the server log.
        return [self.program("slapd"), "-d", "stats", "-h", self.url(port), "-F", str(self.dir / "slapd.d")]

    def url(self, port=None):
        return f"ldap://{LOOPBACK}:{port or self.port}/"

    def ready(self, port):
        try:
            with socket.create_connection((LOOPBACK, port), timeout=1):
                return True
        except OSError:
            return False

    def environment(self, port):
        return {
            "KDSW_LDAP_URI": self.url(port).rstrip("/"),
            "KDSW_LDAP_BIND_DN": self.root_dn,
            "KDSW_LDAP_BIND_PW": self.secret(),
            "KDSW_LDAP_BASE_DN": self.base_dn,
            "KDSW_LDAP_CA": self.pki()["ca"],
        }

    # One write operation of slapd's stats log: conn=1001 op=3 ADD dn="uid=alice,ou=people,..."
    write_line = re.compile(r'conn=\d+ op=\d+ (ADD|MOD|DEL|MODRDN) dn="([^"]*)"')

    def writes(self, since=0):
        """(operation, dn) of each write slapd received since the mark: ADD, MOD, DEL or MODRDN."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(since)
                return self.write_line.findall(log.read().decode("utf-8", "replace"))
        except OSError:
            return []

    def reset(self):
        """A fresh directory on the same port: stop, wipe, load the base entries again, start."""
        port = self.port
        self.stop()
        self.start(port=port)


class KubeApi(Endpoint):
    """The Kubernetes API emulator of harness/kube_api.py: a stateful API server for apply flows.

    It writes a kubeconfig (bearer token, plain HTTP on 127.0.0.1) that K8S_AUTH_KUBECONFIG names,
    so kubernetes.core and the playbooks reach it the way they reach a real cluster.
    """

    name = "kube"
    version = "v1.33.5+k3s1"

    @property
    def kubeconfig(self):
        return self.dir / "kubeconfig"

    @property
    def writes_log(self):
        return self.dir / "writes.jsonl"

    @property
    def watched_log(self):
        return self.writes_log

    def token(self):
        path = self.dir / "token"
        if not path.exists():
            import secrets

            path.write_text(secrets.token_urlsafe(24))
            path.chmod(0o600)
        return path.read_text().strip()

    def url(self, port=None):
        return f"http://{LOOPBACK}:{port or self.port}"

    def prepare(self, port):
        import yaml

        self.kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "rehearsal",
            "clusters": [{"name": "rehearsal", "cluster": {"server": self.url(port)}}],
            "users": [{"name": "rehearsal", "user": {"token": self.token()}}],
            "contexts": [{"name": "rehearsal", "context": {"cluster": "rehearsal", "user": "rehearsal"}}],
        }))
        self.kubeconfig.chmod(0o600)

    def command(self, port):
        return [sys.executable, str(REPO / "harness" / "kube_api.py"), "--port", str(port), "--token-file",
                str(self.dir / "token"), "--log", str(self.writes_log), "--version", self.version]

    def call(self, method, path, port=None, body=None, content_type="application/merge-patch+json"):
        """One request with the token; body (bytes) is sent as content_type (PATCH: a JSON merge patch)."""
        headers = {"Authorization": f"Bearer {self.token()}"}
        if body is not None:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self.url(port) + path, method=method, data=body, headers=headers)
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def ready(self, port):
        try:
            return bool(self.call("GET", "/version", port))
        except (urllib.error.URLError, OSError):
            return False

    def environment(self, port):
        return {"K8S_AUTH_KUBECONFIG": str(self.kubeconfig)}

    def reset(self):
        self.call("POST", "/emulator/reset")

    def writes(self, since=0):
        """Each write since the mark: {verb, apiVersion, resource, namespace, name, code}."""
        try:
            with open(self.writes_log, encoding="utf-8") as log:
                log.seek(since)
                return [json.loads(line) for line in log if line.strip()]
        except OSError:
            return []

    def objects(self, path):
        """The items of a list path such as /api/v1/namespaces or /apis/apps/v1/deployments."""
        return self.call("GET", path)["items"]


ENDPOINTS = {cls.name: cls for cls in (Moto, Slapd, KubeApi)}


class EndpointUnavailable(RuntimeError):
    """An endpoint cannot run on this machine (its server is not installed)."""


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
        endpoints = self.endpoints(names)
        problems = [f"{endpoint.name}: {problem}" for endpoint in endpoints
                    if not endpoint.running() and (problem := endpoint.missing())]
        if problems:
            raise EndpointUnavailable("cannot start the local endpoints:\n  " + "\n  ".join(problems))
        for endpoint in endpoints:
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
        try:
            harness.start(args.names)
        except (EndpointUnavailable, RuntimeError) as error:
            print(f"endpoints.py: {error}", file=sys.stderr)
            return 2
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
