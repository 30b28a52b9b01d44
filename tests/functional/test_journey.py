"""The README's journey on one rehearsal, as a new user runs it, in the README's order.

`make rehearsal`; the endpoints' environment (`eval "$(.venv/bin/python harness/endpoints.py start)"`);
`add_user.yml` for bob and carol; `site.yml` again, with no change; both users' ways in: an ssh tunnel
through a real sshd configured by the bastion role (keys looked up in slapd) to a real JupyterHub with the
jupyterhub role's LDAP settings, where the initial password opens nothing; each user sets their own
password through the tunnel, and the hub takes the new one and refuses the old; `scale.yml` up, the table,
down; `site.yml --tags spark`; `remove_user.yml` for bob and `site.yml` again (bob refused at the bastion
and the hub, carol still in); `cost.yml`; `teardown.yml`, typing the workbench name; `make
rehearsal-teardown`; `harness/endpoints.py stop`.

Commands are written exactly as the README shows them (tests/functional/test_readme_commands.py checks
the README against them); `inventories/personal` is run as a private copy of `inventories/local`, so
users.yml is written there and not in the repository. The endpoints live in a private state directory
(KDSW_STATE_DIR), so a rehearsal of your own is never touched. The tests run in file order and share
one rehearsal: each is a step of the journey.
"""

import json
import os
import pty
import re
import secrets
import select
import shlex
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import boto3
import pytest
import yaml

from aws_state import s3_state, workbench_resources
from conftest import REPO
# rendered is a fixture (the bastion role's sshd_config and scripts, the hub's settings).
from identity import (BIN, Sshd, free_port, generate_key, jupyterhub, login, needs_proxy, needs_root_and_sshd,  # noqa: F401  pylint: disable=unused-import
                      rendered, ssh, tunnel)

pytestmark = [needs_root_and_sshd, needs_proxy]

DEFINITION = yaml.safe_load((REPO / "inventories/local/group_vars/all/workbench.yml").read_text())["workbench"]
CLUSTER = DEFINITION["name"]
BASE_DN = f"dc={CLUSTER},dc=kdsw"
BASTION_DEFAULTS = yaml.safe_load((REPO / "roles/bastion/defaults/main.yml").read_text())

# The README's commands, verbatim (placeholders such as the key are filled in by the step).
MAKE_REHEARSAL = "make rehearsal"
START = 'eval "$(.venv/bin/python harness/endpoints.py start)"'
ADD_BOB = "ansible-playbook add_user.yml -i inventories/personal -e user=bob -e \"ssh_key='ssh-ed25519 AAAA... bob@laptop'\""
ADD_CAROL = ("ansible-playbook add_user.yml -i inventories/personal -e user=carol -e user_groups=users,admins -e \"full_name='Carol C'\""
             " -e \"ssh_key='ssh-ed25519 AAAA... carol@laptop'\"")
SITE = "ansible-playbook site.yml -i inventories/personal"
SCALE_UP = "ansible-playbook scale.yml -i inventories/personal -e pool=spark -e capacity=4"
SCALE_DOWN = "ansible-playbook scale.yml -i inventories/personal -e pool=spark -e capacity=0"
SCALE_TABLE = "ansible-playbook scale.yml -i inventories/personal"
SITE_SPARK = "ansible-playbook site.yml -i inventories/personal --tags spark"
REMOVE_BOB = "ansible-playbook remove_user.yml -i inventories/personal -e user=bob"
COST = "ansible-playbook cost.yml -i inventories/personal"
TEARDOWN = "ansible-playbook teardown.yml -i inventories/personal"
MAKE_REHEARSAL_TEARDOWN = "make rehearsal-teardown"
STOP = ".venv/bin/python harness/endpoints.py stop"
LDAPPASSWD = ("LDAPTLS_CACERT=~/.ssh/kdsw/<workbench>.ldap-ca.crt ldappasswd -H ldap://127.0.0.1:1389 -ZZ -x -W -S"
              " -D uid=<user>,ou=people,dc=<workbench>,dc=kdsw")

SNIPPET_TASK = "kdsw.workbench.bastion : Write each user's ssh config snippet (one ssh command opens the tunnels)"
INITIAL_PASSWORD = re.compile(r"Initial password: ([A-Za-z0-9]{20}) \(shown once")


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    """The journey's state: a private endpoint state directory and inventory copy, the users' keys and
    passwords; after the last step (or a failed one), the endpoints are stopped by PID."""
    root = tmp_path_factory.mktemp("journey")
    inventory = root / "inventory"
    shutil.copytree(REPO / "inventories/local", inventory)
    definition_file = inventory / "group_vars/all/workbench.yml"
    definition = yaml.safe_load(definition_file.read_text())
    if "admins" not in [group["name"] for group in definition["workbench"]["groups"]]:
        # The README's carol is an administrator: the personal definition has the admins group, the rehearsal's not.
        definition["workbench"]["groups"].append({"name": "admins", "description": "Workbench administrators"})
        definition_file.write_text(yaml.safe_dump(definition))
    shell_env = dict(os.environ, KDSW_STATE_DIR=str(root / "endpoints"))
    keys = {user: generate_key(root, user) for user in ("bob", "carol")}
    journey = {"root": root, "inventory": str(inventory), "shell_env": shell_env, "env": {}, "keys": keys,
               "passwords": {}, "forward_ports": []}
    with pytest.MonkeyPatch.context() as patch:
        journey["patch"] = patch
        yield journey
    sh(STOP, shell_env)


def sh(command, env, timeout=900):
    """A README shell line, run by bash from the repository root."""
    return subprocess.run(["bash", "-c", command], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def run(playbook, rehearsal, command, **placeholders):
    """A README ansible-playbook line, with the inventory copy for -i and placeholders filled in."""
    for placeholder, value in placeholders.items():
        assert placeholder in command, (placeholder, command)
        command = command.replace(placeholder, value)
    words = shlex.split(command)
    assert words[0] == "ansible-playbook" and words[2] == "-i", command
    return playbook(words[1], *words[4:], inventory=rehearsal["inventory"], env=rehearsal["env"])


def public_key(rehearsal, user):
    return rehearsal["keys"][user].with_suffix(".pub").read_text().strip()


def users_file(rehearsal):
    path = f"{rehearsal['inventory']}/group_vars/all/users.yml"
    return {user["name"]: user for user in yaml.safe_load(open(path, encoding="utf-8"))["workbench_users"]}


def pool_instances(pool):
    ec2 = boto3.client("ec2", region_name=DEFINITION["region"])
    reservations = ec2.describe_instances(Filters=[{"Name": "tag:kdsw:cluster", "Values": [CLUSTER]},
                                                   {"Name": "tag:kdsw:pool", "Values": [pool]},
                                                   {"Name": "instance-state-name", "Values": ["pending", "running"]}])
    return [instance["InstanceId"] for reservation in reservations["Reservations"] for instance in reservation["Instances"]]


@pytest.fixture(scope="module")
def hub(rehearsal, rendered, tmp_path_factory):
    """A real JupyterHub with the role's settings, on the port the bastion forwards to."""
    with jupyterhub(rendered, rehearsal["env"], tmp_path_factory.mktemp("hub"), hub_port=rendered["web_port"]) as port:
        yield port


@pytest.fixture(scope="module")
def bastion(rendered):
    """The bastion role's sshd, started by the step that first needs it (once the users exist)."""
    sshd = Sshd(rendered)
    yield sshd
    sshd.stop()


def test_01_make_rehearsal(rehearsal):
    done = sh(MAKE_REHEARSAL, rehearsal["shell_env"])
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    for endpoint in ("moto", "slapd", "kube"):
        assert re.search(rf"^{endpoint}: pid \d+, port \d+", done.stdout, re.MULTILINE), done.stdout[:2000]
    assert "SSH entry point (bastion): ssh -p 2222" in done.stdout
    assert "'make rehearsal-teardown' removes it" in done.stdout


def test_02_the_endpoints_environment(rehearsal):
    """`eval "$(... start)"` finds the running endpoints (start again starts nothing) and exports their variables."""
    exported = sh(f"{START} && .venv/bin/python -c 'import json, os; print(json.dumps(dict(os.environ)))'", rehearsal["shell_env"])
    assert exported.returncode == 0, exported.stderr
    env = {key: value for key, value in json.loads(exported.stdout).items()
           if key.startswith(("AWS_", "KDSW_LDAP_", "K8S_AUTH_")) and os.environ.get(key) != value}
    for key in ("AWS_URL", "AWS_ENDPOINT_URL"):
        assert urllib.parse.urlsplit(env[key]).hostname == "127.0.0.1", env
    assert {"KDSW_LDAP_URI", "KDSW_LDAP_BIND_PW", "KDSW_LDAP_CA", "K8S_AUTH_KUBECONFIG"} <= set(env)
    # KDSW_STATE_DIR too: the rehearsal's ssh config snippets go there, not into the repository's .rehearsal.
    rehearsal["env"].update(env, KDSW_STATE_DIR=rehearsal["shell_env"]["KDSW_STATE_DIR"])
    for key, value in env.items():
        rehearsal["patch"].setenv(key, value)
    # The bastion forwards to the web services of the role's list; the test's stand-ins run on loopback ports.
    if any(destination.endswith(":389") for destination in BASTION_DEFAULTS["bastion_permit_open"]):
        rehearsal["forward_ports"].append(urllib.parse.urlsplit(env["KDSW_LDAP_URI"]).port)


def test_03_add_two_users(rehearsal, playbook):
    for user, command, placeholder in (("bob", ADD_BOB, "ssh-ed25519 AAAA... bob@laptop"),
                                       ("carol", ADD_CAROL, "ssh-ed25519 AAAA... carol@laptop")):
        added = run(playbook, rehearsal, command, **{placeholder: public_key(rehearsal, user)})
        assert added.rc == 0, added.output[-4000:]
        password = INITIAL_PASSWORD.search(added.output)
        assert password, f"add_user.yml printed no initial password for {user}:\n{added.output[-2000:]}"
        rehearsal["passwords"][user] = password.group(1)
    users = users_file(rehearsal)
    assert set(users) == {"bob", "carol"} and users["bob"]["uid"] != users["carol"]["uid"], users
    assert users["carol"]["groups"] == ["users", "admins"] and users["carol"]["full_name"] == "Carol C"
    assert users["bob"]["ssh_keys"] == [public_key(rehearsal, "bob")]


def test_04_site_again_writes_the_new_users_snippets_only(rehearsal, playbook):
    """The next site.yml keeps the users add_user.yml recorded, and only writes their ssh config snippets."""
    again = run(playbook, rehearsal, SITE)
    assert again.rc == 0, again.output[-4000:]
    assert again.changed_tasks() == [SNIPPET_TASK] and again.changed == 1, again.changed_tasks()
    snippets = Path(rehearsal["env"]["KDSW_STATE_DIR"]) / "ssh"
    bob, carol = (snippets / "bob.conf").read_text(), (snippets / "carol.conf").read_text()
    assert "  User bob\n" in bob and "  User carol\n" in carol
    assert "ProxyJump" in carol and "ProxyJump" not in bob  # carol is an administrator


def test_05_both_users_reach_the_hub_through_the_bastion(rehearsal, rendered, bastion, hub):
    """Each user's tunnel through the real sshd to the real hub; the initial password opens nothing there."""
    bastion.start()
    for user in ("bob", "carol"):
        with tunnel(rendered, rehearsal["keys"][user], user, hub) as local:
            with urllib.request.urlopen(f"http://127.0.0.1:{local}/hub/login", timeout=10) as page:
                assert page.status == 200
            status, _location = login(local, user, rehearsal["passwords"].get(user, "no initial password was printed"))
            assert status == 403, f"{user}'s initial password logged in to the hub: it must serve only to set their own"


def test_06_each_user_sets_their_own_password(rehearsal, rendered, bastion, hub):
    """The README's ldappasswd as the user, through the bastion's tunnel to the directory, typing the passwords;
    then the hub takes the new password and refuses the initial one."""
    directory = urllib.parse.urlsplit(rehearsal["env"]["KDSW_LDAP_URI"]).port
    assert directory in rehearsal["forward_ports"], (
        f"the bastion role forwards nobody to the directory (bastion_permit_open: {BASTION_DEFAULTS['bastion_permit_open']}):"
        " users cannot change their password through the tunnel")
    for user in ("bob", "carol"):
        initial, chosen = rehearsal["passwords"][user], secrets.token_urlsafe(18)
        with tunnel(rendered, rehearsal["keys"][user], user, directory) as local:
            # The rehearsal's directory is the harness's slapd: its CA, not the one site.yml keeps for the cluster's.
            command = (LDAPPASSWD.replace("~/.ssh/kdsw/<workbench>.ldap-ca.crt", rehearsal["env"]["KDSW_LDAP_CA"])
                       .replace("127.0.0.1:1389", f"127.0.0.1:{local}").replace("<workbench>", CLUSTER).replace("<user>", user))
            code, output = on_a_terminal(command, dict(os.environ), [("New password: ", chosen), ("Re-enter new password: ", chosen),
                                                                     ("Enter LDAP Password: ", initial)], timeout=60)
        assert code == 0, output
        with tunnel(rendered, rehearsal["keys"][user], user, hub) as local:
            status, location = login(local, user, chosen)
            assert status == 302 and "/hub/" in location, (user, status, location)
            assert login(local, user, initial)[0] == 403
        rehearsal["passwords"][user] = chosen


def test_07_scale_up_the_table_and_down(rehearsal, playbook):
    # Four spark nodes around the clock are over the rehearsal's budget: the guard asks first, as the README says.
    asked = run(playbook, rehearsal, SCALE_UP)
    assert asked.rc != 0 and "-e budget_override=yes" in asked.output, asked.output[-4000:]
    assert pool_instances("spark") == []
    up = run(playbook, rehearsal, SCALE_UP + " -e budget_override=yes")
    assert up.rc == 0, up.output[-4000:]
    assert len(pool_instances("spark")) == 4
    table = run(playbook, rehearsal, SCALE_TABLE)
    assert table.rc == 0 and table.changed == 0, table.output[-4000:]
    rows = {line.split()[0]: line.split()[1:] for line in table.output.splitlines() if line.strip().split()[:1] in (["spark"], ["gpu"])}
    assert rows["spark"][:4] == ["0", "4", "4", "0"] and rows["gpu"][:4] == ["0", "0", "0", "0"], rows  # desired, running, spot, on-demand
    down = run(playbook, rehearsal, SCALE_DOWN)
    assert down.rc == 0, down.output[-4000:]
    assert pool_instances("spark") == []


def test_08_site_tags_spark(rehearsal, playbook):
    spark = run(playbook, rehearsal, SITE_SPARK)
    assert spark.rc == 0, spark.output[-4000:]
    assert spark.changed == 0, spark.changed_tasks()


def test_09_remove_a_user(rehearsal, rendered, bastion, hub, playbook):
    removed = run(playbook, rehearsal, REMOVE_BOB)
    assert removed.rc == 0, removed.output[-4000:]
    assert users_file(rehearsal)["bob"]["state"] == "disabled"
    # With the users in place, site.yml again: no change.
    after = run(playbook, rehearsal, SITE)
    assert after.rc == 0, after.output[-4000:]
    assert after.changed == 0, after.changed_tasks()
    refused = subprocess.run(ssh(rendered, rehearsal["keys"]["bob"], "-N", "-o", "ExitOnForwardFailure=yes",
                                 "-L", f"127.0.0.1:{free_port()}:127.0.0.1:{hub}", "bob@127.0.0.1"),
                             capture_output=True, text=True, timeout=30, check=False)
    assert refused.returncode == 255 and "Permission denied" in refused.stderr, refused.stderr
    assert login(hub, "bob", rehearsal["passwords"]["bob"])[0] == 403
    with tunnel(rendered, rehearsal["keys"]["carol"], "carol", hub) as local:
        assert login(local, "carol", rehearsal["passwords"]["carol"])[0] == 302


def test_10_cost(rehearsal, playbook):
    cost = run(playbook, rehearsal, COST)
    assert cost.rc == 0, cost.output[-4000:]
    assert "monthly base" in cost.output


def on_a_terminal(command, env, answers, timeout=900):
    """A shell line run on a terminal, answering each (prompt, answer) of `answers` in turn as a user types
    when the prompt appears: (exit code, output)."""
    pid, terminal = pty.fork()
    if pid == 0:  # the child, on the terminal
        os.chdir(REPO)
        os.execve("/bin/bash", ["bash", "-c", command], env)
    output, answered, deadline = b"", 0, time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([terminal], [], [], 1)[0]:
                try:
                    chunk = os.read(terminal, 65536)
                except OSError:  # the terminal closes when the command ends
                    break
                if not chunk:
                    break
                output += chunk
            if answered < len(answers) and answers[answered][0].encode() in output:
                os.write(terminal, answers[answered][1].encode() + b"\r")
                output = output.replace(answers[answered][0].encode(), b"<answered>", 1)
                answered += 1
    finally:
        os.close(terminal)
    _pid, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode("utf-8", "replace")


def test_11_teardown_asks_for_the_name(rehearsal, playbook):
    words = shlex.split(TEARDOWN)
    command = shlex.join([str(BIN / words[0]), words[1], "-i", rehearsal["inventory"], *words[4:]])
    env = dict(os.environ, **rehearsal["env"], ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    code, output = on_a_terminal(command, env, [("Type the workbench name", CLUSTER)])
    assert code == 0, output[-4000:]
    # Kept unless -e delete_data=yes: the data bucket, the directory's secrets and the bastion's host keys.
    left = workbench_resources(CLUSTER)
    assert list(left) == ["ssm_parameters"] and all("/ldap/" in name or "/bastion/" in name for name in left["ssm_parameters"]), left
    assert list(s3_state()) == [f"kdsw-{CLUSTER}-data-123456789012"]


def test_12_make_rehearsal_teardown(rehearsal):
    done = sh(MAKE_REHEARSAL_TEARDOWN, rehearsal["shell_env"])
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    status = sh(".venv/bin/python harness/endpoints.py status", rehearsal["shell_env"])
    assert status.stdout.split("\n")[:3] == ["moto: stopped", "slapd: stopped", "kube: stopped"], status.stdout


def test_13_endpoints_stop(rehearsal):
    """The README's last line of a rehearsal by hand: stopping what is stopped is fine."""
    stopped = sh(STOP, rehearsal["shell_env"])
    assert stopped.returncode == 0, stopped.stderr
