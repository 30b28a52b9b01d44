"""Invalid cluster definitions are refused by every playbook, naming the key, before any AWS call.

Each case runs the real site.yml against moto with a broken copy of the rehearsal inventory, and
proves from moto's access log that the endpoint received no request at all. add_user.yml's own
mistakes name the option that was typed (-e user=root) and write nothing: no AWS request, no
directory write, no users.yml.
"""

import copy
import json
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import REPO

LOCAL = REPO / "inventories/local"
DEFINITION = yaml.safe_load((LOCAL / "group_vars/all/workbench.yml").read_text())["workbench"]


def pool(**overrides):
    base = {"name": "cpu", "instance_types": ["m7i.xlarge"], "lifecycle": "spot", "min": 0, "max": 2, "desired": 0,
            "root_volume_gb": 50, "gpu": False}
    return dict(base, **overrides)


# (case id, change to the definition, key the error must name)
CASES = [
    ("bad-name", {"name": "My_Workbench"}, "workbench.name"),
    ("one-zone", {"zones": ["us-east-1a"]}, "workbench.zones"),
    ("zone-outside-region", {"zones": ["us-east-1a", "eu-west-1b"]}, "workbench.zones[1]"),
    ("unknown-region", {"region": "us-nowhere-1", "zones": ["us-nowhere-1a", "us-nowhere-1b"]}, "workbench.region"),
    ("bad-cidr", {"admin_cidrs": ["203.0.113.10/33"]}, "workbench.admin_cidrs[0]"),
    ("world-cidr", {"admin_cidrs": ["0.0.0.0/0"]}, "workbench.admin_cidrs[0]"),
    ("no-admin-cidrs", {"admin_cidrs": []}, "workbench.admin_cidrs"),
    ("public-vpc-cidr", {"network": {"vpc_cidr": "8.8.0.0/16"}}, "workbench.network.vpc_cidr"),
    ("bastion-on-api-port", {"network": {"bastion_port": 6443}}, "workbench.network.bastion_port"),
    ("unknown-instance-type", {"control_plane": {"instance_type": "t4g.smal"}}, "workbench.control_plane.instance_type"),
    ("misspelt-key", {"admin_nodes": {"cout": 2}}, "workbench.admin_nodes.cout"),
    ("duplicate-pool", {"node_pools": [pool(), pool()]}, "workbench.node_pools[1].name"),
    ("min-above-max", {"node_pools": [pool(min=3, max=2, desired=3)]}, "workbench.node_pools[0]"),
    ("negative-capacity", {"node_pools": [pool(desired=-1)]}, "workbench.node_pools[0].desired"),
    ("mixed-architectures", {"node_pools": [pool(instance_types=["m7i.xlarge", "m7g.xlarge"])]}, "workbench.node_pools[0].instance_types"),
    ("gpu-pool-without-gpus", {"node_pools": [pool(gpu=True)]}, "workbench.node_pools[0]"),
    ("bad-lifecycle", {"node_pools": [pool(lifecycle="preemptible")]}, "workbench.node_pools[0].lifecycle"),
    ("budget-not-a-number", {"budget": {"monthly_usd": "fifty"}}, "workbench.budget.monthly_usd"),
    ("bad-ssh-key", {"ssh_public_key": "ssh-ed25519 not-base64!"}, "workbench.ssh_public_key"),
    ("floating-k3s", {"versions": {"k3s": "latest"}}, "workbench.versions.k3s"),
    ("bad-efs-transition", {"storage": {"efs_transition_to_ia": "AFTER_2_DAYS"}}, "workbench.storage.efs_transition_to_ia"),
    ("bad-bucket-name", {"storage": {"data_bucket": "My_Bucket"}}, "workbench.storage.data_bucket"),
    ("user-in-unknown-group", {"users": [{"name": "bob", "groups": ["wizards"]}]}, "workbench.users[0].groups"),
    ("zones-not-a-list", {"zones": "us-east-1a,us-east-1b"}, "workbench.zones"),
    ("reserved-user-name", {"users": [{"name": "daemon"}]}, "workbench.users[0].name"),
    ("user-named-like-a-group", {"users": [{"name": "users"}]}, "workbench.users[0].name"),
    ("cidr-this-network", {"admin_cidrs": ["0.0.0.0/8"]}, "workbench.admin_cidrs[0]"),
    ("cidrs-internet-in-halves", {"admin_cidrs": ["0.0.0.0/1", "128.0.0.0/1"]}, "workbench.admin_cidrs: "),
    ("cidrs-internet-in-halves-with-api", {"admin_cidrs": ["0.0.0.0/1", "128.0.0.0/1"], "network": {"kubernetes_api_access": "admin_cidrs"}},
     "workbench.admin_cidrs: together they open the bastion port and the Kubernetes API"),
    ("pool-max-huge", {"node_pools": [pool(max=100000)]}, "workbench.node_pools[0].max"),
]


def merged(change):
    definition = copy.deepcopy(DEFINITION)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(definition.get(key), dict):
            definition[key].update(value)
        else:
            definition[key] = value
    return definition


def write_inventory(tmp_path, definition):
    inventory = tmp_path / "inventory"
    shutil.copytree(LOCAL, inventory)
    (inventory / "group_vars/all/workbench.yml").write_text(yaml.safe_dump({"workbench": definition}))
    return str(inventory)


@pytest.fixture
def silent_endpoint(aws):
    """Asserts, after the test, that the AWS endpoint received no request during it."""
    mark = aws.log_offset()
    yield
    assert aws.requests(since=mark) == []


@pytest.mark.parametrize("change, key", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_rejected_before_any_aws_call(tmp_path, playbook, silent_endpoint, change, key):
    run = playbook("site.yml", inventory=write_inventory(tmp_path, merged(change)))
    assert run.rc != 0
    assert "The cluster definition has" in run.output
    assert f"- {key}" in run.output, run.output[-3000:]
    assert "kdsw.workbench.aws_network" not in run.output


def test_every_problem_reported_at_once(tmp_path, playbook, silent_endpoint):
    change = {"name": "X", "zones": ["us-east-1a"], "admin_cidrs": ["0.0.0.0/0"], "budget": {"monthly_usd": "lots"},
              "control_plane": {"instance_type": "t9.huge"}}
    run = playbook("teardown.yml", "-e", "confirm=yes", inventory=write_inventory(tmp_path, merged(change)))
    assert run.rc != 0
    assert "The cluster definition has 5 problem(s)" in run.output, run.output[-3000:]
    for key in ("workbench.name", "workbench.zones", "workbench.admin_cidrs[0]", "workbench.budget.monthly_usd",
                "workbench.control_plane.instance_type"):
        assert f"- {key}" in run.output


@pytest.mark.parametrize("url", ["https://ec2.us-east-1.example.com", ""])
def test_rehearsal_refuses_endpoints_off_this_machine(tmp_path, playbook, silent_endpoint, url):
    run = playbook("site.yml", env={"AWS_URL": url, "AWS_ENDPOINT_URL": url})
    assert run.rc != 0
    assert "AWS_URL" in run.output and "harness/endpoints.py" in run.output


# (case id, add_user.yml's options, the problem the output must show)
ADD_USER_CASES = [
    ("root", ["-e", "user=root"], "- -e user=root: 'root' is reserved: "),
    ("daemon", ["-e", "user=daemon"], "uid 2 in the bastion's Alpine Linux"),
    ("jovyan", ["-e", "user=jovyan"], "- -e user=jovyan: 'jovyan' is reserved: "),
    ("a-group-name", ["-e", "user=users"], "- -e user=users: 'users' is reserved: it is the name of a group of workbench.groups"),
    ("unknown-group", ["-e", "user=bob", "-e", "user_groups=users,wizards"], "- -e user_groups=users,wizards: group 'wizards' is not defined"),
    ("bad-key", ["-e", "user=bob", "-e", json.dumps({"ssh_key": "ssh-ed25519 not-base64!"})], "- -e ssh_key: "),
    ("bad-email", ["-e", "user=bob", "-e", "email=bob"], "- -e email: 'bob' is not an e-mail address"),
]


@pytest.mark.parametrize("options, expected", [case[1:] for case in ADD_USER_CASES], ids=[case[0] for case in ADD_USER_CASES])
def test_add_user_names_what_was_typed_and_writes_nothing(tmp_path, playbook, silent_endpoint, ldap, options, expected):
    inventory = write_inventory(tmp_path, DEFINITION)
    mark = ldap.log_offset()
    run = playbook("add_user.yml", *options, inventory=inventory)
    assert run.rc != 0
    assert expected in run.output, run.output[-3000:]
    assert "workbench.users[" not in run.output and "workbench_users[" not in run.output
    assert ldap.writes(mark) == []
    assert not (Path(inventory) / "group_vars/all/users.yml").exists()
