"""Identity end to end with real processes: add_user.yml, a real sshd configured by the bastion
role (keys looked up in a real slapd), a real JupyterHub with the jupyterhub role's LDAP settings,
and remove_user.yml.

The tests share one rehearsal (moto with the network and EFS, slapd with the role's templates) and a
private copy of the rehearsal inventory, so users.yml is written there and not in the repository.
"""

import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
import yaml

from conftest import REPO
# bastion and rendered are fixtures.
from identity import CHP, bastion, free_port, jupyterhub, login, rendered, ssh, tunnel, wait_for  # noqa: F401  pylint: disable=unused-import

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("sshd", path="/usr/sbin:/usr/bin"),
                                reason="needs root (an sshd with its own passwd in a mount namespace) and OpenSSH's sshd")


@pytest.fixture(scope="module")
def rehearsal(moto_server, ldap_server, kube_server, playbook, tmp_path_factory):
    """moto with the network and the home directories' file system, a fresh slapd, the Kubernetes API
    emulator with JupyterHub's objects, and an inventory copy."""
    moto_server.reset()
    ldap_server.reset()
    kube_server.reset()
    env = {**moto_server.state()["env"], **ldap_server.state()["env"], **kube_server.state()["env"]}
    inventory = tmp_path_factory.mktemp("identity") / "inventory"
    shutil.copytree(REPO / "inventories/local", inventory)
    run = playbook("site.yml", "--tags", "aws_network,efs_homes,jupyterhub", inventory=str(inventory), env=env)
    assert run.rc == 0, run.output[-4000:]
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        # The bastion may also forward to the directory, as it does to ldap.ldap.svc (ldappasswd through the tunnel).
        port = int(env["KDSW_LDAP_URI"].rsplit(":", 1)[1].strip("/"))
        yield {"env": env, "inventory": str(inventory), "ldap": ldap_server, "kube": kube_server, "forward_ports": [port]}


@pytest.fixture(scope="module")
def bob_key(tmp_path_factory):
    key = tmp_path_factory.mktemp("keys") / "bob"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bob@laptop", "-f", str(key)], check=True)
    return key


def add_user(playbook, rehearsal, *args):
    run = playbook("add_user.yml", *args, inventory=rehearsal["inventory"], env=rehearsal["env"])
    assert run.rc == 0, run.output[-4000:]
    return run


def printed_password(run):
    """The initial password add_user.yml printed, or None."""
    match = re.search(r"Initial password: ([A-Za-z0-9]{20}) \(shown once", run.output)
    return match.group(1) if match else None


@pytest.fixture(scope="module")
def bob_password(rehearsal, bob_key, playbook):
    run = add_user(playbook, rehearsal, "-e", "user=bob", "-e", "full_name=Bob Builder",
                   "-e", json.dumps({"ssh_key": bob_key.with_suffix(".pub").read_text().strip()}))
    assert printed_password(run), run.output[-3000:]
    return printed_password(run)


def ldappasswd(rehearsal, user, old, new, port=None):
    """The user's own change, as the README shows it (through a tunnel when port is a tunnel's local end)."""
    env = rehearsal["env"]
    uri = f"ldap://127.0.0.1:{port}" if port else env["KDSW_LDAP_URI"]
    return subprocess.run(["ldappasswd", "-H", uri, "-ZZ", "-x", "-D", f"uid={user},ou=people,{env['KDSW_LDAP_BASE_DN']}",
                           "-w", old, "-s", new], env=dict(os.environ, LDAPTLS_CACERT=env["KDSW_LDAP_CA"], LDAPTLS_REQCERT="demand"),
                          capture_output=True, text=True, timeout=30, check=False)


def test_a_new_user_without_a_key_is_refused_before_anything_is_written(rehearsal, bob_password, playbook):
    mark = rehearsal["ldap"].log_offset()
    run = playbook("add_user.yml", "-e", "user=dave", inventory=rehearsal["inventory"], env=rehearsal["env"])
    assert run.rc != 0 and "-e \"ssh_key='ssh-ed25519 AAAA... dave@laptop'\"" in run.output, run.output[-3000:]
    assert "Nothing was changed" in run.output and "Initial password" not in run.output
    assert rehearsal["ldap"].writes(mark) == [] and not in_directory(rehearsal, "dave")
    assert "dave" not in (Path(rehearsal["inventory"]) / "group_vars/all/users.yml").read_text()


def test_add_user_creates_account_and_home(rehearsal, bob_password):
    users = yaml.safe_load((Path(rehearsal["inventory"]) / "group_vars/all/users.yml").read_text())["workbench_users"]
    (bob,) = [u for u in users if u["name"] == "bob"]
    assert bob["uid"] >= 10000 and bob["groups"] == ["users"]
    efs = boto3.client("efs", region_name="us-east-1")
    (file_system,) = efs.describe_file_systems()["FileSystems"]
    (point,) = efs.describe_access_points(FileSystemId=file_system["FileSystemId"])["AccessPoints"]
    assert point["PosixUser"]["Uid"] == bob["uid"]
    assert point["RootDirectory"]["Path"] == "/home/bob"
    assert point["RootDirectory"]["CreationInfo"]["Permissions"] == "0700"
    # The volume bob's notebook servers mount: his access point.
    assert ("kdsw-home-bob", f"{file_system['FileSystemId']}::{point['AccessPointId']}") in home_volumes(rehearsal["kube"])
    claim = rehearsal["kube"].call("GET", "/api/v1/namespaces/jupyterhub/persistentvolumeclaims/home-bob")
    assert claim["spec"]["volumeName"] == "kdsw-home-bob"


def test_add_user_again_changes_nothing(rehearsal, bob_password, playbook):
    run = add_user(playbook, rehearsal, "-e", "user=bob", "-e", "full_name=Bob Builder")
    assert run.changed == 0, run.changed_tasks()
    # No password printed that was never set: bob's is the one he had.
    assert printed_password(run) is None and "Their password is unchanged" in run.output, run.output[-2000:]


def test_bob_reaches_the_web_service_through_the_bastion(rehearsal, bob_password, bob_key, playbook, bastion):
    bastion["start"]()
    local = free_port()
    tunnel = subprocess.Popen(ssh(bastion, bob_key, "-N", "-o", "ExitOnForwardFailure=yes",  # pylint: disable=consider-using-with
                                  "-L", f"127.0.0.1:{local}:127.0.0.1:{bastion['web_port']}", "bob@127.0.0.1"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        def answered():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=2) as response:
                    return response.read() == b"hello through the bastion"
            except OSError:
                return False
        wait_for(answered, what=f"the tunnel (sshd log: {bastion['log']})")
        refused = subprocess.run(ssh(bastion, bob_key, "-W", "127.0.0.1:22", "bob@127.0.0.1"),
                                 capture_output=True, text=True, timeout=30, check=False, stdin=subprocess.DEVNULL)
        assert refused.returncode != 0 and "prohibited" in refused.stderr, refused.stderr
        shell = subprocess.run(ssh(bastion, bob_key, "bob@127.0.0.1", "id"), capture_output=True, text=True, timeout=30, check=False)
        assert "uid=" not in shell.stdout
    finally:
        tunnel.terminate()
        tunnel.wait(10)


@pytest.mark.skipif(not CHP.exists(), reason="configurable-http-proxy is installed by scripts/setup.sh")
def test_bob_changes_his_password_then_logs_in_to_jupyterhub_and_outsiders_do_not(
        rehearsal, bob_password, bob_key, rendered, bastion, playbook, tmp_path):
    add_user(playbook, rehearsal, "-e", "user=carol", "-e", "user_groups=", "-e", json.dumps({"ssh_key": bob_key_placeholder()}))
    with jupyterhub(rendered, rehearsal["env"], tmp_path) as hub_port:
        # The printed password serves only to set his own: the hub refuses it.
        assert login(hub_port, "bob", bob_password)[0] == 403
        # bob sets his own with ldappasswd, through his tunnel of the bastion.
        bastion["stop"]()
        bastion["start"]()
        with tunnel(bastion, bob_key, "bob", rehearsal["forward_ports"][0]) as port:
            changed = ldappasswd(rehearsal, "bob", bob_password, BOB_OWN, port=port)
        assert changed.returncode == 0, changed.stdout + changed.stderr
        status, location = login(hub_port, "bob", BOB_OWN)
        assert status == 302 and "/hub/" in location, (status, location, (tmp_path / "hub.log").read_text()[-3000:])
        assert login(hub_port, "bob", bob_password)[0] == 403
        assert login(hub_port, "bob", "wrong-password")[0] == 403
        assert login(hub_port, "carol", "any-password")[0] == 403


def test_reset_password_prints_the_password_it_set(rehearsal, bob_password, playbook):
    run = add_user(playbook, rehearsal, "-e", "user=bob", "-e", "reset_password=yes")
    new = printed_password(run)
    assert new and new != bob_password, run.output[-2000:]
    assert binds(rehearsal, "bob", new) and not binds(rehearsal, "bob", BOB_OWN)
    # It must be changed again, and not back to one of his last passwords.
    assert "in history" in ldappasswd(rehearsal, "bob", new, BOB_OWN).stdout
    assert ldappasswd(rehearsal, "bob", new, BOB_NEXT).returncode == 0
    assert binds(rehearsal, "bob", BOB_NEXT)


BOB_OWN, BOB_NEXT = "bob-chose-this-one", "bob-chose-another-one"


def binds(rehearsal, user, password):
    import ldap  # pylint: disable=import-outside-toplevel

    env = rehearsal["env"]
    connection = ldap.initialize(env["KDSW_LDAP_URI"])
    connection.set_option(ldap.OPT_X_TLS_CACERTFILE, env["KDSW_LDAP_CA"])
    connection.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
    connection.start_tls_s()
    try:
        connection.simple_bind_s(f"uid={user},ou=people,{env['KDSW_LDAP_BASE_DN']}", password)
        return True
    except ldap.INVALID_CREDENTIALS:
        return False


def bob_key_placeholder():
    """carol logs in by key only; a syntactically valid key whose private half nobody has."""
    return "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMLEdXsRuJiBgG2TpJq61tvdyrUgSaMtRBboV5HuwPYB carol@laptop"


def test_removed_user_is_refused(rehearsal, bob_password, bob_key, playbook, bastion):
    run = playbook("remove_user.yml", "-e", "user=bob", inventory=rehearsal["inventory"], env=rehearsal["env"])
    assert run.rc == 0, run.output[-4000:]
    refused = subprocess.run(ssh(bastion, bob_key, "-N", "-o", "ExitOnForwardFailure=yes",
                                 "-L", f"{free_port()}:127.0.0.1:{bastion['web_port']}", "bob@127.0.0.1"),
                             capture_output=True, text=True, timeout=30, check=False)
    assert refused.returncode == 255 and "Permission denied" in refused.stderr, refused.stderr
    users = yaml.safe_load((Path(rehearsal["inventory"]) / "group_vars/all/users.yml").read_text())["workbench_users"]
    assert [u.get("state") for u in users if u["name"] == "bob"] == ["disabled"]


def test_adding_a_disabled_user_again_says_so(rehearsal, bob_password, bob_key, playbook, bastion):
    run = add_user(playbook, rehearsal, "-e", "user=bob")
    assert "bob was disabled and is enabled again." in run.output, run.output[-2000:]
    # His key and his own password are his again; no password is printed.
    assert printed_password(run) is None and "Their password is unchanged" in run.output
    assert binds(rehearsal, "bob", BOB_NEXT)
    bastion["stop"]()
    bastion["start"]()
    with tunnel(bastion, bob_key, "bob", bastion["web_port"]):
        pass


# --- remove_user.yml -e purge=yes: archive the home directory first -------------------------------
# The emulator runs no controllers: the test plays the Job controller, marking the archive Job
# succeeded (or failed) once the playbook has created it; the playbook must wait for that verdict.

JOBS = "/apis/batch/v1/namespaces/jupyterhub/jobs"


def remove(playbook, rehearsal, user, *args, env=None):
    return playbook("remove_user.yml", "-e", f"user={user}", "-e", "purge=yes", *args,
                    inventory=rehearsal["inventory"], env=env or rehearsal["env"])


class JobController(threading.Thread):
    """Gives the first archive Job without a verdict one (succeeded or failed), as the Job controller would."""

    def __init__(self, kube, outcome):
        super().__init__(daemon=True)
        self.kube, self.outcome, self.job, self.stop = kube, outcome, None, threading.Event()

    def run(self):
        while not self.stop.is_set():
            jobs = [job for job in self.kube.objects(JOBS) if not job.get("status")]
            if jobs:
                self.job = jobs[0]
                status = {"succeeded": 1} if self.outcome == "succeeded" else {"failed": self.job["spec"]["backoffLimit"] + 1}
                self.kube.call("PATCH", f"{JOBS}/{self.job['metadata']['name']}", body=json.dumps({"status": status}).encode())
                return
            time.sleep(0.2)


def home_volumes(kube):
    return {(pv["metadata"]["name"], pv["spec"]["csi"]["volumeHandle"]) for pv in kube.objects("/api/v1/persistentvolumes")}


def access_points(user):
    efs = boto3.client("efs", region_name="us-east-1")
    (file_system,) = efs.describe_file_systems()["FileSystems"]
    points = efs.describe_access_points(FileSystemId=file_system["FileSystemId"])["AccessPoints"]
    return [p for p in points if p["RootDirectory"]["Path"] == f"/home/{user}"]


def in_directory(rehearsal, user):
    import ldap  # pylint: disable=import-outside-toplevel

    env = rehearsal["env"]
    connection = ldap.initialize(env["KDSW_LDAP_URI"])
    connection.set_option(ldap.OPT_X_TLS_CACERTFILE, env["KDSW_LDAP_CA"])
    connection.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
    connection.start_tls_s()
    connection.simple_bind_s(env["KDSW_LDAP_BIND_DN"], env["KDSW_LDAP_BIND_PW"])
    return bool(connection.search_s(f"ou=people,{env['KDSW_LDAP_BASE_DN']}", ldap.SCOPE_ONELEVEL, f"(uid={user})", ["uid"]))


def test_purge_is_refused_without_the_cluster(rehearsal, bob_password, playbook):
    env = dict(rehearsal["env"], K8S_AUTH_KUBECONFIG=str(Path(rehearsal["inventory"]) / "no-such-kubeconfig"))
    run = remove(playbook, rehearsal, "bob", env=env)
    assert run.rc != 0 and "Nothing was changed" in run.output, run.output[-3000:]
    assert in_directory(rehearsal, "bob") and access_points("bob")


def test_a_failed_archive_deletes_nothing(rehearsal, bob_password, playbook):
    controller = JobController(rehearsal["kube"], "failed")
    controller.start()
    run = remove(playbook, rehearsal, "bob")
    controller.stop.set()
    assert run.rc != 0 and "Wait until the home directory is archived" in run.output, run.output[-3000:]
    assert controller.job is not None
    assert in_directory(rehearsal, "bob") and access_points("bob")
    assert any(name == "kdsw-home-bob" for name, _handle in home_volumes(rehearsal["kube"]))


def test_purge_archives_then_removes_everything_of_the_user(rehearsal, bob_password, playbook):
    controller = JobController(rehearsal["kube"], "succeeded")
    controller.start()
    run = remove(playbook, rehearsal, "bob")
    controller.stop.set()
    assert run.rc == 0, run.output[-4000:]
    job = controller.job
    archive = job["metadata"]["annotations"]["kdsw.io/archive"]
    assert archive.startswith("s3://kdsw-rehearsal-data-123456789012/archive/homes/bob-") and archive.endswith(".tar.gz")
    spec = job["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["initContainers"]] == ["pack", "upload"] and spec["containers"][0]["name"] == "empty"
    assert spec["volumes"][0]["persistentVolumeClaim"]["claimName"] == "home-bob"
    assert rehearsal["kube"].objects(JOBS) == []
    assert not in_directory(rehearsal, "bob") and access_points("bob") == []
    assert not any(name == "kdsw-home-bob" for name, _handle in home_volumes(rehearsal["kube"]))
    # carol is untouched.
    assert in_directory(rehearsal, "carol") and access_points("carol")
    users = yaml.safe_load((Path(rehearsal["inventory"]) / "group_vars/all/users.yml").read_text())["workbench_users"]
    assert [u["name"] for u in users] == ["carol"]
