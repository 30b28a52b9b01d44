"""kdsw.workbench.efs_access_point against moto in server mode: per-user home directories."""

import boto3
import pytest

MODULE = "efs_access_point"


@pytest.fixture
def file_system(aws):
    efs = boto3.client("efs", region_name="us-east-1")
    fs_id = efs.create_file_system(CreationToken="kdsw-homes", Encrypted=True)["FileSystemId"]
    return efs, fs_id


def home(**overrides):
    args = {
        "file_system_name": "kdsw-homes",
        "name": "home-bob",
        "posix_user": {"uid": 10001, "gid": 10001},
        "root_directory": {"path": "/home/bob", "owner_uid": 10001, "owner_gid": 10001, "permissions": "0700"},
        "tags": {"kdsw:cluster": "kdsw", "kdsw:user": "bob"},
    }
    args.update(overrides)
    return args


def access_points(efs, fs_id):
    return efs.describe_access_points(FileSystemId=fs_id)["AccessPoints"]


def test_check_mode_creates_nothing(file_system, run_module):
    efs, fs_id = file_system
    result = run_module(MODULE, home(), check_mode=True, diff=True)
    assert result["changed"] is True and "failed" not in result
    assert result["diff"]["before"] == {} and result["diff"]["after"]["root_directory"]["path"] == "/home/bob"
    assert access_points(efs, fs_id) == []


def test_create_then_no_change(file_system, run_module, aws):
    efs, fs_id = file_system
    created = run_module(MODULE, home())
    assert created["changed"] is True, created
    (point,) = access_points(efs, fs_id)
    assert point["PosixUser"] == {"Uid": 10001, "Gid": 10001}
    assert point["RootDirectory"]["Path"] == "/home/bob"
    assert point["RootDirectory"]["CreationInfo"] == {"OwnerUid": 10001, "OwnerGid": 10001, "Permissions": "0700"}
    assert created["access_point"]["id"] == point["AccessPointId"]

    mark = aws.log_offset()
    again = run_module(MODULE, home(), diff=True)
    assert again["changed"] is False, again
    assert [request for request in aws.requests(since=mark) if request[0] != "GET"] == []
    assert len(access_points(efs, fs_id)) == 1


def test_tags_update_in_place(file_system, run_module):
    efs, fs_id = file_system
    run_module(MODULE, home())
    result = run_module(MODULE, home(tags={"kdsw:cluster": "kdsw", "team": "ml"}), diff=True)
    assert result["changed"] is True
    (point,) = access_points(efs, fs_id)
    tags = {t["Key"]: t["Value"] for t in point["Tags"]}
    assert tags == {"Name": "home-bob", "kdsw:cluster": "kdsw", "team": "ml"}
    assert result["diff"]["before"]["tags"]["kdsw:user"] == "bob"


def test_identity_cannot_change(file_system, run_module):
    efs, fs_id = file_system
    run_module(MODULE, home())
    result = run_module(MODULE, home(posix_user={"uid": 10002, "gid": 10001}))
    assert result["failed"] is True
    assert "posix_user" in result["msg"] and "state=absent" in result["msg"]
    assert access_points(efs, fs_id)[0]["PosixUser"]["Uid"] == 10001


def test_bad_input_fails_before_any_call(file_system, run_module, aws):
    mark = aws.log_offset()
    for args, word in ((home(root_directory={"path": "home/bob"}), "absolute"),
                       (home(root_directory={"path": "/home/bob", "owner_uid": 1}), "owner_gid"),
                       (home(root_directory={"path": "/h", "owner_uid": 1, "owner_gid": 1, "permissions": "rwx"}), "octal")):
        result = run_module(MODULE, args)
        assert result["failed"] is True and word in result["msg"], result
    assert aws.requests(since=mark) == []


def test_unknown_file_system(aws, run_module):
    result = run_module(MODULE, home(file_system_name="nope"))
    assert result["failed"] is True and "creation token nope" in result["msg"]


def test_absent(file_system, run_module):
    efs, fs_id = file_system
    run_module(MODULE, home())
    args = {"file_system_name": "kdsw-homes", "name": "home-bob", "state": "absent"}
    assert run_module(MODULE, args, check_mode=True)["changed"] is True
    assert len(access_points(efs, fs_id)) == 1
    assert run_module(MODULE, args)["changed"] is True
    assert access_points(efs, fs_id) == []
    assert run_module(MODULE, args)["changed"] is False
