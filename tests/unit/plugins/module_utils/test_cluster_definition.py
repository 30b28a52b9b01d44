"""Unit tests of the cluster definition: merge, validate (every problem, named by its key) and normalize."""

import copy

import pytest

from ansible_collections.kdsw.workbench.plugins.module_utils import instance_types
from ansible_collections.kdsw.workbench.plugins.module_utils.cluster_definition import merge, normalize, validate

LOOPBACK_ENV = {"AWS_URL": "http://127.0.0.1:5000", "AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}
RSA_PREFIX_ED25519_DATA = "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIIaGEmkfImcpz5ltWBZARdMdc4TcjLjSnA0r0VDMCbSE you@laptop"
SHA = "0123456789abcdef" * 4


def mutated(definition, changes):
    """A copy of definition with each (path, value) change applied; a path is a tuple of keys and list indexes."""
    result = copy.deepcopy(definition)
    for path, value in changes:
        parent = result
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = value
    return result


def problems_of(defaults, definition, env=None):
    return validate(merge(defaults, definition), env or {})


# --- the shipped definitions ---------------------------------------------------------------------

def test_personal_definition_is_valid(defaults, personal):
    assert problems_of(defaults, personal) == []


def test_local_definition_is_valid_against_loopback_endpoints(defaults, local):
    assert problems_of(defaults, local, LOOPBACK_ENV) == []


def test_local_definition_accepts_localhost_and_ipv6_loopback(defaults, local):
    env = {"AWS_URL": "http://localhost:5000", "AWS_ENDPOINT_URL": "http://[::1]:5000"}
    assert problems_of(defaults, local, env) == []


def test_local_definition_without_endpoints_tells_how_to_start_them(defaults, local):
    problems = problems_of(defaults, local, {"AWS_URL": "", "AWS_ENDPOINT_URL": ""})
    assert len(problems) == 2
    for problem, variable in zip(problems, ("AWS_URL", "AWS_ENDPOINT_URL")):
        assert problem.startswith("workbench.rehearsal: ")
        assert variable in problem
        assert "harness/endpoints.py start" in problem
        assert 'eval "$(harness/endpoints.py env)"' in problem


def test_local_definition_refuses_real_aws_endpoints(defaults, local):
    env = {"AWS_URL": "https://ec2.us-east-1.example.com", "AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}
    problems = problems_of(defaults, local, env)
    assert len(problems) == 1
    assert problems[0].startswith("workbench.rehearsal: ") and "AWS_URL=https://ec2.us-east-1.example.com" in problems[0]


# --- one mistake at a time -----------------------------------------------------------------------

GPU_POOL = 1
INVALID = [
    # (id, changes, key every problem must start with, text the message must contain)
    ("name-uppercase", [(("name",), "Kdsw")], "workbench.name", "3-20 lowercase"),
    ("name-too-short", [(("name",), "kd")], "workbench.name", "not a valid name"),
    ("name-not-string", [(("name",), 42)], "workbench.name", "not a string"),
    ("region-unknown", [(("region",), "us-east-9")], "workbench.region", "not an AWS region"),
    ("zones-string", [(("zones",), "us-east-1a")], "workbench.zones", "not a list"),
    ("zones-one", [(("zones",), ["us-east-1a"])], "workbench.zones", "at least two"),
    ("zones-duplicate", [(("zones",), ["us-east-1a", "us-east-1a"])], "workbench.zones[1]", "duplicate zone"),
    ("zones-other-region", [(("zones",), ["us-east-1a", "us-west-2b"])], "workbench.zones[1]", "not a zone of us-east-1"),
    ("cidr-bad-prefix", [(("admin_cidrs",), ["10.0.0.0/33"])], "workbench.admin_cidrs[0]",
     "'10.0.0.0/33' is not a CIDR; write an IPv4 network such as 203.0.113.10/32"),
    ("cidr-host-bits", [(("admin_cidrs",), ["203.0.113.10/24"])], "workbench.admin_cidrs[0]", "host bits set; write the network address 203.0.113.0/24"),
    ("cidr-world", [(("admin_cidrs",), ["0.0.0.0/0"])], "workbench.admin_cidrs[0]", "refused"),
    ("cidr-world-v6", [(("admin_cidrs",), ["::/0"])], "workbench.admin_cidrs[0]", "refused"),
    ("cidrs-empty", [(("admin_cidrs",), [])], "workbench.admin_cidrs", "is empty"),
    ("ssh-not-base64", [(("ssh_public_key",), "ssh-ed25519 not-base64!! you@laptop")], "workbench.ssh_public_key", "base64"),
    ("ssh-type-mismatch", [(("ssh_public_key",), RSA_PREFIX_ED25519_DATA)], "workbench.ssh_public_key", "not ssh-rsa as declared"),
    ("ssh-dss", [(("ssh_public_key",), "ssh-dss AAAAB3NzaC1kc3M= old")], "workbench.ssh_public_key", "not supported"),
    ("ssh-private", [(("ssh_public_key",), "-----BEGIN OPENSSH PRIVATE KEY-----")], "workbench.ssh_public_key", "private key"),
    ("vpc-public", [(("network",), {"vpc_cidr": "8.8.0.0/16"})], "workbench.network.vpc_cidr", "RFC 1918"),
    ("vpc-too-big", [(("network",), {"vpc_cidr": "10.0.0.0/8"})], "workbench.network.vpc_cidr", "/16 to a /24"),
    ("subnet-not-smaller", [(("network",), {"vpc_cidr": "10.42.0.0/20", "subnet_prefix": 20})], "workbench.network.subnet_prefix",
     "not smaller than the VPC range"),
    ("subnet-too-small", [(("network",), {"subnet_prefix": 29})], "workbench.network.subnet_prefix", "out of range"),
    ("subnet-no-room", [(("network",), {"vpc_cidr": "10.42.0.0/24", "subnet_prefix": 25}),
                        (("zones",), ["us-east-1a", "us-east-1b", "us-east-1c"])], "workbench.network.subnet_prefix", "holds only 2"),
    ("port-kubernetes", [(("network",), {"bastion_port": 6443})], "workbench.network.bastion_port", "Kubernetes API"),
    ("port-range", [(("network",), {"bastion_port": 70000})], "workbench.network.bastion_port", "from 1 to 65535"),
    ("api-access", [(("network",), {"kubernetes_api_access": "public"})], "workbench.network.kubernetes_api_access", "bastion, admin_cidrs"),
    ("pods-overlap-vpc", [(("network",), {"pod_cidr": "10.42.0.0/16"})], "workbench.network.pod_cidr", "overlaps network.vpc_cidr"),
    ("services-overlap-pods", [(("network",), {"service_cidr": "10.244.128.0/17"})], "workbench.network.service_cidr",
     "overlaps network.pod_cidr"),
    ("pods-public", [(("network",), {"pod_cidr": "100.64.0.0/16"})], "workbench.network.pod_cidr", "not a private IPv4 range"),
    ("chart-floating", [(("versions", "jupyterhub_chart"), "latest")], "workbench.versions.jupyterhub_chart", "4.4.0"),
    ("spark-version", [(("versions", "spark"), "3.5")], "workbench.versions.spark", "Apache Spark release"),
    ("cp-typo-type", [(("control_plane", "instance_type"), "t4g.smal")], "workbench.control_plane.instance_type", "did you mean t4g.small"),
    ("cp-too-small", [(("control_plane", "instance_type"), "t4g.micro")], "workbench.control_plane.instance_type", "at least 2 GiB"),
    ("cp-unknown-key", [(("control_plane",), {"instnce_type": "t4g.small"})], "workbench.control_plane.instnce_type",
     "unknown key; did you mean instance_type? known keys: instance_type, root_volume_gb"),
    ("cp-root-volume", [(("control_plane", "root_volume_gb"), 4)], "workbench.control_plane.root_volume_gb", "from 8 to 16384"),
    ("admin-count-zero", [(("admin_nodes", "count"), 0)], "workbench.admin_nodes.count", "at least one admin node"),
    ("admin-count-bool", [(("admin_nodes", "count"), True)], "workbench.admin_nodes.count", "is a boolean, not an integer"),
    ("admin-count-quoted", [(("admin_nodes", "count"), "2")], "workbench.admin_nodes.count", "(remove the quotes)"),
    ("pools-mapping", [(("node_pools",), {"spark": {}})], "workbench.node_pools", "not a list"),
    ("pool-item-string", [(("node_pools",), ["spark"])], "workbench.node_pools[0]", "not a mapping"),
    ("pool-max-below-min", [(("node_pools", GPU_POOL, "min"), 3)], "workbench.node_pools[1].max", "less than min"),
    ("pool-desired-above-max", [(("node_pools", 0, "desired"), 9)], "workbench.node_pools[0].desired", "between min (0) and max (8)"),
    ("pool-min-bool", [(("node_pools", 0, "min"), False)], "workbench.node_pools[0].min", "not an integer"),
    ("pool-min-negative", [(("node_pools", 0, "min"), -1)], "workbench.node_pools[0].min", "out of range"),
    ("pool-duplicate", [(("node_pools", GPU_POOL, "name"), "spark")], "workbench.node_pools[1].name", "duplicate pool"),
    ("pool-name", [(("node_pools", 0, "name"), "Spark!")], "workbench.node_pools[0].name", "not a valid pool name"),
    ("pool-no-types", [(("node_pools", 0, "instance_types"), [])], "workbench.node_pools[0].instance_types", "is empty"),
    ("pool-unknown-type", [(("node_pools", 0, "instance_types"), ["m7i.2xlarge", "m9.huge"])], "workbench.node_pools[0].instance_types[1]",
     "not a known instance type"),
    ("pool-mixed-arch", [(("node_pools", 0, "instance_types"), ["m7i.2xlarge", "m7g.2xlarge"])], "workbench.node_pools[0].instance_types",
     "mixes CPU architectures (amd64: m7i.2xlarge; arm64: m7g.2xlarge)"),
    ("pool-lifecycle", [(("node_pools", 0, "lifecycle"), "reserved")], "workbench.node_pools[0].lifecycle", "spot, on-demand"),
    ("pool-gpu-false", [(("node_pools", GPU_POOL, "gpu"), False)], "workbench.node_pools[1].gpu", "have GPUs"),
    ("pool-gpu-true", [(("node_pools", 0, "gpu"), True)], "workbench.node_pools[0].gpu", "have no GPU"),
    ("pool-gpu-string", [(("node_pools", 0, "gpu"), "no")], "workbench.node_pools[0].gpu", "not a boolean"),
    ("pool-unknown-key", [(("node_pools", 0, "spot"), True)], "workbench.node_pools[0].spot", "unknown key"),
    ("efs-transition", [(("storage", "efs_transition_to_ia"), "AFTER_2_DAYS")], "workbench.storage.efs_transition_to_ia", "AFTER_1_DAY"),
    ("efs-size-negative", [(("storage", "efs_expected_gb"), -5)], "workbench.storage.efs_expected_gb", "at least 0"),
    ("bucket-uppercase", [(("storage", "data_bucket"), "My_Bucket")], "workbench.storage.data_bucket", "lowercase"),
    ("bucket-ip", [(("storage", "data_bucket"), "192.168.1.1")], "workbench.storage.data_bucket", "IP address"),
    ("bucket-dots", [(("storage", "data_bucket"), "my..bucket")], "workbench.storage.data_bucket", "'..'"),
    ("ia-days-short", [(("storage", "data_transition_ia_days"), 10)], "workbench.storage.data_transition_ia_days", "at least 30"),
    ("glacier-before-ia", [(("storage", "data_transition_glacier_ir_days"), 30)], "workbench.storage.data_transition_glacier_ir_days", "too soon"),
    ("noncurrent-zero", [(("storage", "data_noncurrent_version_days"), 0)], "workbench.storage.data_noncurrent_version_days", "out of range"),
    ("k3s-version", [(("versions", "k3s"), "1.33.5")], "workbench.versions.k3s", "v1.33.5+k3s1"),
    ("k3s-sha-short", [(("versions", "k3s_sha256"), {"amd64": "abc"})], "workbench.versions.k3s_sha256.amd64", "64 hexadecimal"),
    ("k3s-sha-arch", [(("versions", "k3s_sha256"), {"x86_64": SHA})], "workbench.versions.k3s_sha256.x86_64", "known keys: amd64, arm64"),
    ("ssm-empty", [(("image_ssm_parameter",), {"arm64": ""})], "workbench.image_ssm_parameter.arm64", "is empty"),
    ("group-duplicate", [(("groups",), [{"name": "users"}, {"name": "users"}])], "workbench.groups[1].name", "duplicate group"),
    ("group-name", [(("groups",), [{"name": "Users"}, {"name": "admins"}])], "workbench.groups[0].name", "not a valid POSIX name"),
    ("user-undefined-group", [(("users",), [{"name": "alice", "groups": ["staff"]}])], "workbench.users[0].groups[0]", "not defined"),
    ("user-duplicate", [(("users",), [{"name": "alice"}, {"name": "alice"}])], "workbench.users[1].name", "duplicate user"),
    ("user-uid-low", [(("users",), [{"name": "alice", "uid": 500}])], "workbench.users[0].uid", "10000"),
    ("user-bad-key", [(("users",), [{"name": "alice", "ssh_keys": ["ssh-ed25519"]}])], "workbench.users[0].ssh_keys[0]", "not an SSH public key"),
    ("user-email", [(("users",), [{"name": "alice", "email": "alice"}])], "workbench.users[0].email", "not an e-mail address"),
    ("budget-string", [(("budget", "monthly_usd"), "50")], "workbench.budget.monthly_usd", "'50' is a string, not a number"),
    ("budget-not-mapping", [(("budget",), 50)], "workbench.budget", "50 is an integer, not a mapping"),
    ("budget-zero", [(("budget", "monthly_usd"), 0)], "workbench.budget.monthly_usd", "greater than 0"),
    ("budget-bool", [(("budget", "monthly_usd"), True)], "workbench.budget.monthly_usd", "is a boolean, not a number"),
    ("pool-max-huge", [(("node_pools", 0, "max"), 100000)], "workbench.node_pools[0].max", "from 0 to 100"),
    ("cidr-this-network", [(("admin_cidrs",), ["0.0.0.0/8"])], "workbench.admin_cidrs[0]", "0.0.0.0/8 (\"this network\")"),
    ("cidr-loopback", [(("admin_cidrs",), ["127.0.0.1/32"])], "workbench.admin_cidrs[0]", "loopback"),
    ("cidr-link-local", [(("admin_cidrs",), ["169.254.169.254/32"])], "workbench.admin_cidrs[0]", "link-local"),
    ("cidr-multicast", [(("admin_cidrs",), ["224.0.0.0/24"])], "workbench.admin_cidrs[0]", "multicast"),
    ("cidr-reserved", [(("admin_cidrs",), ["240.0.0.0/8"])], "workbench.admin_cidrs[0]", "reserved"),
    ("cidr-broadcast", [(("admin_cidrs",), ["255.255.255.255/32"])], "workbench.admin_cidrs[0]", "reserved"),
    ("cidr-v6-link-local", [(("admin_cidrs",), ["fe80::/64"])], "workbench.admin_cidrs[0]", "link-local"),
    ("cidr-v6-loopback", [(("admin_cidrs",), ["::1/128"])], "workbench.admin_cidrs[0]", "loopback"),
    ("cidrs-internet-in-halves", [(("admin_cidrs",), ["0.0.0.0/1", "128.0.0.0/1"])], "workbench.admin_cidrs", "4,294,967,296 IPv4 addresses"),
    ("cidrs-over-a-slash-8", [(("admin_cidrs",), ["11.0.0.0/8", "12.0.0.0/32"])], "workbench.admin_cidrs", "16,777,217 IPv4 addresses"),
    ("cidrs-v6-over-a-slash-32", [(("admin_cidrs",), ["2001:db8::/31"])], "workbench.admin_cidrs", "more than a /32"),
    ("user-root", [(("users",), [{"name": "root"}])], "workbench.users[0].name", "'root' is reserved"),
    ("user-daemon", [(("users",), [{"name": "daemon"}])], "workbench.users[0].name", "uid 2 in the bastion's Alpine Linux"),
    ("user-nobody", [(("users",), [{"name": "nobody"}])], "workbench.users[0].name", "reserved"),
    ("user-sshd", [(("users",), [{"name": "sshd"}])], "workbench.users[0].name", "bastion"),
    ("user-www-data", [(("users",), [{"name": "www-data"}])], "workbench.users[0].name", "notebook"),
    ("user-jovyan", [(("users",), [{"name": "jovyan"}])], "workbench.users[0].name", "Jupyter"),
    ("user-systemd", [(("users",), [{"name": "systemd-network"}])], "workbench.users[0].name", "systemd-"),
    ("user-underscore", [(("users",), [{"name": "_apt"}])], "workbench.users[0].name", "reserved"),
    ("user-named-like-a-group", [(("users",), [{"name": "admins"}])], "workbench.users[0].name", "workbench.groups"),
    ("rehearsal-string", [(("rehearsal",), "yes")], "workbench.rehearsal", "not a boolean"),
    ("rehearsal-without-endpoints", [(("rehearsal",), True)], "workbench.rehearsal", "harness/endpoints.py start"),
    ("unknown-top-key", [(("regoin",), "us-east-1")], "workbench.regoin", "did you mean region?"),
]


@pytest.mark.parametrize("changes, key, text", [case[1:] for case in INVALID], ids=[case[0] for case in INVALID])
def test_each_mistake_is_reported_under_its_key(defaults, personal, changes, key, text):
    problems = problems_of(defaults, mutated(personal, changes))
    assert problems, "the mistake went unnoticed"
    assert all(problem.startswith(key) for problem in problems), problems
    assert any(problem.startswith(key + ": ") and text in problem for problem in problems), problems


def test_five_mistakes_are_all_reported(defaults, personal):
    changes = [
        (("name",), "Bad Name"),
        (("admin_cidrs",), ["10.0.0.0/33"]),
        (("network", "bastion_port"), 6443),
        (("node_pools", GPU_POOL, "max"), -1),
        (("budget", "monthly_usd"), "fifty"),
    ]
    problems = problems_of(defaults, mutated(personal, changes))
    keys = ["workbench.name: ", "workbench.admin_cidrs[0]: ", "workbench.network.bastion_port: ",
            "workbench.node_pools[1].max: ", "workbench.budget.monthly_usd: "]
    assert len(problems) == 5, problems
    assert [problem[:len(key)] for problem, key in zip(problems, keys)] == keys


WRONG_TYPES = [None, 42, 1.5, True, "text", ["a"], {"a": 1}]


@pytest.mark.parametrize("key", ["name", "region", "zones", "admin_cidrs", "ssh_public_key", "rehearsal", "network", "control_plane",
                                 "admin_nodes", "node_pools", "storage", "versions", "image_ssm_parameter", "groups", "users", "budget",
                                 "scenarios", "prices"])
def test_wrong_types_are_reported_never_raised(defaults, personal, key):
    for value in WRONG_TYPES:
        cluster = merge(defaults, personal)
        cluster[key] = value
        problems = validate(cluster, {})
        assert all(isinstance(problem, str) for problem in problems)
        assert all(problem.startswith("workbench.") for problem in problems)


@pytest.mark.parametrize("value", WRONG_TYPES)
def test_wrong_types_inside_a_pool_are_reported_never_raised(defaults, personal, value):
    for field in ("name", "instance_types", "lifecycle", "min", "max", "desired", "root_volume_gb", "gpu"):
        # Without the scenarios, which name the pool (renaming it is a mistake of theirs).
        problems = problems_of(defaults, mutated(personal, [(("scenarios",), []), (("node_pools", 0, field), value)]))
        assert all(problem.startswith("workbench.node_pools[0].") for problem in problems), problems


@pytest.mark.parametrize("cluster", [None, 42, "workbench", [], {}])
def test_a_definition_that_is_not_a_mapping_is_reported(cluster):
    problems = validate(cluster, {})
    assert problems and all(problem.startswith("workbench") for problem in problems)


# --- admin_cidrs: what the guard still lets through ----------------------------------------------

def test_admin_cidrs_up_to_a_slash_8_in_all_pass(defaults, personal):
    # Overlaps are counted once: a /8 and a network inside it are still a /8.
    cidrs = ["11.0.0.0/8", "11.1.0.0/16", "2001:db8::/32", "2001:db8:1::/48"]
    assert problems_of(defaults, mutated(personal, [(("admin_cidrs",), cidrs)])) == []


def test_admin_cidrs_too_large_also_names_the_kubernetes_api(defaults, personal):
    changes = [(("admin_cidrs",), ["0.0.0.0/1", "128.0.0.0/1"]), (("network", "kubernetes_api_access"), "admin_cidrs")]
    problems = problems_of(defaults, mutated(personal, changes))
    (total,) = [problem for problem in problems if problem.startswith("workbench.admin_cidrs: ")]
    assert "the bastion port and the Kubernetes API" in total and "16,777,216" in total
    assert "are refused" in total


# --- users: reserved names, and the users recorded from the command line --------------------------

def test_a_disabled_user_may_keep_a_reserved_name(defaults, personal):
    # So that a user recorded before names were reserved can still be disabled and removed.
    assert problems_of(defaults, mutated(personal, [(("users",), [{"name": "daemon", "state": "disabled"}])])) == []


def test_recorded_users_are_named_by_their_list(defaults, personal):
    recorded = [{"name": "bob", "groups": ["users"]}, {"name": "daemon", "groups": ["users"], "uid": 10001}]
    problems = validate(merge(defaults, personal), {}, recorded_users=recorded)
    assert len(problems) == 1 and problems[0].startswith("workbench_users[1].name: 'daemon' is reserved"), problems
    assert "remove_user.yml -e user=daemon" in problems[0]


def test_users_recorded_under_reserved_names_can_be_disabled_one_by_one(defaults, personal):
    recorded = [{"name": "daemon", "state": "disabled"}, {"name": "root", "state": "present"}]
    assert validate(merge(defaults, personal), {}, recorded_users=recorded, command_line={"user": "daemon"}) == []


def test_problems_of_the_command_line_user_name_what_was_typed(defaults, personal):
    typed = {"user": "root", "user_groups": "users,wizards", "ssh_key": "ssh-ed25519 AAAA", "email": "root"}
    entry = {"name": "root", "state": "present", "groups": ["users", "wizards"], "ssh_keys": ["ssh-ed25519 AAAA"], "email": "root"}
    problems = validate(merge(defaults, personal), {}, recorded_users=[{"name": "bob"}, entry], command_line=typed)
    keys = sorted(problem.split(": ", 1)[0] for problem in problems)
    assert keys == ["-e email", "-e ssh_key", "-e user=root", "-e user_groups=users,wizards"], problems
    assert not any("workbench.users" in problem or "workbench_users" in problem for problem in problems), problems


def test_the_command_line_user_already_in_the_definition_file(defaults, personal):
    definition = mutated(personal, [(("users",), [{"name": "alice"}])])
    problems = validate(merge(defaults, definition), {}, recorded_users=[{"name": "alice", "state": "present"}], command_line={"user": "alice"})
    assert problems == ["-e user=alice: alice is defined in the cluster definition file (workbench.users[0]); "
                        "change them there and run site.yml --tags ldap"]


# --- merge ---------------------------------------------------------------------------------------

def test_merge_keeps_defaults_merges_mappings_and_replaces_lists(defaults, personal):
    original = copy.deepcopy(defaults)
    merged = merge(defaults, {"network": {"bastion_port": 2200}, "zones": ["eu-west-1a", "eu-west-1b"], "groups": []})
    assert merged["network"] == dict(defaults["network"], bastion_port=2200)
    assert merged["zones"] == ["eu-west-1a", "eu-west-1b"]
    assert merged["groups"] == []
    assert merged["storage"] == defaults["storage"]
    assert defaults == original
    assert merge(defaults, personal)["node_pools"] == personal["node_pools"]


def test_merge_takes_a_definition_of_another_type_as_is():
    assert merge({"budget": {"monthly_usd": 50}}, {"budget": 50}) == {"budget": 50}
    assert merge({"a": 1}, None) is None


# --- normalize -----------------------------------------------------------------------------------

def test_normalize_derives_subnets_address_arch_and_tags(defaults, personal):
    cluster = merge(defaults, personal)
    before = copy.deepcopy(cluster)
    result = normalize(cluster)
    assert cluster == before
    assert result["subnets"] == [{"zone": "us-east-1a", "cidr": "10.42.0.0/20"}, {"zone": "us-east-1b", "cidr": "10.42.16.0/20"}]
    assert result["control_plane"]["private_ip"] == "10.42.0.10"
    assert result["control_plane"]["arch"] == "arm64"
    assert result["admin_nodes"]["arch"] == "arm64"
    assert [(pool["name"], pool["arch"], pool["gpu"]) for pool in result["node_pools"]] == [("spark", "amd64", False), ("gpu", "amd64", True)]
    assert result["tags"] == {"kdsw:cluster": "kdsw"}
    assert result["rehearsal"] is False


def test_normalize_carves_consecutive_subnets_in_zone_order(defaults, personal):
    changes = [(("network",), {"vpc_cidr": "192.168.8.0/24", "subnet_prefix": 26}),
               (("zones",), ["us-east-1c", "us-east-1a", "us-east-1b"])]
    cluster = merge(defaults, mutated(personal, changes))
    assert validate(cluster, {}) == []
    result = normalize(cluster)
    assert result["subnets"] == [
        {"zone": "us-east-1c", "cidr": "192.168.8.0/26"},
        {"zone": "us-east-1a", "cidr": "192.168.8.64/26"},
        {"zone": "us-east-1b", "cidr": "192.168.8.128/26"},
    ]
    assert result["control_plane"]["private_ip"] == "192.168.8.10"


def test_normalize_derives_arch_and_gpu_of_a_pool_that_omits_gpu(defaults, personal):
    pools = [
        {"name": "arm", "instance_types": ["m7g.xlarge", "m6g.xlarge"], "lifecycle": "on-demand", "min": 1, "max": 2, "desired": 1,
         "root_volume_gb": 30},
        {"name": "gpu", "instance_types": ["g6e.xlarge"], "lifecycle": "spot", "min": 0, "max": 1, "desired": 0, "root_volume_gb": 100},
    ]
    changes = [(("node_pools",), pools), (("scenarios",), []), (("control_plane", "instance_type"), "m7i.large"),
               (("admin_nodes", "instance_type"), "t3.medium")]
    cluster = merge(defaults, mutated(personal, changes))
    assert validate(cluster, {}) == []
    result = normalize(cluster)
    assert [(pool["arch"], pool["gpu"]) for pool in result["node_pools"]] == [("arm64", False), ("amd64", True)]
    assert (result["control_plane"]["arch"], result["admin_nodes"]["arch"]) == ("amd64", "amd64")


def test_normalize_derives_what_the_bastion_needs_of_each_present_user(defaults, personal):
    users = [{"name": "alice", "groups": ["users", "admins"], "ssh_keys": [], "uid": 10000},
             {"name": "bob", "state": "disabled", "groups": ["admins"]}]
    recorded = [{"name": "carol", "state": "present", "groups": ["users"], "ssh_keys": [], "uid": 10002}, {"name": "dave"}]
    cluster = merge(defaults, mutated(personal, [(("users",), users)]))
    assert validate(cluster, {}, recorded_users=recorded) == []
    result = normalize(cluster, recorded_users=recorded)
    assert [user["name"] for user in result["users"]] == ["alice", "bob", "carol", "dave"]
    assert result["admin_group"] == "admins"
    # Only name and admin: what the bastion role accepts; admin from membership of the admin group.
    assert result["present_users"] == [{"name": "alice", "admin": True}, {"name": "carol", "admin": False}, {"name": "dave", "admin": False}]


def test_normalize_of_the_rehearsal(defaults, local):
    result = normalize(merge(defaults, local))
    assert result["rehearsal"] is True
    assert result["tags"] == {"kdsw:cluster": "rehearsal"}


def test_normalize_places_the_services(defaults, local):
    result = normalize(merge(defaults, local))
    # spark: up to 4 nodes of 8 vCPUs, two 4-core executors each.
    assert result["services"] == {"large_pool": "spark", "spark_pool": "spark", "gpu_pool": "gpu",
                                  "spark_executor_cores": 4, "spark_max_executors": 8}
    assert result["network"]["cluster_dns"] == "10.96.0.10"


def test_normalize_without_pools_has_no_service_pools(defaults, personal):
    result = normalize(merge(defaults, {**personal, "node_pools": []}))
    assert result["services"]["large_pool"] == ""
    assert result["services"]["gpu_pool"] == "" and result["services"]["spark_max_executors"] == 0


# --- the instance type catalog -------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("t4g.nano", {"vcpus": 2, "memory_gib": 0.5, "gpus": 0, "arch": "arm64"}),
    ("t3a.2xlarge", {"vcpus": 8, "memory_gib": 32, "gpus": 0, "arch": "amd64"}),
    ("m7i.2xlarge", {"vcpus": 8, "memory_gib": 32, "gpus": 0, "arch": "amd64"}),
    ("c5.9xlarge", {"vcpus": 36, "memory_gib": 72, "gpus": 0, "arch": "amd64"}),
    ("c7g.4xlarge", {"vcpus": 16, "memory_gib": 32, "gpus": 0, "arch": "arm64"}),
    ("r7g.8xlarge", {"vcpus": 32, "memory_gib": 256, "gpus": 0, "arch": "arm64"}),
    ("g4dn.12xlarge", {"vcpus": 48, "memory_gib": 192, "gpus": 4, "arch": "amd64"}),
    ("g6e.xlarge", {"vcpus": 4, "memory_gib": 32, "gpus": 1, "arch": "amd64"}),
    ("p3.2xlarge", {"vcpus": 8, "memory_gib": 61, "gpus": 1, "arch": "amd64"}),
    ("p3.8xlarge", {"vcpus": 32, "memory_gib": 244, "gpus": 4, "arch": "amd64"}),
])
def test_catalog_figures(name, expected):
    assert instance_types.lookup(name) == expected


def test_catalog_covers_the_required_families():
    sizes = {
        ("t3", "t3a", "t4g"): ("nano", "micro", "small", "medium", "large", "xlarge", "2xlarge"),
        ("m5", "m5a", "m6i", "m6a", "m7i", "m7a", "m6g", "m7g", "c6i", "c6a", "c7i", "c7g", "r5", "r6i", "r7i", "r6g", "r7g"):
            ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge"),
        ("c5",): ("large", "xlarge", "2xlarge", "4xlarge"),
        ("g4dn", "g5", "g6", "g6e"): ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge"),
    }
    missing = [f"{family}.{size}" for families, ladder in sizes.items() for family in families for size in ladder
               if instance_types.lookup(f"{family}.{size}") is None]
    assert not missing


@pytest.mark.parametrize("name", ["m9.huge", "", None, 42, "M5.LARGE"])
def test_catalog_lookup_of_unknown_types(name):
    assert instance_types.lookup(name) is None


def test_catalog_lookup_returns_a_copy():
    instance_types.lookup("t3.micro")["vcpus"] = 99
    assert instance_types.lookup("t3.micro")["vcpus"] == 2
