"""site.yml after add_user.yml: the users that add_user.yml recorded reach the bastion role as it expects them.

One rehearsal (moto with the network and the home directories' file system, a fresh slapd) and a private
copy of the rehearsal inventory: add_user.yml adds an administrator and a user, then site.yml runs the
parts that take the users (tags ldap and bastion: the directory, the home directories, the bastion and
its ssh config snippets) with the users.yml that add_user.yml wrote, and each user's snippet is read back.
"""

import json
import shutil
import subprocess

import pytest
import yaml

from conftest import REPO

CLUSTER = yaml.safe_load((REPO / "inventories/local/group_vars/all/workbench.yml").read_text())["workbench"]["name"]


@pytest.fixture(scope="module")
def rehearsal(moto_server, ldap_server, playbook, tmp_path_factory):
    moto_server.reset()
    ldap_server.reset()
    env = {**moto_server.state()["env"], **ldap_server.state()["env"]}
    inventory = tmp_path_factory.mktemp("site-after-add-user") / "inventory"
    shutil.copytree(REPO / "inventories/local", inventory)
    # The rehearsal's definition has no admins group: add the one the personal definition has.
    definition_file = inventory / "group_vars/all/workbench.yml"
    definition = yaml.safe_load(definition_file.read_text())
    definition["workbench"]["groups"].append({"name": "admins", "description": "Workbench administrators"})
    definition_file.write_text(yaml.safe_dump(definition))
    run = playbook("site.yml", "--tags", "aws_network,efs_homes", inventory=str(inventory), env=env)
    assert run.rc == 0, run.output[-4000:]
    return {"env": env, "inventory": str(inventory)}


def public_key(tmp_path, name):
    key = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@laptop", "-f", str(key)], check=True)
    return key.with_suffix(".pub").read_text().strip()


def test_site_after_add_user_writes_each_user_a_snippet_and_proxyjump_for_administrators(rehearsal, playbook, tmp_path):
    for options in (["-e", "user=ada", "-e", "user_groups=users,admins"], ["-e", "user=bo"]):
        added = playbook("add_user.yml", *options, "-e", json.dumps({"ssh_key": public_key(tmp_path, options[1][5:])}),
                         inventory=rehearsal["inventory"], env=rehearsal["env"])
        assert added.rc == 0, added.output[-4000:]
    snippets = tmp_path / "ssh"
    # The snippets go to a directory of this test instead of the rehearsal's .rehearsal/ssh.
    run = playbook("site.yml", "--tags", "ldap,bastion", "-e", f"bastion_client_config_dir={snippets}",
                   inventory=rehearsal["inventory"], env=rehearsal["env"])
    assert run.rc == 0, run.output[-4000:]
    ada, bo = (snippets / "ada.conf").read_text(), (snippets / "bo.conf").read_text()
    assert "  User ada\n" in ada and "  User bo\n" in bo
    assert f"Host 10.42.*\n  ProxyJump {CLUSTER}-bastion\n" in ada
    assert "ProxyJump" not in bo
