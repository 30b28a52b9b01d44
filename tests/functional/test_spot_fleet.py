"""kdsw.workbench.spot_fleet (and spot_fleet_info) against moto in server mode, run as real module processes.

How the "no mutating call" claims are proven. EC2 is a query API: every call, read or write, is a
POST to / and moto's access log cannot tell them apart. So each module run here goes through a tiny
runner that wraps botocore's BaseClient._make_api_call, the one method every boto3 call (paginators
and waiters included) goes through, and appends the operation name to a file. The test then has the
exact operations of the run (["DescribeInstances"] for a no-op), and checks them against moto's
access log, which must show exactly that many requests: nothing reached the endpoint unrecorded.
The module itself carries no test hook.

moto 5.2.5 places every instance of a fleet on its first override unless the allocation strategy is
diversified (then round-robin over the overrides), never returns fleet Errors, and does not apply a
launch template's settings to fleet instances; the tests assert only what moto models. For the
errors, the same runner can answer CreateFleet with EC2's Errors (launching the part that succeeds
on moto for real), which drives the module's real failure and partial-fulfilment paths.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

import boto3
import pytest

from ansible_collections.kdsw.workbench.plugins.module_utils.prices import instance_price
from conftest import REPO

TEMPLATE = "fleettest-spark"
MODULE = "ansible_collections.kdsw.workbench.plugins.modules.{}"
TYPES = ["m7i.2xlarge", "m6i.2xlarge"]
READS = {"DescribeInstances", "DescribeFleets"}

RUNNER = r'''
import copy
import json
import os
import runpy
import sys

import botocore.client

LOG = sys.argv.pop(1)
MODULE = sys.argv.pop(1)
# A fault to inject: {"launch": n, "errors": [...]} makes CreateFleet launch only n units (for real, on
# moto) and answer with these Errors, as EC2 does when it cannot fulfil the rest. moto never reports
# fleet errors; with launch 0 the endpoint is not called at all.
FAULT = json.loads(os.environ.get("KDSW_FLEET_FAULT") or "null")
_call = botocore.client.BaseClient._make_api_call


def _recorded(self, operation_name, api_params):
    faked = FAULT is not None and operation_name == "CreateFleet"
    with open(LOG, "a", encoding="utf-8") as log:
        log.write(operation_name + ("(faked)" if faked and not FAULT["launch"] else "") + "\n")
    if not faked:
        return _call(self, operation_name, api_params)
    if not FAULT["launch"]:
        return {"FleetId": "fleet-faked", "Instances": [], "Errors": FAULT["errors"]}
    params = copy.deepcopy(api_params)
    target = params["TargetCapacitySpecification"]
    target.update(TotalTargetCapacity=FAULT["launch"], OnDemandTargetCapacity=0, SpotTargetCapacity=FAULT["launch"])
    return dict(_call(self, operation_name, params), Errors=FAULT["errors"])


botocore.client.BaseClient._make_api_call = _recorded
runpy.run_module(MODULE, run_name="__main__", alter_sys=True)
'''


class Run(dict):
    """A module result, with the AWS operations the run made (operations) and the requests moto saw (requests)."""


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    path = tmp_path_factory.mktemp("runner") / "recording_runner.py"
    path.write_text(RUNNER)
    return path


@pytest.fixture(scope="module")
def endpoint(moto_server):
    """moto with the environment pointing at it, not reset: for the runs that must make no request at all."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in moto_server.state()["env"].items():
            patch.setenv(key, value)
        yield moto_server


@pytest.fixture
def run(endpoint, runner, tmp_path):
    def _run(args, check_mode=False, diff=True, module="spot_fleet", fault=None):
        payload = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, dir=tmp_path) as handle:
            json.dump({"ANSIBLE_MODULE_ARGS": payload}, handle)
        log = tmp_path / "operations.log"
        log.write_text("")
        mark = endpoint.log_offset()
        proc = subprocess.run([sys.executable, str(runner), str(log), MODULE.format(module), handle.name],
                              capture_output=True, text=True, check=False, timeout=300,
                              env=dict(os.environ, PYTHONPATH=str(REPO / ".collections"), KDSW_FLEET_FAULT=json.dumps(fault)))
        try:
            result = Run(json.loads(proc.stdout))
        except ValueError:
            raise AssertionError(f"{module} printed no JSON:\n{proc.stdout}\n{proc.stderr}") from None
        result.operations = log.read_text().split()
        result.requests = endpoint.requests(since=mark)
        sent = [operation for operation in result.operations if not operation.endswith("(faked)")]
        assert len(result.requests) == len(sent), (result.operations, result.requests)
        assert {method for method, _path in result.requests} <= {"POST"}
        return result
    return _run


FAKE_SUBNETS = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]


@pytest.fixture
def bad_args():
    """Arguments that never reach AWS (each bad-input case breaks them), on an endpoint that is not reset."""
    return {"name": "spark", "target_capacity": 2, "instance_types": TYPES, "subnet_ids": FAKE_SUBNETS,
            "launch_template_name": TEMPLATE, "tags": {"kdsw:cluster": "fleettest"}}


@pytest.fixture(scope="module")
def ec2(endpoint):
    """One reset for the module: every test tags its pools with a kdsw:cluster of its own, so none sees another's."""
    endpoint.reset()
    return boto3.client("ec2", region_name="us-east-1")


@pytest.fixture(scope="module")
def network(ec2):
    """The default subnets of us-east-1a and us-east-1b (creating subnets in moto takes seconds) and a launch template."""
    subnets = {subnet["AvailabilityZone"]: subnet["SubnetId"]
               for subnet in ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]}
    image = boto3.client("ssm", region_name="us-east-1").get_parameter(
        Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")["Parameter"]["Value"]
    ec2.create_launch_template(LaunchTemplateName=TEMPLATE, LaunchTemplateData={"ImageId": image})
    return {"subnets": [subnets["us-east-1a"], subnets["us-east-1b"]]}


@pytest.fixture
def cluster(request):
    """A kdsw:cluster tag of this test's own."""
    return re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[-60:]


@pytest.fixture
def args(network, cluster):
    return {
        "name": "spark",
        "target_capacity": 2,
        "instance_types": TYPES,
        "subnet_ids": network["subnets"],
        "launch_template_name": TEMPLATE,
        "tags": {"kdsw:cluster": cluster, "Name": f"{cluster}-spark"},
    }


def pool_instances(ec2, cluster, name="spark"):
    """{instance ID: (type, zone, lifecycle)} of the pool's live instances, as moto reports them."""
    pages = ec2.get_paginator("describe_instances").paginate(Filters=[
        {"Name": "tag:kdsw:pool", "Values": [name]}, {"Name": "tag:kdsw:cluster", "Values": [cluster]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]}])
    return {i["InstanceId"]: (i["InstanceType"], i["Placement"]["AvailabilityZone"], i.get("InstanceLifecycle", "on-demand"))
            for page in pages for r in page["Reservations"] for i in r["Instances"]}


def returned(result):
    return {i["id"]: (i["type"], i["zone"], "spot" if i["lifecycle"] == "spot" else "on-demand") for i in result["instances"]}


def live_fleets(ec2, cluster):
    return [f["FleetId"] for f in ec2.describe_fleets()["Fleets"]
            if f["FleetState"] == "active" and {"Key": "kdsw:cluster", "Value": cluster} in f.get("Tags", [])]


def ok(result, changed):
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is changed, result.get("diff")
    return result


# --- bad input: refused before any AWS request -----------------------------------------------------

BAD = [
    ("unknown-type", {"instance_types": ["m7i.2xlarge", "m7i.2xlarg"]}, "'m7i.2xlarg' is not a known instance type (did you mean m7i.2xlarge"),
    ("no-subnets", {"subnet_ids": []}, "subnet_ids: is empty"),
    ("not-a-subnet", {"subnet_ids": ["sg-0123456789abcdef0"]}, "is not a subnet ID"),
    ("negative-capacity", {"target_capacity": -1}, "target_capacity: -1 is negative"),
    ("base-above-target", {"on_demand_base_capacity": 3}, "on_demand_base_capacity: 3 is more than target_capacity (2)"),
    ("min-above-max", {"min_capacity": 3, "max_capacity": 1}, "min_capacity: 3 is more than max_capacity (1)"),
    ("above-max", {"max_capacity": 1}, "target_capacity: 2 is above max_capacity (1)"),
    ("no-types", {"instance_types": []}, "instance_types: is empty"),
    ("mixed-arch", {"instance_types": ["m7i.2xlarge", "m7g.2xlarge"]}, "mixes CPU architectures"),
    ("weights-with-vcpu", {"capacity_unit": "vcpu", "weights": {"m7i.2xlarge": 2}}, "weights: are only for capacity_unit=units"),
    ("weight-of-unlisted-type", {"weights": {"c7i.large": 2}}, "'c7i.large' is not in instance_types"),
    ("zero-weight", {"weights": {"m7i.2xlarge": 0}}, "is not a positive number"),
    ("bad-max-price", {"max_price": -0.5}, "max_price: -0.5 is not a positive price"),
    ("no-launch-template", {"launch_template_name": None}, "launch_template_id or launch_template_name: one is required"),
    ("no-capacity", {"target_capacity": None}, "target_capacity: is required"),
]


@pytest.mark.parametrize("change, expected", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_input_fails_before_any_request(run, bad_args, change, expected):
    result = run({key: value for key, value in dict(bad_args, **change).items() if value is not None})
    assert result.get("failed") is True
    assert expected in result["msg"], result["msg"]
    assert result.operations == [] and result.requests == []


def test_every_problem_is_reported_at_once(run, bad_args):
    result = run(dict(bad_args, target_capacity=-2, subnet_ids=[], instance_types=["x1.nope"]))
    assert len(result["problems"]) == 3, result["problems"]
    assert result.requests == []


# --- create, no-op, check mode -------------------------------------------------------------------------


def test_check_mode_create_makes_only_the_read(run, ec2, args, network, cluster):
    result = ok(run(dict(args, target_capacity=3), check_mode=True), changed=True)
    assert result.operations == ["DescribeInstances"]
    assert pool_instances(ec2, cluster) == {} and live_fleets(ec2, cluster) == []
    assert result["instances"] == [] and result["fleet_id"] == ""
    request = result["fleet_request"]
    assert request["TargetCapacitySpecification"]["TotalTargetCapacity"] == 3 and "ClientToken" not in request
    assert result["diff"]["before"]["capacity"] == 0
    assert result["diff"]["after"]["launch"] == {"capacity": 3, "on_demand_capacity": 0, "spot_capacity": 3, "instance_types": TYPES,
                                                 "subnet_ids": network["subnets"]}


def test_diversified_pool_asks_for_every_type_in_every_subnet(run, ec2, args, network, cluster):
    result = ok(run(dict(args, target_capacity=3, spot_allocation_strategy="diversified")), changed=True)
    assert result.operations == ["DescribeInstances", "CreateFleet", "DescribeInstances"]
    request = result["fleet_request"]
    assert request["Type"] == "instant"
    assert request["SpotOptions"]["AllocationStrategy"] == "diversified"
    (config,) = request["LaunchTemplateConfigs"]
    assert config["LaunchTemplateSpecification"] == {"LaunchTemplateName": TEMPLATE, "Version": "$Latest"}
    assert sorted((o["InstanceType"], o["SubnetId"]) for o in config["Overrides"]) == sorted(
        (t, s) for t in TYPES for s in network["subnets"])
    # What moto launched, read back, is what the module returns: spread over the overrides, tagged at launch.
    found = pool_instances(ec2, cluster)
    assert returned(result) == found and len(found) == 3
    assert len({(t, z) for t, z, _lifecycle in found.values()}) == 3
    assert {lifecycle for _type, _zone, lifecycle in found.values()} == {"spot"}
    tags = {t["Key"]: t["Value"] for t in ec2.describe_instances(InstanceIds=list(found))["Reservations"][0]["Instances"][0]["Tags"]}
    assert tags == {"kdsw:pool": "spark", "kdsw:cluster": cluster, "Name": f"{cluster}-spark"}
    assert result["fulfilled_capacity"] == 3 and result["spot_capacity"] == 3 and result["fleet_id"] in live_fleets(ec2, cluster)


def test_second_identical_call_changes_nothing_and_only_reads(run, ec2, args, cluster):
    first = ok(run(args), changed=True)
    before = pool_instances(ec2, cluster)
    again = ok(run(args), changed=False)
    # One paginated DescribeInstances (one page up to 1000 reservations), nothing else: no CreateFleet,
    # no TerminateInstances, no CreateTags, and moto saw exactly that one request.
    assert again.operations == ["DescribeInstances"] and len(again.requests) == 1
    assert pool_instances(ec2, cluster) == before == returned(first) == returned(again)
    assert again["fleet_request"] == {} and again["terminated"] == []
    assert again["diff"]["before"] == again["diff"]["after"]


def test_scale_up_launches_only_what_is_missing(run, ec2, args, cluster):
    first = ok(run(args), changed=True)
    result = ok(run(dict(args, target_capacity=3)), changed=True)
    assert result["fleet_request"]["TargetCapacitySpecification"]["TotalTargetCapacity"] == 1
    assert set(returned(first)) < set(pool_instances(ec2, cluster)) and len(pool_instances(ec2, cluster)) == 3
    assert result["diff"]["before"]["capacity"] == 2 and result["diff"]["after"]["capacity"] == 3


# --- scale down, zero, absent ----------------------------------------------------------------------------


def test_check_mode_scale_down_changes_nothing(run, ec2, args, cluster):
    ok(run(dict(args, target_capacity=3)), changed=True)
    before = pool_instances(ec2, cluster)
    result = ok(run(dict(args, target_capacity=1), check_mode=True), changed=True)
    assert set(result.operations) <= READS
    assert pool_instances(ec2, cluster) == before and len(result["terminated"]) == 2
    assert result["diff"]["after"]["capacity"] == 1


def test_scale_down_keeps_the_on_demand_base_and_the_zones(run, ec2, args, cluster):
    created = ok(run(dict(args, target_capacity=3, on_demand_base_capacity=1, spot_allocation_strategy="diversified")), changed=True)
    assert sorted(lifecycle for _type, _zone, lifecycle in returned(created).values()) == ["on-demand", "spot", "spot"]
    result = ok(run(dict(args, target_capacity=1, on_demand_base_capacity=1)), changed=True)
    assert [lifecycle for _type, _zone, lifecycle in pool_instances(ec2, cluster).values()] == ["on-demand"]
    assert result["on_demand_capacity"] == 1 and len(result["terminated"]) == 2
    assert "TerminateInstances" in result.operations or "DeleteFleets" in result.operations


def test_scale_down_takes_from_the_most_populated_zone(run, ec2, args, cluster):
    ok(run(dict(args, target_capacity=3, spot_allocation_strategy="diversified")), changed=True)
    assert sorted(z for _type, z, _lifecycle in pool_instances(ec2, cluster).values()) == ["us-east-1a", "us-east-1a", "us-east-1b"]
    ok(run(dict(args, target_capacity=2)), changed=True)
    assert sorted(z for _type, z, _lifecycle in pool_instances(ec2, cluster).values()) == ["us-east-1a", "us-east-1b"]


def test_scale_to_zero_leaves_no_instance_and_no_fleet(run, ec2, args, cluster):
    ok(run(args), changed=True)
    result = ok(run(dict(args, target_capacity=0)), changed=True)
    assert pool_instances(ec2, cluster) == {} and live_fleets(ec2, cluster) == []
    assert result["instances"] == [] and len(result["deleted_fleets"]) == 1
    again = ok(run(dict(args, target_capacity=0)), changed=False)
    assert again.operations == ["DescribeInstances"]


def test_absent_removes_everything_then_only_reads(run, ec2, args, cluster):
    ok(run(args), changed=True)
    ok(run(dict(args, target_capacity=3)), changed=True)
    result = ok(run({"name": "spark", "state": "absent", "tags": {"kdsw:cluster": cluster}}), changed=True)
    assert pool_instances(ec2, cluster) == {} and live_fleets(ec2, cluster) == [] and len(result["deleted_fleets"]) == 2
    again = ok(run({"name": "spark", "state": "absent", "tags": {"kdsw:cluster": cluster}}), changed=False)
    assert again.operations == ["DescribeInstances", "DescribeFleets"]


def test_pools_of_two_workbenches_are_apart(run, ec2, args, cluster):
    ok(run(args), changed=True)
    other = dict(args, tags={"kdsw:cluster": f"{cluster}-other"}, target_capacity=1)
    ok(run(other), changed=True)
    assert len(pool_instances(ec2, cluster)) == 2 and len(pool_instances(ec2, f"{cluster}-other")) == 1
    ok(run({"name": "spark", "state": "absent", "tags": {"kdsw:cluster": f"{cluster}-other"}}), changed=True)
    assert len(pool_instances(ec2, cluster)) == 2


# --- capacity units ---------------------------------------------------------------------------------------


def test_vcpu_capacity_counts_vcpus(run, ec2, args, cluster):
    result = ok(run(dict(args, target_capacity=16, capacity_unit="vcpu")), changed=True)
    assert {o["WeightedCapacity"] for o in result["fleet_request"]["LaunchTemplateConfigs"][0]["Overrides"]} == {8.0}
    assert len(pool_instances(ec2, cluster)) == 2 and result["fulfilled_capacity"] == 16
    ok(run(dict(args, target_capacity=16, capacity_unit="vcpu")), changed=False)


def test_weighted_overshoot_is_stable(run, ec2, args, cluster):
    weighted = dict(args, target_capacity=3, weights={"m7i.2xlarge": 2, "m6i.2xlarge": 2})
    result = ok(run(weighted), changed=True)
    assert result["fulfilled_capacity"] == 4 and len(pool_instances(ec2, cluster)) == 2
    again = ok(run(weighted), changed=False)
    assert again.operations == ["DescribeInstances"]


def test_prioritized_strategy_and_max_price_shape_the_request(run, ec2, args):
    result = ok(run(dict(args, spot_allocation_strategy="capacity-optimized-prioritized", max_price=0.2, capacity_type="on-demand"),
                    check_mode=True), changed=True)
    request = result["fleet_request"]
    assert request["OnDemandOptions"] == {"AllocationStrategy": "prioritized"}
    assert request["TargetCapacitySpecification"]["OnDemandTargetCapacity"] == 2
    overrides = request["LaunchTemplateConfigs"][0]["Overrides"]
    assert [(o["InstanceType"], o["Priority"]) for o in overrides][::2] == [("m7i.2xlarge", 0.0), ("m6i.2xlarge", 1.0)]
    assert {o["MaxPrice"] for o in overrides} == {"0.2"}


# --- errors from EC2 ----------------------------------------------------------------------------------------


def test_missing_launch_template_says_what_to_do(run, ec2, args):
    result = run(dict(args, launch_template_name="no-such-template"))
    assert result.get("failed") is True
    assert "Failed to launch instances for pool spark" in result["msg"], result["msg"]
    assert result.operations == ["DescribeInstances", "CreateFleet"]


def fleet_error(code, instance_type, subnet, zone):
    return {"ErrorCode": code, "ErrorMessage": f"{code} (test)", "Lifecycle": "spot",
            "LaunchTemplateAndOverrides": {"LaunchTemplateSpecification": {"LaunchTemplateName": TEMPLATE, "Version": "1"},
                                           "Overrides": {"InstanceType": instance_type, "SubnetId": subnet, "AvailabilityZone": zone}}}


def test_a_fleet_that_launches_nothing_fails_with_what_to_change(run, ec2, args, network, cluster):
    errors = [fleet_error("InsufficientInstanceCapacity", t, s, z)
              for t in TYPES for s, z in zip(network["subnets"], ("us-east-1a", "us-east-1b"))]
    result = run(args, fault={"launch": 0, "errors": errors})
    assert result.get("failed") is True
    assert result["msg"].startswith("Pool spark: EC2 launched 0 of the 2 units asked for.")
    assert "no spare capacity for m6i.2xlarge in us-east-1a" in result["msg"] and "add instance types" in result["msg"]
    assert len(result["errors"]) == 4 and result["fleet_request"]["Type"] == "instant"
    assert pool_instances(ec2, cluster) == {}


def test_a_partly_fulfilled_fleet_warns_with_the_quota_to_raise(run, ec2, args, network, cluster):
    errors = [fleet_error("MaxSpotInstanceCountExceeded", "m7i.2xlarge", network["subnets"][0], "us-east-1a")]
    result = ok(run(args, fault={"launch": 1, "errors": errors}), changed=True)
    (warning,) = result["warnings"]
    # ansible-core 2.19+ returns a warning as a WarningSummary whose event carries the message.
    warning = warning["event"]["msg"] if isinstance(warning, dict) else warning
    assert warning.startswith("Pool spark: EC2 launched 1 of the 2 units asked for.")
    assert "L-34B43A08" in warning and "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests" in warning
    assert len(pool_instances(ec2, cluster)) == 1 and result["fulfilled_capacity"] == 1
    # The next run asks again for what is still missing.
    again = ok(run(args), changed=True)
    assert again["fleet_request"]["TargetCapacitySpecification"]["TotalTargetCapacity"] == 1
    assert len(pool_instances(ec2, cluster)) == 2


# --- spot_fleet_info -------------------------------------------------------------------------------------------


def test_info_lists_pools_with_counts_and_price(run, ec2, args, cluster):
    ok(run(dict(args, on_demand_base_capacity=1)), changed=True)
    info = run({"tags": {"kdsw:cluster": cluster}, "names": ["gpu"]}, module="spot_fleet_info")
    assert info["changed"] is False and info.operations == ["DescribeInstances"]
    by_name = {pool["name"]: pool for pool in info["pools"]}
    assert by_name["gpu"]["running"] == 0 and by_name["gpu"]["hourly_usd"] == 0
    spark = by_name["spark"]
    assert (spark["running"], spark["spot"], spark["on_demand"]) == (2, 1, 1)
    expected = sum(instance_price("us-east-1", i["type"], i["lifecycle"]) for i in spark["instances"])
    assert spark["hourly_usd"] == pytest.approx(float(expected), abs=1e-4)
    assert info["price_source"]
