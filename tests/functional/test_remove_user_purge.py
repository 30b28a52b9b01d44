"""remove_user.yml -e purge=yes archives the home directory before anything is deleted.

Against moto, slapd and the Kubernetes API emulator. The emulator runs no controllers, so the test
plays the Job controller: it marks the archive Job succeeded (or failed) once the playbook has
created it, and the playbook must wait for that verdict.
"""

import json
import shutil
import threading
import time
from pathlib import Path

import boto3
import pytest
import yaml

from conftest import REPO

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMLEdXsRuJiBgG2TpJq61tvdyrUgSaMtRBboV5HuwPYB dora@laptop"
JOBS = "/apis/batch/v1/namespaces/jupyterhub/jobs"


@pytest.fixture(scope="module")
def workbench(moto_server, ldap_server, kube_server, playbook, tmp_path_factory):
    """The network, the homes file system and JupyterHub's namespace, with users added by add_user.yml."""
    moto_server.reset()
    ldap_server.reset()
    kube_server.reset()
    env = {**moto_server.state()["env"], **ldap_server.state()["env"], **kube_server.state()["env"]}
    inventory = tmp_path_factory.mktemp("purge") / "inventory"
    shutil.copytree(REPO / "inventories/local", inventory)
    for tags in ("aws_network,efs_homes", "jupyterhub"):
        run = playbook("site.yml", "--tags", tags, inventory=str(inventory), env=env)
        assert run.rc == 0, run.output[-4000:]
    for user in ("dora", "eve"):
        run = playbook("add_user.yml", "-e", f"user={user}", "-e", f"ssh_key='{KEY}'", inventory=str(inventory), env=env)
        assert run.rc == 0, run.output[-4000:]
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        yield {"env": env, "inventory": str(inventory), "kube": kube_server, "ldap": ldap_server}


def remove(playbook, workbench, user, *args, env=None):
    return playbook("remove_user.yml", "-e", f"user={user}", "-e", "purge=yes", *args,
                    inventory=workbench["inventory"], env=env or workbench["env"])


class JobController(threading.Thread):
    """Marks the first archive Job that appears as succeeded or failed, as the Job controller would."""

    def __init__(self, kube, outcome):
        super().__init__(daemon=True)
        self.kube, self.outcome, self.job, self.stop = kube, outcome, None, threading.Event()

    def run(self):
        while not self.stop.is_set():
            jobs = self.kube.objects(JOBS)
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


def in_directory(workbench, user):
    import ldap  # pylint: disable=import-outside-toplevel

    env = workbench["env"]
    connection = ldap.initialize(env["KDSW_LDAP_URI"])
    connection.set_option(ldap.OPT_X_TLS_CACERTFILE, env["KDSW_LDAP_CA"])
    connection.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
    connection.start_tls_s()
    connection.simple_bind_s(env["KDSW_LDAP_BIND_DN"], env["KDSW_LDAP_BIND_PW"])
    return bool(connection.search_s(f"ou=people,{env['KDSW_LDAP_BASE_DN']}", ldap.SCOPE_ONELEVEL, f"(uid={user})", ["uid"]))


def test_add_user_gives_the_home_volume_in_the_cluster(workbench):
    (point,) = access_points("dora")
    volumes = home_volumes(workbench["kube"])
    assert ("kdsw-home-dora", f"{point['FileSystemId']}::{point['AccessPointId']}") in volumes
    claim = workbench["kube"].call("GET", "/api/v1/namespaces/jupyterhub/persistentvolumeclaims/home-dora")
    assert claim["spec"]["volumeName"] == "kdsw-home-dora"


def test_purge_is_refused_without_the_cluster(workbench, playbook):
    env = dict(workbench["env"], K8S_AUTH_KUBECONFIG=str(Path(workbench["inventory"]) / "no-such-kubeconfig"))
    run = remove(playbook, workbench, "dora", env=env)
    assert run.rc != 0 and "Nothing was changed" in run.output, run.output[-3000:]
    assert in_directory(workbench, "dora") and access_points("dora")


def test_a_failed_archive_deletes_nothing(workbench, playbook):
    controller = JobController(workbench["kube"], "failed")
    controller.start()
    run = remove(playbook, workbench, "dora")
    controller.stop.set()
    assert run.rc != 0 and "Wait until the home directory is archived" in run.output, run.output[-3000:]
    assert controller.job is not None
    assert in_directory(workbench, "dora") and access_points("dora")
    assert any(name == "kdsw-home-dora" for name, _ in home_volumes(workbench["kube"]))
    workbench["kube"].call("DELETE", f"{JOBS}/{controller.job['metadata']['name']}")


def test_purge_archives_then_removes_everything_of_the_user(workbench, playbook):
    controller = JobController(workbench["kube"], "succeeded")
    controller.start()
    run = remove(playbook, workbench, "dora")
    controller.stop.set()
    assert run.rc == 0, run.output[-4000:]
    job = controller.job
    archive = job["metadata"]["annotations"]["kdsw.io/archive"]
    assert archive.startswith("s3://kdsw-rehearsal-data-123456789012/archive/homes/dora-") and archive.endswith(".tar.gz")
    spec = job["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["initContainers"]] == ["pack", "upload"] and spec["containers"][0]["name"] == "empty"
    assert spec["volumes"][0]["persistentVolumeClaim"]["claimName"] == "home-dora"
    assert workbench["kube"].objects(JOBS) == []
    assert not in_directory(workbench, "dora") and access_points("dora") == []
    assert not any(name == "kdsw-home-dora" for name, _ in home_volumes(workbench["kube"]))
    # eve is untouched.
    assert in_directory(workbench, "eve") and access_points("eve")
    users = yaml.safe_load((Path(workbench["inventory"]) / "group_vars/all/users.yml").read_text())["workbench_users"]
    assert [u["name"] for u in users] == ["eve"]
