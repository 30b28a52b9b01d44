"""Runs that overlap: several add_user.yml (and the directory sync under them) started at once.

Each run must keep the others' users: in the directory (accounts with distinct uid numbers, group
memberships) and in the inventory's group_vars/all/users.yml, which every run rewrites.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3
import ldap as pyldap
import pytest
import yaml

from conftest import REPO

USERS = ("ana", "ben", "cai", "dee", "eli")


def directory(env):
    """An administrator's connection to the rehearsal's slapd."""
    conn = pyldap.initialize(env["KDSW_LDAP_URI"])
    conn.set_option(pyldap.OPT_X_TLS_CACERTFILE, env["KDSW_LDAP_CA"])
    conn.set_option(pyldap.OPT_X_TLS_REQUIRE_CERT, pyldap.OPT_X_TLS_DEMAND)
    conn.set_option(pyldap.OPT_X_TLS_NEWCTX, 0)
    conn.start_tls_s()
    conn.simple_bind_s(env["KDSW_LDAP_BIND_DN"], env["KDSW_LDAP_BIND_PW"])
    return conn


def accounts(env):
    """{name: uidNumber} of the accounts in ou=people."""
    found = directory(env).search_s(f"ou=people,{env['KDSW_LDAP_BASE_DN']}", pyldap.SCOPE_ONELEVEL, "(objectClass=posixAccount)",
                                    ["uid", "uidNumber"])
    return {entry["uid"][0].decode(): int(entry["uidNumber"][0]) for dn, entry in found}


def members(env, group):
    """(memberUid names, member DNs) of a group."""
    ((dn, entry),) = directory(env).search_s(f"cn={group},ou=groups,{env['KDSW_LDAP_BASE_DN']}", pyldap.SCOPE_BASE,
                                             "(objectClass=*)", ["memberUid", "member"])
    return ({value.decode() for value in entry.get("memberUid", [])},
            {value.decode().lower() for value in entry.get("member", [])})


def sync_args(env, **extra):
    args = {"server_uri": env["KDSW_LDAP_URI"], "bind_dn": env["KDSW_LDAP_BIND_DN"], "bind_pw": env["KDSW_LDAP_BIND_PW"],
            "base_dn": env["KDSW_LDAP_BASE_DN"], "ca_file": env["KDSW_LDAP_CA"],
            "groups": [{"name": "users", "description": "Workbench users"}]}
    args.update(extra)
    return args


def start_module(name, args, workdir):
    """The module as Ansible runs it (a process fed ANSIBLE_MODULE_ARGS), started and not waited for."""
    arguments = Path(tempfile.mkstemp(suffix=".json", dir=workdir)[1])
    arguments.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    return subprocess.Popen([sys.executable, "-m", f"ansible_collections.kdsw.workbench.plugins.modules.{name}", str(arguments)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, PYTHONPATH=str(REPO / ".collections")))


def finish(process, timeout=1800):
    output = process.communicate(timeout=timeout)[0]
    return process.returncode, output


def test_syncs_at_once_keep_each_others_members(ldap, tmp_path):
    """Five ldap_user_sync runs, each adding one user to `users`, in three waves: every user ends up a member."""
    env = ldap.state()["env"]
    rc, output = finish(start_module("ldap_user_sync", sync_args(env), tmp_path))
    assert rc == 0, output
    names = []
    for wave in range(3):
        wave_names = [f"{name}{wave}" for name in USERS]
        names += wave_names
        runs = [start_module("ldap_user_sync", sync_args(env, users=[{"name": name, "groups": ["users"]}], password_hash_rounds=5000),
                             tmp_path)
                for name in wave_names]
        for rc, output in map(finish, runs):
            assert rc == 0, output
    uids = accounts(env)
    assert sorted(uids) == sorted(names)
    assert len(set(uids.values())) == len(names), uids
    member_uids, member_dns = members(env, "users")
    assert member_uids == set(names)
    assert member_dns == {f"uid={name},ou=people,{env['KDSW_LDAP_BASE_DN']}".lower() for name in names}


@pytest.fixture(scope="module")
def rehearsal(moto_server, ldap_server, kube_server, playbook, tmp_path_factory):
    """What add_user.yml needs and nothing more: the network and the home directories' file system in moto,
    the definition's groups in a fresh slapd (as site.yml --tags ldap leaves them), JupyterHub's namespace in
    the Kubernetes API emulator, and a private copy of the rehearsal inventory."""
    moto_server.reset()
    ldap_server.reset()
    kube_server.reset()
    env = {**moto_server.state()["env"], **ldap_server.state()["env"], **kube_server.state()["env"]}
    inventory = tmp_path_factory.mktemp("concurrent") / "inventory"
    shutil.copytree(REPO / "inventories/local", inventory)
    run = playbook("site.yml", "--tags", "aws_network,efs_homes", inventory=str(inventory), env=env)
    assert run.rc == 0, run.output[-4000:]
    groups = yaml.safe_load((inventory / "group_vars/all/workbench.yml").read_text())["workbench"]["groups"]
    rc, output = finish(start_module("ldap_user_sync", sync_args(env, groups=groups), tmp_path_factory.mktemp("args")))
    assert rc == 0, output
    kube_server.call("POST", "/api/v1/namespaces", content_type="application/json",
                     body=json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "jupyterhub"}}).encode())
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        yield {"env": env, "inventory": inventory, "kube": kube_server}


def public_key(directory_path, name):
    key = directory_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@laptop", "-f", str(key)], check=True)
    return key.with_suffix(".pub").read_text().strip()


def start_add_user(rehearsal, name, ssh_key):
    run_env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1",
                   ANSIBLE_DEPRECATION_WARNINGS="0", **rehearsal["env"])
    return subprocess.Popen([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(rehearsal["inventory"]), "add_user.yml",
                             "-e", f"user={name}", "-e", f"ssh_key='{ssh_key}'"],
                            cwd=REPO, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_five_add_user_at_once_keep_all_five(rehearsal, tmp_path):
    keys = {name: public_key(tmp_path, name) for name in USERS}
    runs = {name: start_add_user(rehearsal, name, keys[name]) for name in USERS}
    for name, run in runs.items():
        rc, output = finish(run)
        assert rc == 0, f"add_user.yml -e user={name}:\n{output[-4000:]}"

    env = rehearsal["env"]
    uids = accounts(env)
    assert sorted(uids) == sorted(USERS)
    assert len(set(uids.values())) == len(USERS), uids
    assert members(env, "users")[0] == set(USERS)

    recorded = yaml.safe_load((rehearsal["inventory"] / "group_vars/all/users.yml").read_text())["workbench_users"]
    assert [user["name"] for user in recorded] == sorted(USERS)
    assert {user["name"]: user["uid"] for user in recorded} == uids
    assert {user["name"]: user["ssh_keys"] for user in recorded} == {name: [key] for name, key in keys.items()}

    efs = boto3.client("efs", region_name="us-east-1")
    (file_system,) = efs.describe_file_systems()["FileSystems"]
    points = efs.describe_access_points(FileSystemId=file_system["FileSystemId"])["AccessPoints"]
    assert sorted((point["RootDirectory"]["Path"], point["PosixUser"]["Uid"]) for point in points) == \
        sorted((f"/home/{name}", uid) for name, uid in uids.items())
    claims = rehearsal["kube"].call("GET", "/api/v1/namespaces/jupyterhub/persistentvolumeclaims")["items"]
    assert sorted(claim["metadata"]["name"] for claim in claims) == [f"home-{name}" for name in USERS]
