"""kdsw.workbench.efs_file_system against moto in server mode, run as a real module process."""

import boto3
import pytest

from ansible_collections.kdsw.workbench.plugins.module_utils.efs import AnsibleEFSError
from ansible_collections.kdsw.workbench.plugins.module_utils.efs import wait_for_state

MODULE = "efs_file_system"
NAME = "kdsw-homes"


class AccessLog:
    """The AWS requests moto answers from now on: EFS reads are GETs, every EFS mutation is a POST, PUT or DELETE."""

    def __init__(self, aws):
        self.aws = aws
        self.mark = aws.log_offset()

    def requests(self):
        return self.aws.requests(since=self.mark)

    def mutations(self):
        return [(method, path) for method, path in self.requests() if method != "GET"]


@pytest.fixture
def efs(aws):
    return boto3.client("efs", region_name="us-east-1")


@pytest.fixture
def network(ec2):
    """A VPC with subnets a1 and a2 in us-east-1a, b in us-east-1b, and security groups web and nfs."""
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]

    def subnet(cidr, zone):
        return ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]

    def group(name):
        return ec2.create_security_group(VpcId=vpc, GroupName=name, Description=name)["GroupId"]

    return {
        "vpc": vpc,
        "a1": subnet("10.20.1.0/24", "us-east-1a"),
        "a2": subnet("10.20.2.0/24", "us-east-1a"),
        "b": subnet("10.20.3.0/24", "us-east-1b"),
        "nfs": group("nfs"),
        "web": group("web"),
    }


@pytest.fixture
def args(network):
    """The arguments of a file system with mount targets in us-east-1a and us-east-1b, behind the nfs group."""
    return {
        "name": NAME,
        "tags": {"project": "kdsw", "owner": "data"},
        "mount_targets": [
            {"subnet_id": network["a1"], "security_groups": [network["nfs"]]},
            {"subnet_id": network["b"], "security_groups": [network["nfs"]]},
        ],
    }


@pytest.fixture
def created(run_module, args):
    result = run_module(MODULE, args)
    assert result["changed"] is True, result
    return result


def ok(result, changed):
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is changed, result.get("diff")
    return result


def file_systems(efs):
    return efs.describe_file_systems()["FileSystems"]


def lifecycle(efs, file_system_id):
    return efs.describe_lifecycle_configuration(FileSystemId=file_system_id)["LifecyclePolicies"]


def tags(efs, file_system_id):
    return {tag["Key"]: tag["Value"] for tag in efs.list_tags_for_resource(ResourceId=file_system_id)["Tags"]}


def mount_targets(efs, file_system_id):
    """{subnet ID: sorted security groups} as EFS reports them."""
    targets = efs.describe_mount_targets(FileSystemId=file_system_id)["MountTargets"]
    return {
        target["SubnetId"]: sorted(efs.describe_mount_target_security_groups(MountTargetId=target["MountTargetId"])["SecurityGroups"])
        for target in targets
    }


def snapshot(efs):
    """Everything the module manages, as EFS reports it."""
    return [
        {
            "file_system": {key: value for key, value in fs.items() if key not in ("SizeInBytes", "ResponseMetadata")},
            "lifecycle": lifecycle(efs, fs["FileSystemId"]),
            "tags": tags(efs, fs["FileSystemId"]),
            "mount_targets": mount_targets(efs, fs["FileSystemId"]),
        }
        for fs in file_systems(efs)
    ]


# --- creation ---------------------------------------------------------------------------------


def test_check_mode_create_changes_nothing(aws, efs, run_module, args, network):
    log = AccessLog(aws)
    result = ok(run_module(MODULE, args, check_mode=True, diff=True), changed=True)
    assert log.mutations() == []
    assert file_systems(efs) == []
    assert result["file_system"] == {} and result["mount_targets"] == []
    assert result["diff"]["before"] == {}
    after = result["diff"]["after"]
    assert after["encrypted"] is True
    assert after["tags"] == {"Name": NAME, "project": "kdsw", "owner": "data"}
    assert after["mount_targets"] == {network["a1"]: [network["nfs"]], network["b"]: [network["nfs"]]}


def test_create(efs, created, network):
    file_system = created["file_system"]
    [described] = file_systems(efs)
    assert described["FileSystemId"] == file_system["id"]
    assert described["CreationToken"] == NAME
    assert described["Encrypted"] is True
    assert described["PerformanceMode"] == "generalPurpose"
    assert described["ThroughputMode"] == "elastic"
    assert sorted(lifecycle(efs, file_system["id"]), key=str) == [
        {"TransitionToIA": "AFTER_30_DAYS"},
        {"TransitionToPrimaryStorageClass": "AFTER_1_ACCESS"},
    ]
    assert tags(efs, file_system["id"]) == {"Name": NAME, "project": "kdsw", "owner": "data"}
    assert mount_targets(efs, file_system["id"]) == {network["a1"]: [network["nfs"]], network["b"]: [network["nfs"]]}

    assert file_system["dns_name"].startswith(f"{file_system['id']}.efs.us-east-1.")
    assert file_system["arn"] == described["FileSystemArn"]
    assert file_system["life_cycle_state"] == "available"
    assert file_system["encrypted"] is True
    assert file_system["lifecycle_policies"] == [{"transition_to_ia": "AFTER_30_DAYS"}, {"transition_to_primary_storage_class": "AFTER_1_ACCESS"}]
    assert file_system["tags"] == {"Name": NAME, "project": "kdsw", "owner": "data"}
    assert file_system["size_in_bytes"]["value"] == 0
    by_subnet = {target["subnet_id"]: target for target in created["mount_targets"]}
    assert set(by_subnet) == {network["a1"], network["b"]}
    assert by_subnet[network["a1"]]["availability_zone_name"] == "us-east-1a"
    assert by_subnet[network["b"]]["security_groups"] == [network["nfs"]]
    assert all(target["id"].startswith("fsmt-") and target["ip_address"] for target in created["mount_targets"])


def test_second_identical_run_changes_nothing(aws, efs, run_module, args, created):
    before = snapshot(efs)
    log = AccessLog(aws)
    result = ok(run_module(MODULE, args, diff=True), changed=False)
    assert log.requests(), "the module's requests should show in moto's access log"
    assert log.mutations() == []
    assert snapshot(efs) == before
    assert result["diff"]["before"] == result["diff"]["after"]
    assert result["file_system"] == created["file_system"]


def test_omitted_tags_and_mount_targets_are_left_alone(aws, efs, run_module, args, created):
    before = snapshot(efs)
    log = AccessLog(aws)
    ok(run_module(MODULE, {"name": NAME}), changed=False)
    assert log.mutations() == []
    assert snapshot(efs) == before


# --- updates ----------------------------------------------------------------------------------


def test_check_mode_update_reports_without_changing(aws, efs, run_module, args, created):
    before = snapshot(efs)
    log = AccessLog(aws)
    result = ok(run_module(MODULE, dict(args, transition_to_ia="AFTER_90_DAYS"), check_mode=True, diff=True), changed=True)
    assert log.mutations() == []
    assert snapshot(efs) == before
    assert result["diff"]["before"]["lifecycle_policies"]["TransitionToIA"] == "AFTER_30_DAYS"
    assert result["diff"]["after"]["lifecycle_policies"]["TransitionToIA"] == "AFTER_90_DAYS"
    assert result["file_system"]["id"] == created["file_system"]["id"]


def test_transition_to_ia_updates_the_lifecycle(efs, run_module, args, created):
    file_system_id = created["file_system"]["id"]
    result = ok(run_module(MODULE, dict(args, transition_to_ia="AFTER_90_DAYS")), changed=True)
    assert {"TransitionToIA": "AFTER_90_DAYS"} in lifecycle(efs, file_system_id)
    assert result["file_system"]["lifecycle_policies"][0] == {"transition_to_ia": "AFTER_90_DAYS"}

    ok(run_module(MODULE, dict(args, transition_to_ia="none")), changed=True)
    assert lifecycle(efs, file_system_id) == [{"TransitionToPrimaryStorageClass": "AFTER_1_ACCESS"}]
    ok(run_module(MODULE, dict(args, transition_to_ia="none")), changed=False)


def test_unmanaged_lifecycle_transition_is_kept(efs, run_module, args, created):
    file_system_id = created["file_system"]["id"]
    archive = {"TransitionToArchive": "AFTER_90_DAYS"}
    efs.put_lifecycle_configuration(FileSystemId=file_system_id, LifecyclePolicies=[{"TransitionToIA": "AFTER_30_DAYS"}, archive])
    ok(run_module(MODULE, args), changed=True)
    assert archive in lifecycle(efs, file_system_id)
    assert len(lifecycle(efs, file_system_id)) == 3


def test_unlisted_subnet_loses_its_mount_target(efs, run_module, args, created, network):
    file_system_id = created["file_system"]["id"]
    result = ok(run_module(MODULE, dict(args, mount_targets=args["mount_targets"][:1]), diff=True), changed=True)
    assert mount_targets(efs, file_system_id) == {network["a1"]: [network["nfs"]]}
    assert [target["subnet_id"] for target in result["mount_targets"]] == [network["a1"]]
    assert set(result["diff"]["before"]["mount_targets"]) == {network["a1"], network["b"]}
    assert set(result["diff"]["after"]["mount_targets"]) == {network["a1"]}


def test_mount_target_moves_to_another_subnet_of_the_same_zone(efs, run_module, args, created, network):
    moved = [{"subnet_id": network["a2"], "security_groups": [network["nfs"]]}, args["mount_targets"][1]]
    ok(run_module(MODULE, dict(args, mount_targets=moved)), changed=True)
    assert mount_targets(efs, created["file_system"]["id"]) == {network["a2"]: [network["nfs"]], network["b"]: [network["nfs"]]}


def test_security_groups_are_updated(aws, efs, run_module, args, created, network):
    file_system_id = created["file_system"]["id"]
    ids_before = sorted(target["id"] for target in created["mount_targets"])
    both = sorted([network["nfs"], network["web"]])
    changed = [dict(args["mount_targets"][0], security_groups=[network["web"], network["nfs"]]), args["mount_targets"][1]]
    result = ok(run_module(MODULE, dict(args, mount_targets=changed)), changed=True)
    assert mount_targets(efs, file_system_id) == {network["a1"]: both, network["b"]: [network["nfs"]]}
    assert sorted(target["id"] for target in result["mount_targets"]) == ids_before, "mount targets are modified in place"

    log = AccessLog(aws)
    ok(run_module(MODULE, dict(args, mount_targets=changed)), changed=False)
    assert log.mutations() == []


def test_tags_are_updated_and_purged_but_name_is_kept(efs, run_module, args, created):
    file_system_id = created["file_system"]["id"]
    result = ok(run_module(MODULE, dict(args, tags={"project": "workbench", "env": "dev"}), diff=True), changed=True)
    assert tags(efs, file_system_id) == {"Name": NAME, "project": "workbench", "env": "dev"}
    assert result["diff"]["after"]["tags"] == {"Name": NAME, "project": "workbench", "env": "dev"}
    assert result["file_system"]["tags"] == {"Name": NAME, "project": "workbench", "env": "dev"}

    ok(run_module(MODULE, dict(args, tags={"cost": "low"}, purge_tags=False)), changed=True)
    assert tags(efs, file_system_id) == {"Name": NAME, "project": "workbench", "env": "dev", "cost": "low"}

    ok(run_module(MODULE, dict(args, tags={})), changed=True)
    assert tags(efs, file_system_id) == {"Name": NAME}


def test_throughput_change_is_planned(aws, efs, run_module, args, created):
    """Check mode only: moto does not implement UpdateFileSystem."""
    log = AccessLog(aws)
    wanted = dict(args, throughput_mode="provisioned", provisioned_throughput_in_mibps=64)
    result = ok(run_module(MODULE, wanted, check_mode=True, diff=True), changed=True)
    assert log.mutations() == []
    assert result["diff"]["before"]["throughput_mode"] == "elastic"
    assert result["diff"]["after"]["throughput_mode"] == "provisioned"
    assert result["diff"]["after"]["provisioned_throughput_in_mibps"] == 64.0


# --- refusals and failures ----------------------------------------------------------------------


def test_encryption_cannot_change(aws, efs, run_module, args, created):
    log = AccessLog(aws)
    result = run_module(MODULE, dict(args, encrypted=False))
    assert result["failed"] is True
    assert "encrypted" in result["msg"] and "recreated" in result["msg"]
    assert created["file_system"]["id"] in result["msg"]
    assert log.mutations() == []
    assert file_systems(efs)[0]["Encrypted"] is True


def test_performance_mode_cannot_change(run_module, args, created):
    result = run_module(MODULE, dict(args, performance_mode="maxIO"))
    assert result["failed"] is True
    assert "performance_mode" in result["msg"] and "recreated" in result["msg"]


@pytest.mark.parametrize("bad, message", [
    ({"kms_key_id": "alias/aws/elasticfilesystem", "encrypted": False}, "kms_key_id requires encrypted=true"),
    ({"throughput_mode": "provisioned"}, "provisioned_throughput_in_mibps"),
])
def test_invalid_options_fail_before_any_call(aws, efs, run_module, args, bad, message):
    result = run_module(MODULE, dict(args, **bad))
    assert result["failed"] is True
    assert message in result["msg"]
    assert file_systems(efs) == []


def test_duplicate_subnets_fail(aws, efs, run_module, args, network):
    twice = [{"subnet_id": network["a1"]}, {"subnet_id": network["a1"], "security_groups": [network["web"]]}]
    result = run_module(MODULE, dict(args, mount_targets=twice))
    assert result["failed"] is True
    assert network["a1"] in result["msg"] and "more than once" in result["msg"]
    assert file_systems(efs) == []


def test_aws_error_says_what_was_being_done(run_module, args):
    missing = "subnet-0123456789abcdef0"
    result = run_module(MODULE, dict(args, mount_targets=[{"subnet_id": missing}]))
    assert result["failed"] is True
    assert result["msg"].startswith(f"Failed to create a mount target in subnet {missing} for file system fs-"), result["msg"]
    assert "SubnetNotFound" in result["msg"]


# --- deletion ---------------------------------------------------------------------------------


def test_absent_deletes_mount_targets_then_the_file_system(aws, efs, run_module, args, created):
    log = AccessLog(aws)
    result = ok(run_module(MODULE, {"name": NAME, "state": "absent"}, check_mode=True, diff=True), changed=True)
    assert log.mutations() == []
    assert len(file_systems(efs)) == 1
    assert result["diff"]["after"] == {} and result["diff"]["before"]["encrypted"] is True

    result = ok(run_module(MODULE, {"name": NAME, "state": "absent"}), changed=True)
    assert file_systems(efs) == []
    assert result["file_system"] == {} and result["mount_targets"] == []
    deletions = [path for method, path in log.mutations() if method == "DELETE"]
    assert len(deletions) == 3 and deletions[-1].startswith("/2015-02-01/file-systems/"), deletions
    for target in created["mount_targets"]:
        with pytest.raises(efs.exceptions.MountTargetNotFound):
            efs.describe_mount_targets(MountTargetId=target["id"])

    log = AccessLog(aws)
    ok(run_module(MODULE, {"name": NAME, "state": "absent"}), changed=False)
    assert log.mutations() == []


# --- waiting (module_utils.efs) ---------------------------------------------------------------


def test_wait_reports_timeout_and_error_states():
    with pytest.raises(AnsibleEFSError, match=r"Timeout after 0s waiting for mount target fsmt-1 to become available \(it is creating\)"):
        wait_for_state(lambda: {"LifeCycleState": "creating"}, "mount target fsmt-1", "available", timeout=0, delay=0)
    with pytest.raises(AnsibleEFSError, match="file system fs-1 is in state error"):
        wait_for_state(lambda: {"LifeCycleState": "error"}, "file system fs-1", "available", timeout=60, delay=0)
    states = iter([{"LifeCycleState": "deleting"}, None])
    wait_for_state(lambda: next(states), "file system fs-1", "deleted", timeout=60, delay=0)
