"""module_utils/users_file: one user changed, every other entry and key kept, under a lock, in one rename."""

import fcntl
import multiprocessing
import os
import stat
import threading
import time

import pytest
import yaml
from ansible.plugins.filter.core import to_nice_yaml

from ansible_collections.kdsw.workbench.plugins.module_utils.users_file import (
    HEADER,
    UsersFileError,
    lock_path,
    merge,
    render,
    update,
)

BOB = {"name": "bob", "groups": ["users"], "ssh_keys": ["ssh-ed25519 AAAA bob@laptop"], "state": "present", "uid": 10001}
CAROL = {"name": "carol", "groups": ["users", "admins"], "state": "present", "uid": 10002}


def write(path, users, **others):
    path.write_text(render(dict(others, workbench_users=users)), encoding="utf-8")


def recorded(path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))["workbench_users"]


# --- merge -------------------------------------------------------------------------------------

def test_present_adds_the_user_in_name_order_and_keeps_the_others():
    alice = {"groups": ["users"], "uid": 10003}
    assert merge([CAROL, BOB], "alice", "present", alice) == [dict(alice, name="alice"), BOB, CAROL]


def test_present_replaces_the_recorded_entry():
    changed = {"groups": ["users", "admins"], "uid": 10001, "state": "present"}
    assert merge([BOB, CAROL], "bob", "present", changed) == [dict(changed, name="bob"), CAROL]


def test_disabled_marks_the_entry_and_keeps_the_rest_of_it():
    assert merge([BOB, CAROL], "bob", "disabled") == [dict(BOB, state="disabled"), CAROL]


def test_disabled_or_absent_of_an_unrecorded_user_changes_nothing():
    assert merge([BOB], "dave", "disabled") == [BOB]
    assert merge([BOB], "dave", "absent") == [BOB]


def test_absent_removes_only_the_user():
    assert merge([BOB, CAROL], "bob", "absent") == [CAROL]


# --- the file ----------------------------------------------------------------------------------

def test_render_is_what_add_user_yml_always_wrote():
    document = {"workbench_users": [BOB, CAROL]}
    assert render(document) == HEADER + to_nice_yaml(document, indent=2)


def test_a_new_file_has_the_header_and_mode_0644(tmp_path):
    path = tmp_path / "users.yml"
    changed, before, after, users = update(str(path), "bob", "present", BOB)
    assert changed and before == "" and users == [BOB]
    assert path.read_text(encoding="utf-8") == after and after.startswith(HEADER)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(os.listdir(tmp_path)) == [".users.yml.lock", "users.yml"]


def test_other_users_other_keys_and_the_mode_are_kept(tmp_path):
    path = tmp_path / "users.yml"
    write(path, [CAROL], team="data")
    path.chmod(0o600)
    update(str(path), "bob", "present", BOB)
    assert recorded(path) == [BOB, CAROL]
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["team"] == "data"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_same_change_again_does_not_touch_the_file(tmp_path):
    path = tmp_path / "users.yml"
    update(str(path), "bob", "present", BOB)
    inode = path.stat().st_ino
    changed, before, after, users = update(str(path), "bob", "present", BOB)
    assert not changed and before == after and path.stat().st_ino == inode


def test_removing_from_a_missing_file_creates_nothing(tmp_path):
    changed, before, after, users = update(str(tmp_path / "users.yml"), "bob", "absent")
    assert not changed and users == [] and os.listdir(tmp_path) == [".users.yml.lock"]


def test_check_mode_neither_writes_nor_locks(tmp_path):
    path = tmp_path / "users.yml"
    changed, before, after, users = update(str(path), "bob", "present", BOB, check_mode=True)
    assert changed and after.startswith(HEADER) and users == [BOB]
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("text, problem", [
    ("workbench_users: [bob\n", "is not valid YAML"),
    ("- bob\n", "must hold a mapping"),
    ("workbench_users: bob\n", "workbench_users must be a list"),
    ("workbench_users: [bob]\n", "workbench_users[0] is not a user with a name"),
])
def test_a_damaged_file_is_named_and_left_alone(tmp_path, text, problem):
    path = tmp_path / "users.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsersFileError, match=r"users\.yml") as error:
        update(str(path), "carol", "present", CAROL)
    assert problem in str(error.value)
    assert path.read_text(encoding="utf-8") == text


def test_a_missing_directory_is_named(tmp_path):
    with pytest.raises(UsersFileError, match="does not exist"):
        update(str(tmp_path / "group_vars" / "all" / "users.yml"), "bob", "present", BOB)


# --- the lock ----------------------------------------------------------------------------------

def hold_lock(path):
    handle = os.open(lock_path(str(path)), os.O_RDONLY | os.O_CREAT, 0o644)
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def test_a_run_that_cannot_get_the_lock_fails_naming_it_and_writes_nothing(tmp_path):
    path = tmp_path / "users.yml"
    write(path, [CAROL])
    handle = hold_lock(path)
    try:
        started = time.monotonic()
        with pytest.raises(UsersFileError) as error:
            update(str(path), "bob", "present", BOB, lock_timeout=0.5)
        assert time.monotonic() - started >= 0.5
    finally:
        os.close(handle)
    assert str(tmp_path / ".users.yml.lock") in str(error.value)
    assert recorded(path) == [CAROL]


def test_a_run_waits_for_the_lock_and_then_merges_what_the_holder_wrote(tmp_path):
    path = tmp_path / "users.yml"
    handle = hold_lock(path)

    def holder():
        time.sleep(0.5)
        write(path, [CAROL])
        os.close(handle)

    thread = threading.Thread(target=holder)
    thread.start()
    update(str(path), "bob", "present", BOB, lock_timeout=10)
    thread.join()
    assert recorded(path) == [BOB, CAROL]


def add_one(arguments):
    path, name = arguments
    update(path, name, "present", {"groups": ["users"], "state": "present"}, lock_timeout=60)


def test_processes_at_once_each_keep_the_others(tmp_path):
    path = str(tmp_path / "users.yml")
    names = [f"user{index:02d}" for index in range(24)]
    with multiprocessing.get_context("fork").Pool(8) as pool:
        pool.map(add_one, [(path, name) for name in names])
    assert [user["name"] for user in recorded(tmp_path / "users.yml")] == names
    assert sorted(os.listdir(tmp_path)) == [".users.yml.lock", "users.yml"]
