"""The node pools in the rehearsal: what site.yml builds for them, scale.yml end to end, teardown.

One converge of site.yml (module scope) serves every test; they run in file order: the launch
templates, the refusals of scale.yml (no AWS request), a pool going 0 -> 2 -> 0 with the instances
read back from the endpoint at each step, the status listing, and the teardown of the pools.
"""

import base64

import boto3
import pytest
import yaml

from aws_state import workbench_resources
from conftest import REPO

DEFINITION = yaml.safe_load((REPO / "inventories/local/group_vars/all/workbench.yml").read_text())["workbench"]
CLUSTER = DEFINITION["name"]
POOLS = {pool["name"]: pool for pool in DEFINITION["node_pools"]}


@pytest.fixture(scope="module")
def endpoint(moto_server):
    moto_server.reset()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in moto_server.state()["env"].items():
            patch.setenv(key, value)
        yield moto_server


@pytest.fixture(scope="module")
def converged(endpoint, playbook):
    run = playbook("site.yml")
    assert run.rc == 0, run.output[-4000:]
    return run


@pytest.fixture(scope="module")
def ec2(endpoint):
    return boto3.client("ec2", region_name="us-east-1")


def pool_instances(ec2, pool):
    """{instance ID: (type, zone, lifecycle)} of the pool's live instances, read back from the endpoint."""
    pages = ec2.get_paginator("describe_instances").paginate(Filters=[
        {"Name": "tag:kdsw:cluster", "Values": [CLUSTER]}, {"Name": "tag:kdsw:pool", "Values": [pool]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]}])
    return {i["InstanceId"]: (i["InstanceType"], i["Placement"]["AvailabilityZone"], i.get("InstanceLifecycle", "on-demand"))
            for page in pages for r in page["Reservations"] for i in r["Instances"]}


def template(ec2, pool):
    described = ec2.describe_launch_templates(LaunchTemplateNames=[f"{CLUSTER}-{pool}"])["LaunchTemplates"][0]
    version = ec2.describe_launch_template_versions(LaunchTemplateId=described["LaunchTemplateId"])["LaunchTemplateVersions"]
    return described, version


def test_each_pool_has_its_launch_template(converged, ec2):
    cluster_group = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{CLUSTER}-cluster"]}])["SecurityGroups"][0]
    ssm = boto3.client("ssm", region_name="us-east-1")
    for name, pool in POOLS.items():
        described, versions = template(ec2, name)
        assert len(versions) == 1, f"{name}: one version, not one per run"
        # (DescribeTags: moto reports a template's Tags as they were when it was created, before the role tagged it.)
        tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [described["LaunchTemplateId"]]}])["Tags"]
        assert {t["Key"]: t["Value"] for t in tags} == {"kdsw:cluster": CLUSTER, "kdsw:component": "node-pool", "kdsw:pool": name}
        data = versions[0]["LaunchTemplateData"]
        assert data["MetadataOptions"]["HttpTokens"] == "required" and data["MetadataOptions"]["HttpPutResponseHopLimit"] == 2
        (disk,) = data["BlockDeviceMappings"]
        assert disk["Ebs"] == {"Encrypted": True, "DeleteOnTermination": True, "VolumeSize": pool["root_volume_gb"], "VolumeType": "gp3"}
        assert data["IamInstanceProfile"]["Arn"].endswith(f"/{CLUSTER}-agent")
        assert data["SecurityGroupIds"] == [cluster_group["GroupId"]]
        assert data["InstanceInitiatedShutdownBehavior"] == "terminate"
        parameter = DEFINITION["gpu_image_ssm_parameter"] if pool["gpu"] else "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
        assert data["ImageId"] == ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
        user_data = base64.b64decode(data["UserData"]).decode()
        assert f"  - kdsw.io/pool={name}\n" in user_data and "  - kdsw.io/lifecycle=spot\n" in user_data
        assert ("  - nvidia.com/gpu=present:NoSchedule\n" in user_data) is pool["gpu"]
        assert ("  - kdsw.io/gpu=true\n" in user_data) is pool["gpu"]
        assert "K3S_TOKEN" not in user_data
        assert {spec["ResourceType"] for spec in data["TagSpecifications"]} == {"volume", "network-interface"}
    # Every pool's desired size is 0 in the rehearsal: nothing runs yet.
    assert all(pool_instances(ec2, name) == {} for name in POOLS)


BAD = [
    ("unknown-pool", ["-e", "pool=spork", "-e", "capacity=1"], "pool spork is not in the definition; the pools are: spark, gpu"),
    ("negative", ["-e", "pool=spark", "-e", "capacity=-1"], "capacity -1 is negative"),
    ("above-max", ["-e", "pool=spark", "-e", "capacity=5"], "capacity 5 is more than the max of pool spark (4)"),
    ("not-a-number", ["-e", "pool=spark", "-e", "capacity=two"], "capacity two is not a whole number"),
    ("no-pool", ["-e", "capacity=1"], "-e capacity=1 needs -e pool=<name>"),
    # One spark node around the clock (about 140 USD a month) puts the rehearsal over its budget of 60.
    ("over-budget", ["-e", "pool=spark", "-e", "capacity=1"],
     "Workbench rehearsal with pool spark at 1 node(s) around the clock costs 183.47 USD a month, over its budget of 60.00 USD"),
]


@pytest.mark.parametrize("extra, expected", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_scale_refuses_before_any_request(converged, endpoint, playbook, extra, expected):
    mark = endpoint.log_offset()
    run = playbook("scale.yml", *extra)
    assert run.rc != 0
    assert expected in " ".join(run.output.split()), run.output[-2000:]
    assert endpoint.requests(since=mark) == []


def test_pool_goes_from_zero_to_two_and_back(converged, endpoint, playbook, ec2):
    up = playbook("scale.yml", "-e", "pool=spark", "-e", "capacity=2", "-e", "budget_override=yes")
    assert up.rc == 0, up.output[-4000:]
    assert up.changed == 1, up.changed_tasks()
    running = pool_instances(ec2, "spark")
    assert len(running) == 2
    assert {instance_type for instance_type, _zone, _lifecycle in running.values()} <= set(POOLS["spark"]["instance_types"])
    assert {lifecycle for _type, _zone, lifecycle in running.values()} == {"spot"}
    assert all(instance_id in up.output for instance_id in running)
    assert pool_instances(ec2, "gpu") == {}

    again = playbook("scale.yml", "-e", "pool=spark", "-e", "capacity=2", "-e", "budget_override=yes")
    assert again.rc == 0 and again.changed == 0, again.changed_tasks()
    assert pool_instances(ec2, "spark") == running

    status = playbook("scale.yml")
    assert status.rc == 0, status.output[-4000:]
    rows = {line.split()[0]: line.split()[1:] for line in status.output.splitlines()
            if line.strip().split()[:1] in (["spark"], ["gpu"], ["total"])}
    assert rows["spark"][:4] == ["0", "2", "2", "0"] and float(rows["spark"][4]) > 0  # desired, running, spot, on-demand, USD/hour
    assert rows["gpu"][:4] == ["0", "0", "0", "0"]
    assert status.changed == 0

    down = playbook("scale.yml", "-e", "pool=spark", "-e", "capacity=0")
    assert down.rc == 0, down.output[-4000:]
    assert pool_instances(ec2, "spark") == {}
    fleets = [f for f in ec2.describe_fleets()["Fleets"] if {"Key": "kdsw:cluster", "Value": CLUSTER} in f.get("Tags", [])]
    assert fleets and all(f["FleetState"].startswith("deleted") for f in fleets)


def test_site_brings_a_pool_back_to_its_desired_size(converged, playbook, ec2):
    assert playbook("scale.yml", "-e", "pool=spark", "-e", "capacity=1", "-e", "budget_override=yes").rc == 0
    assert len(pool_instances(ec2, "spark")) == 1
    run = playbook("site.yml", "--tags", "spark")
    assert run.rc == 0, run.output[-4000:]
    assert run.changed_tasks() == ["kdsw.workbench.node_pool : Bring the pool to its capacity with EC2 Fleet, every type in every subnet, pool spark"]
    assert pool_instances(ec2, "spark") == {}


def test_teardown_removes_the_pools(converged, playbook, ec2):
    assert playbook("scale.yml", "-e", "pool=spark", "-e", "capacity=1", "-e", "budget_override=yes").rc == 0
    run = playbook("teardown.yml", "-e", "confirm=yes", "-e", "delete_data=yes")
    assert run.rc == 0, run.output[-4000:]
    assert workbench_resources(CLUSTER) == {}
    assert ec2.describe_launch_templates()["LaunchTemplates"] == []
