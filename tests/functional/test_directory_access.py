"""Who can lock whom out of the directory, and what a password set by an administrator opens, with real
processes: a slapd of its own started from the ldap role's templates with the role's read-only service
account cn=reader (the harness's directory has none), the bastion role's sshd and a JupyterHub with the
jupyterhub role's settings, both binding as cn=reader as they do in the cluster. And who may connect to the
directory at all: the NetworkPolicy of the ldap role.

The directory is fresh for this module only (ppolicy lockouts accumulate). Its people's lockout lasts
LOCKOUT seconds instead of the role's five minutes, so that a test can wait for it to end; the service
account's policy is the role's own.
"""

import json
import os
import secrets
import subprocess
import time
import urllib.request

import ldap as pyldap
import pytest

from conftest import _run_module
from endpoints import Slapd, render_ldap_templates
from identity import bastion, jupyterhub, login, needs_proxy, needs_root_and_sshd, rendered, ssh, tunnel  # noqa: F401  pylint: disable=unused-import

LOCKOUT = 3
BOB_INITIAL, BOB_OWN = "bob-initial-7f3a1c", "bob-chose-this-one"
CAROL_INITIAL, CAROL_OWN = "carol-initial-0b4e9d", "carol-chose-this-one"


class DirectoryWithReader(Slapd):
    """The harness's slapd, rendered with cn=reader (ldap_reader_password_hash) and a short lockout for people."""

    workbench = "access"

    def reader_password(self):
        path = self.dir / "reader.secret"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(24))
        return path.read_text().strip()

    def render(self):
        from ansible_collections.kdsw.workbench.plugins.module_utils.ldap_password import hash_password  # pylint: disable=import-outside-toplevel

        pki = self.pki()
        return render_ldap_templates({
            "ldap_name": self.workbench,
            "ldap_root_password_hash": hash_password(self.secret(), rounds=5000),
            "ldap_reader_password_hash": hash_password(self.reader_password(), rounds=5000),
            "ldap_password_policy": {"min_length": 12, "max_failure": 5, "lockout_duration": LOCKOUT,
                                     "failure_count_interval": 300, "in_history": 5},
            "ldap_data_dir": str(self.dir / "db"), "ldap_run_dir": str(self.dir),
            "ldap_tls_ca_file": pki["ca"], "ldap_tls_cert_file": pki["cert"], "ldap_tls_key_file": pki["key"],
        })

    @property
    def reader_dn(self):
        return f"cn=reader,{self.base_dn}"


def connect(directory, dn, password):
    conn = pyldap.initialize(directory.url())
    conn.set_option(pyldap.OPT_X_TLS_CACERTFILE, directory.pki()["ca"])
    conn.set_option(pyldap.OPT_X_TLS_REQUIRE_CERT, pyldap.OPT_X_TLS_DEMAND)
    conn.set_option(pyldap.OPT_X_TLS_NEWCTX, 0)
    conn.start_tls_s()
    conn.simple_bind_s(dn, password)
    return conn


def can_bind(directory, dn, password):
    try:
        connect(directory, dn, password).unbind_s()
        return True
    except pyldap.INVALID_CREDENTIALS:
        return False


def user_dn(directory, name):
    return f"uid={name},ou=people,{directory.base_dn}"


def ldappasswd(directory, name, old, new, port=None):
    """The user's own change, as the README shows it (through a tunnel when port is a tunnel's local end)."""
    uri = f"ldap://127.0.0.1:{port}" if port else directory.url().rstrip("/")
    return subprocess.run(["ldappasswd", "-H", uri, "-ZZ", "-x", "-D", user_dn(directory, name), "-w", old, "-s", new],
                          env=dict(os.environ, LDAPTLS_CACERT=directory.pki()["ca"], LDAPTLS_REQCERT="demand"),
                          capture_output=True, text=True, timeout=30, check=False)


@pytest.fixture(scope="module")
def rehearsal(moto_server, tmp_path_factory):
    """A directory of this module's own, with bob (a key, a password he changed) and carol (an initial password) in
    users; the bastion and the hub render with cn=reader as their bind account, as in the cluster. moto keeps the
    bastion's host keys (SSM)."""
    moto_server.reset()
    directory = DirectoryWithReader(tmp_path_factory.mktemp("access"))
    directory.start()
    key = tmp_path_factory.mktemp("keys") / "bob"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bob@laptop", "-f", str(key)], check=True)
    admin = directory.state()["env"]
    result = _run_module("ldap_user_sync", {
        "server_uri": admin["KDSW_LDAP_URI"], "bind_dn": admin["KDSW_LDAP_BIND_DN"], "bind_pw": admin["KDSW_LDAP_BIND_PW"],
        "base_dn": directory.base_dn, "ca_file": admin["KDSW_LDAP_CA"], "password_hash_rounds": 5000,
        "groups": [{"name": "users"}],
        "users": [{"name": "bob", "groups": ["users"], "ssh_keys": [key.with_suffix(".pub").read_text().strip()], "password": BOB_INITIAL},
                  {"name": "carol", "groups": ["users"], "password": CAROL_INITIAL}],
    })
    assert result.get("passwords_set") == ["bob", "carol"], result
    changed = ldappasswd(directory, "bob", BOB_INITIAL, BOB_OWN)
    assert changed.returncode == 0, changed.stdout + changed.stderr
    env = {**moto_server.state()["env"], **admin, "KDSW_LDAP_BIND_DN": directory.reader_dn,
           "KDSW_LDAP_BIND_PW": directory.reader_password()}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in moto_server.state()["env"].items():
            patch.setenv(name, value)
        yield {"env": env, "directory": directory, "bob_key": key, "forward_ports": [directory.port]}
    directory.stop()


@pytest.fixture(scope="module")
def hub(rehearsal, rendered, tmp_path_factory):
    with jupyterhub(rendered, rehearsal["env"], tmp_path_factory.mktemp("hub")) as port:
        yield port


def reader_lookup(rehearsal, rendered, user):
    """The bastion's AuthorizedKeysCommand (the role's script), run as its user nobody: the keys it prints for user."""
    return subprocess.run(["runuser", "-u", "nobody", "--", str(rendered["dir"] / "kdsw-ldap-keys"), user],
                          capture_output=True, text=True, timeout=30, check=False)


@needs_root_and_sshd
@needs_proxy
def test_fifty_wrong_binds_as_the_service_account_lock_out_nobody(rehearsal, rendered, bastion, hub):
    directory = rehearsal["directory"]
    admin = directory.state()["env"]
    for dummy in range(50):
        assert not can_bind(directory, directory.reader_dn, "a-wrong-password")
        assert not can_bind(directory, admin["KDSW_LDAP_BIND_DN"], "a-wrong-password")
    assert can_bind(directory, directory.reader_dn, directory.reader_password())
    assert can_bind(directory, admin["KDSW_LDAP_BIND_DN"], admin["KDSW_LDAP_BIND_PW"])  # the sync's account has no entry to lock

    # The bastion's key lookup, as sshd runs it, and a real ssh login through it.
    keys = reader_lookup(rehearsal, rendered, "bob")
    assert keys.returncode == 0 and keys.stdout.startswith("ssh-ed25519 "), keys.stdout + keys.stderr
    bastion["stop"]()
    bastion["start"]()
    with tunnel(bastion, rehearsal["bob_key"], "bob", rendered["web_port"]):
        pass
    # The hub looks bob up as cn=reader, then binds as him.
    status, location = login(hub, "bob", BOB_OWN)
    assert status == 302 and "/hub/" in location, (status, location)


@needs_root_and_sshd
@needs_proxy
def test_a_locked_user_unlocks_by_itself_and_locks_nobody_else(rehearsal, rendered, hub):
    directory = rehearsal["directory"]
    for dummy in range(5):  # a colleague guessing bob's password
        assert login(hub, "bob", "a-wrong-guess")[0] == 403
    assert not can_bind(directory, user_dn(directory, "bob"), BOB_OWN)  # locked
    assert login(hub, "bob", BOB_OWN)[0] == 403
    # The hub's and the bastion's own account works all along.
    assert can_bind(directory, directory.reader_dn, directory.reader_password())
    assert reader_lookup(rehearsal, rendered, "bob").stdout.startswith("ssh-ed25519 ")
    # Failures during the lockout do not extend it: it ends LOCKOUT seconds after it began.
    locked_at = time.monotonic()
    for dummy in range(5):
        assert login(hub, "bob", "a-wrong-guess")[0] == 403
    time.sleep(max(0.0, LOCKOUT + 1.5 - (time.monotonic() - locked_at)))
    status, location = login(hub, "bob", BOB_OWN)
    assert status == 302 and "/hub/" in location, (status, location)


@needs_root_and_sshd
@needs_proxy
def test_an_initial_password_opens_the_hub_only_once_changed(rehearsal, rendered, bastion, hub):
    directory = rehearsal["directory"]
    # carol's password was set by an administrator: the directory lets her bind, and the hub refuses her, saying why.
    assert can_bind(directory, user_dn(directory, "carol"), CAROL_INITIAL)
    assert login(hub, "carol", CAROL_INITIAL)[0] == 403
    with urllib.request.urlopen(f"http://127.0.0.1:{hub}/hub/login", timeout=10) as page:
        assert "only once you have" in page.read().decode()
    # She changes it herself: ldappasswd through a tunnel of the bastion (bob's key here: carol has none).
    bastion["stop"]()
    bastion["start"]()
    with tunnel(bastion, rehearsal["bob_key"], "bob", directory.port) as port:
        changed = ldappasswd(directory, "carol", CAROL_INITIAL, CAROL_OWN, port=port)
    assert changed.returncode == 0, changed.stdout + changed.stderr
    status, location = login(hub, "carol", CAROL_OWN)
    assert status == 302 and "/hub/" in location, (status, location)
    assert login(hub, "carol", CAROL_INITIAL)[0] == 403


# --- who may connect ----------------------------------------------------------------------------------

def selects(selector, labels):
    """Whether a Kubernetes label selector (matchLabels, matchExpressions) selects labels."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    operators = {"In": lambda key, values: labels.get(key) in values, "NotIn": lambda key, values: labels.get(key) not in values,
                 "Exists": lambda key, values: key in labels, "DoesNotExist": lambda key, values: key not in labels}
    return all(operators[term["operator"]](term["key"], term.get("values", [])) for term in selector.get("matchExpressions", []))


def matches(peer, namespace, labels):
    """Whether a NetworkPolicy peer admits a pod of namespace with labels (a peer without namespaceSelector: the policy's own)."""
    if "namespaceSelector" in peer:
        in_namespace = selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": namespace})
    else:
        in_namespace = namespace == "ldap"
    return in_namespace and selects(peer.get("podSelector", {}), labels)


@pytest.fixture(scope="module")
def objects(moto_server, playbook, tmp_path_factory):
    target = tmp_path_factory.mktemp("objects") / "objects.json"
    run = playbook("tests/functional/playbooks/cluster_objects.yml", "-e", f"objects_file={target}", env=dict(moto_server.state()["env"]))
    assert run.rc == 0, run.output[-4000:]
    return json.loads(target.read_text())


def test_only_the_hub_the_bastion_and_the_ui_reach_the_directory(objects):
    (policy,) = [o for o in objects if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "ldap"]
    assert policy["metadata"]["namespace"] == "ldap" and policy["spec"]["policyTypes"] == ["Ingress"]
    peers = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]

    def pod_labels(kind, name):
        (obj,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
        template = obj["spec"]["jobTemplate"]["spec"]["template"] if kind == "CronJob" else obj["spec"]["template"]
        return obj["metadata"]["namespace"], template["metadata"]["labels"]

    admitted = {
        "bastion": pod_labels("Deployment", "bastion"),
        "web UI": pod_labels("Deployment", "ldap-ui"),
        # The hub's and the servers' labels are the Zero to JupyterHub chart's (hub: component=hub; a user's
        # server: component=singleuser-server, from KubeSpawner).
        "hub": ("jupyterhub", {"app": "jupyterhub", "component": "hub", "release": "jupyterhub"}),
    }
    refused = {
        "notebook server": ("jupyterhub", {"app": "jupyterhub", "component": "singleuser-server", "release": "jupyterhub",
                                           "hub.jupyter.org/username": "bob"}),
        "proxy": ("jupyterhub", {"app": "jupyterhub", "component": "proxy", "release": "jupyterhub"}),
        "backup": pod_labels("CronJob", "ldap-backup"),
        "Spark executor": ("spark", {"spark-role": "executor"}),
    }
    for who, (namespace, labels) in admitted.items():
        assert any(matches(peer, namespace, labels) for peer in peers), who
    for who, (namespace, labels) in refused.items():
        assert not any(matches(peer, namespace, labels) for peer in peers), who
