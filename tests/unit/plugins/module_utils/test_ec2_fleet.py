"""The pure parts of the EC2 Fleet helpers: which instances go, what is asked for, what an error means."""

import datetime

import pytest

from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import (
    QUOTAS,
    Weights,
    build_fleet_request,
    build_overrides,
    choose_victims,
    explain_fleet_errors,
    fleet_errors,
    identity_tags,
    instance_view,
    launched,
    plan_termination,
    split_capacity,
)

UNITS = Weights("units")


def view(instance_id, zone="us-east-1a", lifecycle="spot", launched_at=0.0, instance_type="m7i.2xlarge", subnet="subnet-a"):
    return {"id": instance_id, "type": instance_type, "zone": zone, "subnet_id": subnet, "lifecycle": lifecycle,
            "state": "running", "launch_time": "", "private_ip": "", "vcpus": None, "launched": launched_at}


def ids(views):
    return [v["id"] for v in views]


# --- identity -------------------------------------------------------------------------------


def test_identity_is_the_pool_tag_and_the_cluster_tag_when_given():
    assert identity_tags("spark", None) == {"kdsw:pool": "spark"}
    assert identity_tags("spark", {"kdsw:cluster": "kdsw", "team": "x"}) == {"kdsw:pool": "spark", "kdsw:cluster": "kdsw"}


def test_instance_view_reads_lifecycle_zone_and_vcpus():
    instance = {"InstanceId": "i-1", "InstanceType": "m7i.2xlarge", "Placement": {"AvailabilityZone": "us-east-1b"},
                "SubnetId": "subnet-b", "InstanceLifecycle": "spot", "State": {"Name": "running"},
                "LaunchTime": datetime.datetime(2025, 1, 2, tzinfo=datetime.timezone.utc), "CpuOptions": {"CoreCount": 4, "ThreadsPerCore": 2}}
    result = instance_view(instance)
    assert (result["zone"], result["lifecycle"], result["vcpus"], result["launch_time"]) == ("us-east-1b", "spot", 8, "2025-01-02T00:00:00+00:00")
    assert instance_view(dict(instance, InstanceLifecycle=None))["lifecycle"] == "on-demand"


# --- scale down -----------------------------------------------------------------------------


def test_spot_goes_before_on_demand():
    views = [view("od", lifecycle="on-demand", launched_at=9), view("s1", launched_at=1), view("s2", launched_at=2)]
    assert ids(choose_victims(views, 1, UNITS, ["m7i.2xlarge"], ["subnet-a"])) == ["s2", "s1"]


def test_most_populated_zone_first_then_newest():
    views = [view("a-old", "us-east-1a", launched_at=1), view("a-new", "us-east-1a", launched_at=5), view("b", "us-east-1b", launched_at=9)]
    # a has two instances, b one: the newest of a goes, leaving one in each zone.
    assert ids(choose_victims(views, 2, UNITS, [], [])) == ["a-new"]
    # Then the zones are even: the newest overall goes next.
    assert ids(choose_victims(views, 1, UNITS, [], [])) == ["a-new", "b"]


def test_drifted_instances_go_first():
    views = [view("listed", launched_at=9), view("old-type", instance_type="m5.2xlarge", launched_at=1),
             view("old-subnet", subnet="subnet-gone", launched_at=2)]
    assert sorted(ids(choose_victims(views, 1, UNITS, ["m7i.2xlarge"], ["subnet-a"]))) == ["old-subnet", "old-type"]


def test_weights_never_take_the_pool_below_target():
    weights = Weights("units", {"m7i.4xlarge": 2})
    views = [view("big", instance_type="m7i.4xlarge"), view("small", launched_at=1)]
    # 3 units, target 2: removing the big one would leave 1 < 2; the small one goes.
    assert ids(choose_victims(views, 2, weights, [], [])) == ["small"]
    # Two big ones (4 units) and a target of 3: either would leave 2 < 3, so none goes.
    assert len(choose_victims([view("b1", instance_type="m7i.4xlarge"), view("b2", instance_type="m7i.4xlarge")], 3, weights, [], [])) == 0


def test_vcpu_weights_come_from_the_catalog():
    weights = Weights("vcpu")
    assert weights.of_type("m7i.2xlarge") == 8.0 and weights.of_type("g5.xlarge") == 4.0
    assert weights.of_type("x9.unknown", fallback_vcpus=6) == 6.0


def test_plan_deletes_fleets_that_lose_every_live_instance():
    fleets = [{"id": "f-all", "instance_ids": {"i1", "i2"}}, {"id": "f-part", "instance_ids": {"i3", "i4"}},
              {"id": "f-stale", "instance_ids": {"i9"}}]
    live = ["i1", "i2", "i3", "i4"]
    assert plan_termination(["i1", "i2", "i3"], fleets, live) == (["f-all"], ["i3"])
    assert plan_termination(live, fleets, live, delete_stale=True) == (["f-all", "f-part", "f-stale"], [])
    # An instance no fleet knows is terminated directly.
    assert plan_termination(["i7"], fleets, live + ["i7"]) == ([], ["i7"])


# --- scale up -------------------------------------------------------------------------------


def test_every_type_in_every_subnet():
    overrides = build_overrides(["m7i.2xlarge", "m6i.2xlarge"], ["subnet-a", "subnet-b", "subnet-c"], UNITS, max_price=0.25, prioritized=True)
    assert [(o["InstanceType"], o["SubnetId"]) for o in overrides] == [
        (t, s) for t in ("m7i.2xlarge", "m6i.2xlarge") for s in ("subnet-a", "subnet-b", "subnet-c")]
    assert {o["MaxPrice"] for o in overrides} == {"0.25"}
    assert [o["Priority"] for o in overrides] == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("missing, on_demand_missing, capacity_type, expected", [
    (3, 0, "spot", (3, 0, 3)),
    (3, 1, "spot", (3, 1, 2)),
    (1, 2, "spot", (1, 1, 0)),
    (2.5, 0, "spot", (3, 0, 3)),
    (2, 0, "on-demand", (2, 2, 0)),
])
def test_split_capacity(missing, on_demand_missing, capacity_type, expected):
    assert split_capacity(missing, on_demand_missing, capacity_type) == expected


def test_fleet_request_is_instant_and_tags_instances_and_fleet():
    request = build_fleet_request(2, 1, "spot", "capacity-optimized-prioritized", {"LaunchTemplateName": "t", "Version": "$Latest"},
                                  [], {"kdsw:pool": "spark"})
    assert request["Type"] == "instant"
    assert request["TargetCapacitySpecification"] == {"TotalTargetCapacity": 2, "OnDemandTargetCapacity": 1, "SpotTargetCapacity": 1,
                                                      "DefaultTargetCapacityType": "spot"}
    assert request["OnDemandOptions"] == {"AllocationStrategy": "prioritized"}
    assert [spec["ResourceType"] for spec in request["TagSpecifications"]] == ["instance", "fleet"]


# --- errors ---------------------------------------------------------------------------------


def error(code, instance_type="m7i.2xlarge", zone="us-east-1a", lifecycle="spot"):
    return {"ErrorCode": code, "ErrorMessage": f"{code} message", "Lifecycle": lifecycle,
            "LaunchTemplateAndOverrides": {"Overrides": {"InstanceType": instance_type, "SubnetId": "subnet-a", "AvailabilityZone": zone}}}


def test_fleet_errors_and_launched_instances_are_read_from_the_response():
    response = {"Errors": [error("InsufficientInstanceCapacity")],
                "Instances": [{"InstanceIds": ["i-1", "i-2"], "InstanceType": "m6i.2xlarge", "Lifecycle": "spot"}]}
    assert fleet_errors(response)[0]["code"] == "InsufficientInstanceCapacity"
    assert [item[0] for item in launched(response)] == ["i-1", "i-2"]


@pytest.mark.parametrize("code, expected", [
    ("InsufficientInstanceCapacity", "add instance types"),
    ("SpotMaxPriceTooLow", "raise max_price or remove it"),
    ("Unsupported", "drop m7i.2xlarge"),
    ("InvalidFleetConfiguration", "drop m7i.2xlarge"),
    ("InsufficientFreeAddressesInSubnet", "add subnets"),
    ("SomethingNew", "SomethingNew"),
])
def test_each_error_says_what_to_change(code, expected):
    lines = explain_fleet_errors(fleet_errors({"Errors": [error(code)]}), vcpus_needed=8, max_price=0.1)
    assert len(lines) == 1 and expected in lines[0], lines
    assert "m7i.2xlarge in us-east-1a" in lines[0]


@pytest.mark.parametrize("code, instance_type, lifecycle, quota", [
    ("MaxSpotInstanceCountExceeded", "m7i.2xlarge", "spot", QUOTAS["standard"]["spot"]),
    ("VcpuLimitExceeded", "m7i.2xlarge", "on-demand", QUOTAS["standard"]["on-demand"]),
    ("MaxSpotInstanceCountExceeded", "g5.xlarge", "spot", QUOTAS["g"]["spot"]),
    ("VcpuLimitExceeded", "p3.2xlarge", "on-demand", QUOTAS["p"]["on-demand"]),
])
def test_quota_errors_name_the_quota_to_raise(code, instance_type, lifecycle, quota):
    (line,) = explain_fleet_errors(fleet_errors({"Errors": [error(code, instance_type, lifecycle=lifecycle)]}), vcpus_needed=16)
    assert quota[0] in line and quota[1] in line and "Service Quotas" in line and "<current + 16>" in line
