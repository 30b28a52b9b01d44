"""The cluster_definition module run as Ansible runs it: a real process fed ANSIBLE_MODULE_ARGS."""


def test_valid_definition_returns_the_normalized_cluster(run_module, defaults, personal):
    result = run_module("cluster_definition", {"definition": personal, "defaults": defaults}, check_mode=True)
    assert not result.get("failed"), result
    assert result["changed"] is False
    cluster = result["cluster"]
    assert cluster["subnets"] == [{"zone": "us-east-1a", "cidr": "10.42.0.0/20"}, {"zone": "us-east-1b", "cidr": "10.42.16.0/20"}]
    assert cluster["control_plane"]["private_ip"] == "10.42.0.10"
    assert cluster["tags"] == {"kdsw:cluster": "kdsw"}
    assert cluster["image_ssm_parameter"] == defaults["image_ssm_parameter"]


def test_invalid_definition_fails_with_every_problem(run_module, defaults, personal):
    definition = dict(personal, admin_cidrs=["10.0.0.0/33"], budget={"monthly_usd": "50"})
    result = run_module("cluster_definition", {"definition": definition, "defaults": defaults})
    assert result["failed"] is True
    assert len(result["problems"]) == 2
    assert result["problems"][0].startswith("workbench.admin_cidrs[0]: '10.0.0.0/33' is not a CIDR")
    assert result["problems"][1].startswith("workbench.budget.monthly_usd: ")
    assert result["msg"] == "The cluster definition has 2 problem(s):\n" + "\n".join("- " + problem for problem in result["problems"])


def test_rehearsal_needs_loopback_endpoints(run_module, defaults, local):
    loopback = {"AWS_URL": "http://127.0.0.1:5000", "AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}
    passed = run_module("cluster_definition", {"definition": local, "defaults": defaults, "environment": loopback})
    refused = run_module("cluster_definition", {"definition": local, "defaults": defaults, "environment": {}})
    assert not passed.get("failed"), passed
    assert passed["cluster"]["rehearsal"] is True
    assert refused["failed"] is True
    assert all(problem.startswith("workbench.rehearsal: ") for problem in refused["problems"])


def test_recorded_users_follow_the_definition_and_the_bastion_gets_name_and_admin(run_module, defaults, personal):
    recorded = [{"name": "carol", "state": "present", "groups": ["users", "admins"], "ssh_keys": [], "uid": 10000},
                {"name": "dave", "state": "disabled", "groups": ["users"], "uid": 10001}]
    result = run_module("cluster_definition", {"definition": personal, "defaults": defaults, "recorded_users": recorded})
    assert not result.get("failed"), result
    assert [user["name"] for user in result["cluster"]["users"]] == ["carol", "dave"]
    assert result["cluster"]["present_users"] == [{"name": "carol", "admin": True}]


def test_the_command_line_user_is_named_as_typed(run_module, defaults, personal):
    args = {"definition": personal, "defaults": defaults, "recorded_users": [{"name": "root", "state": "present", "groups": ["users"]}],
            "command_line": {"user": "root"}}
    result = run_module("cluster_definition", args)
    assert result["failed"] is True
    (problem,) = result["problems"]
    assert problem.startswith("-e user=root: 'root' is reserved: ") and "choose another name for -e user" in problem
    assert "workbench" not in problem.split(":", 1)[0]


def test_recorded_users_that_are_not_a_list_are_a_problem_not_a_crash(run_module, defaults, personal):
    result = run_module("cluster_definition", {"definition": personal, "defaults": defaults, "recorded_users": "bob"})
    assert result["failed"] is True
    assert result["problems"] == ["workbench_users: 'bob' is a string, not a list; write a list, e.g. [] or [{name: alice, groups: [users]}]"]
