"""kdsw.workbench.ldap_user_sync against a real slapd configured from the templates of roles/ldap.

Every test gets a fresh directory (the `ldap` fixture): base entries, password policy, overlays and
ACLs exactly as the role deploys them, StartTLS with the harness's test CA. Writes are counted from
slapd's own log (ADD/MOD/DEL lines), so "writes nothing" means slapd received no write at all.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ldap as pyldap
import pytest

from endpoints import REPO, write_test_pki

MODULE = "ldap_user_sync"
ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIaGEmkfImcpz5ltWBZARdMdc4TcjLjSnA0r0VDMCbSE alice@laptop"
ED25519_2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB8u2Ppa8mM3Bq1KdmnGOWzgxTHnyM4Gyl8nBRK9xNus alice@desktop"
RSA_TRUNCATED = "ssh-rsa AAAAB3NzaC1yc2E= bob@laptop"
ALICE_PW = "wonderland-7f3a1c"
ALICE_OWN_PW = "alice-chose-this-one"
BOB_PW = "builder-0b4e9d22"


# --- helpers ----------------------------------------------------------------------------------------

def connection_args(**extra):
    args = {
        "server_uri": os.environ["KDSW_LDAP_URI"],
        "bind_dn": os.environ["KDSW_LDAP_BIND_DN"],
        "bind_pw": os.environ["KDSW_LDAP_BIND_PW"],
        "base_dn": os.environ["KDSW_LDAP_BASE_DN"],
        "ca_file": os.environ["KDSW_LDAP_CA"],
        "password_hash_rounds": 5000,
    }
    args.update(extra)
    return args


def definition(**extra):
    """Two groups, alice (both groups, key, password) and bob (users)."""
    args = connection_args(
        groups=[{"name": "users", "description": "Workbench users"}, {"name": "admins", "description": "Administrators"}],
        users=[
            {"name": "alice", "full_name": "Alice Liddell", "email": "alice@example.org", "groups": ["users", "admins"],
             "ssh_keys": [ED25519], "password": ALICE_PW},
            {"name": "bob", "groups": ["users"], "password": BOB_PW},
        ],
    )
    args.update(extra)
    return args


def connect(dn=None, password=None, ca=None):
    conn = pyldap.initialize(os.environ["KDSW_LDAP_URI"])
    conn.set_option(pyldap.OPT_X_TLS_CACERTFILE, ca or os.environ["KDSW_LDAP_CA"])
    conn.set_option(pyldap.OPT_X_TLS_REQUIRE_CERT, pyldap.OPT_X_TLS_DEMAND)
    conn.set_option(pyldap.OPT_X_TLS_NEWCTX, 0)
    conn.start_tls_s()
    if dn:
        conn.simple_bind_s(dn, password)
    return conn


def admin():
    return connect(os.environ["KDSW_LDAP_BIND_DN"], os.environ["KDSW_LDAP_BIND_PW"])


def base():
    return os.environ["KDSW_LDAP_BASE_DN"]


def user_dn(name):
    return f"uid={name},ou=people,{base()}"


def group_dn(name):
    return f"cn={name},ou=groups,{base()}"


def entries(ou, attrs=("*", "pwdAccountLockedTime", "memberOf")):
    """{rdn value: {attribute: [str]}} of the entries right under ou=<ou>."""
    found = admin().search_s(f"ou={ou},{base()}", pyldap.SCOPE_ONELEVEL, "(objectClass=*)", list(attrs))
    return {dn.split(",", 1)[0].split("=", 1)[1]: {key: [value.decode() for value in values] for key, values in entry.items()}
            for dn, entry in found}


def can_bind(name, password):
    try:
        connect(user_dn(name), password).unbind_s()
        return True
    except pyldap.INVALID_CREDENTIALS:
        return False


def uid_numbers():
    return sorted(int(entry["uidNumber"][0]) for entry in entries("people").values())


def sync(run_module, args, check_mode=False, diff=False):
    result = run_module(MODULE, args, check_mode=check_mode, diff=diff)
    assert "failed" not in result or not result["failed"], result.get("msg")
    return result


# --- adds, no-op, modifies, disables, removes --------------------------------------------------------

def test_sync_adds_users_and_groups(ldap, run_module):
    mark = ldap.log_offset()
    result = sync(run_module, definition())

    assert result["changed"] is True
    assert result["added"] == {"users": ["alice", "bob"], "groups": ["users", "admins"]}
    people, groups = entries("people"), entries("groups")
    alice = people["alice"]
    assert set(alice["objectClass"]) == {"inetOrgPerson", "posixAccount", "ldapPublicKey", "kdswAccount"}
    assert alice["cn"] == ["Alice Liddell"] and alice["sn"] == ["Liddell"] and alice["mail"] == ["alice@example.org"]
    assert alice["homeDirectory"] == ["/home/alice"] and alice["loginShell"] == ["/bin/bash"]
    assert alice["sshPublicKey"] == [ED25519]
    assert alice["userPassword"][0].startswith("{CRYPT}$6$rounds=5000$")
    assert "kdswDisabled" not in alice and "pwdAccountLockedTime" not in alice
    # Numbers come from the start of the ranges, in the order of the input.
    assert (alice["uidNumber"], people["bob"]["uidNumber"]) == (["10000"], ["10001"])
    assert alice["gidNumber"] == ["100"]
    assert groups["users"]["gidNumber"] == ["10000"] and groups["admins"]["gidNumber"] == ["10001"]
    # Members by name (RFC 2307) and by DN; the memberof overlay keeps memberOf on the accounts.
    assert sorted(groups["users"]["memberUid"]) == ["alice", "bob"]
    assert sorted(groups["users"]["member"]) == [user_dn("alice"), user_dn("bob")]
    assert groups["admins"]["memberUid"] == ["alice"]
    assert sorted(alice["memberOf"]) == [group_dn("admins"), group_dn("users")]
    # The hashed password works for a real bind (slapd checks {CRYPT} with crypt(3)).
    assert can_bind("alice", ALICE_PW) and can_bind("bob", BOB_PW)
    assert not can_bind("alice", BOB_PW)
    # What the module returns for later tasks (EFS access points...).
    assert {user["name"]: (user["uid_number"], user["gid_number"]) for user in result["users"]} == {
        "alice": (10000, 100), "bob": (10001, 100)}
    # One add per entry, and the two allocations of numbers.
    writes = ldap.writes(mark)
    assert sorted(op for op, dn in writes if op == "ADD") == ["ADD"] * 6  # 2 users, 2 groups, cn=uidnext, cn=gidnext
    assert [dn for op, dn in writes if op != "ADD"] == []


def test_second_identical_sync_changes_nothing(ldap, run_module):
    sync(run_module, definition())
    mark = ldap.log_offset()
    result = sync(run_module, definition(update_password="always"), diff=True)
    assert result["changed"] is False
    assert result["added"] == {"users": [], "groups": []} and result["modified"] == {"users": [], "groups": []}
    assert result["disabled"] == [] and result["removed"] == {"users": [], "groups": []}
    assert result["diff"] == []
    assert ldap.writes(mark) == []


def test_changes_write_only_the_differences(ldap, run_module):
    sync(run_module, definition())
    args = definition()
    alice = args["users"][0]
    alice["email"] = "alice@wonderland.example"
    alice["ssh_keys"] = [ED25519, ED25519_2]
    alice["groups"] = ["users"]
    mark = ldap.log_offset()
    result = sync(run_module, args, diff=True)

    assert result["changed"] is True
    assert result["modified"] == {"users": ["alice"], "groups": ["admins"]}
    assert sorted(ldap.writes(mark)) == [("MOD", group_dn("admins")), ("MOD", user_dn("alice"))]
    alice_diff = next(item for item in result["diff"] if item["after_header"] == user_dn("alice"))
    assert alice_diff["before"] == {"mail": ["alice@example.org"], "sshPublicKey": [ED25519]}
    assert alice_diff["after"] == {"mail": ["alice@wonderland.example"], "sshPublicKey": [ED25519, ED25519_2]}
    people, groups = entries("people"), entries("groups")
    assert sorted(people["alice"]["sshPublicKey"]) == sorted([ED25519, ED25519_2])
    assert "memberUid" not in groups["admins"] and "member" not in groups["admins"]
    assert people["alice"]["memberOf"] == [group_dn("users")]


def test_disable_then_enable_again(ldap, run_module):
    sync(run_module, definition())
    args = definition()
    args["users"][1]["state"] = "disabled"
    result = sync(run_module, args)

    assert result["disabled"] == ["bob"] and result["modified"] == {"users": [], "groups": ["users"]}
    bob = entries("people")["bob"]
    assert bob["kdswDisabled"] == ["TRUE"]
    assert bob["pwdAccountLockedTime"] == ["000001010000Z"]
    assert bob["loginShell"] == ["/usr/sbin/nologin"]
    assert "sshPublicKey" not in bob and "memberOf" not in bob
    assert bob["uidNumber"] == ["10001"] and bob["homeDirectory"] == ["/home/bob"]
    assert entries("groups")["users"]["memberUid"] == ["alice"]
    # The password policy refuses the (correct) password; the bastion's filter no longer matches.
    assert not can_bind("bob", BOB_PW)
    enabled = admin().search_s(f"ou=people,{base()}", pyldap.SCOPE_ONELEVEL, "(!(kdswDisabled=TRUE))", ["uid"])
    assert [entry["uid"] for dn, entry in enabled] == [[b"alice"]]
    # A second run with bob disabled changes nothing.
    assert sync(run_module, args)["changed"] is False

    # Enabled again: shell, groups and the kept password work again.
    result = sync(run_module, definition())
    assert result["modified"] == {"users": ["bob"], "groups": ["users"]} and result["disabled"] == []
    bob = entries("people")["bob"]
    assert "kdswDisabled" not in bob and "pwdAccountLockedTime" not in bob and bob["loginShell"] == ["/bin/bash"]
    assert can_bind("bob", BOB_PW)


def test_absent_removes_and_numbers_are_never_reused(ldap, run_module):
    sync(run_module, definition())
    args = definition()
    args["users"][1] = {"name": "bob", "state": "absent"}
    args["groups"][1]["state"] = "absent"
    args["users"][0]["groups"] = ["users"]
    result = sync(run_module, args)

    assert result["removed"] == {"users": ["bob"], "groups": ["admins"]}
    assert set(entries("people")) == {"alice"} and set(entries("groups")) == {"users"}
    assert entries("groups")["users"]["memberUid"] == ["alice"]
    assert sync(run_module, args)["changed"] is False

    # bob's uid (10001) and admins' gid (10001) are not handed out again.
    args["users"][1] = {"name": "carol"}
    args["groups"][1] = {"name": "staff"}
    sync(run_module, args)
    assert entries("people")["carol"]["uidNumber"] == ["10002"]
    assert entries("groups")["staff"]["gidNumber"] == ["10002"]


def test_purge_disables_accounts_and_deletes_groups_not_listed(ldap, run_module):
    sync(run_module, definition())
    only_alice = definition()
    only_alice["users"] = only_alice["users"][:1]
    only_alice["groups"] = only_alice["groups"][:1]
    only_alice["users"][0]["groups"] = ["users"]

    # Without purge, what is not listed stays: bob, his membership of users, the admins group.
    result = sync(run_module, only_alice)
    assert result["modified"] == {"users": [], "groups": []}
    assert sorted(entries("groups")["users"]["memberUid"]) == ["alice", "bob"]
    assert "admins" in entries("groups")

    result = sync(run_module, dict(only_alice, purge=True))
    assert result["disabled"] == ["bob"]
    assert result["removed"] == {"users": [], "groups": ["admins"]}
    assert entries("people")["bob"]["kdswDisabled"] == ["TRUE"]
    assert entries("groups")["users"]["memberUid"] == ["alice"]
    # Disabled, never deleted by purge; a second run has nothing left to do.
    assert sync(run_module, dict(only_alice, purge=True))["changed"] is False
    assert "bob" in entries("people")
    # Entries outside the two units are not touched.
    assert admin().search_s(f"cn=default,ou=policies,{base()}", pyldap.SCOPE_BASE)


# --- check mode and diff -----------------------------------------------------------------------------

def test_check_mode_writes_nothing(ldap, run_module):
    mark = ldap.log_offset()
    predicted = sync(run_module, definition(), check_mode=True)
    assert predicted["changed"] is True
    assert predicted["added"] == {"users": ["alice", "bob"], "groups": ["users", "admins"]}
    assert ldap.writes(mark) == [] and entries("people") == {} and entries("groups") == {}

    real = sync(run_module, definition())
    assert real["users"] == predicted["users"] and real["groups"] == predicted["groups"]

    args = definition()
    args["users"][1]["state"] = "disabled"
    mark = ldap.log_offset()
    predicted = sync(run_module, args, check_mode=True)
    assert predicted["changed"] is True and predicted["disabled"] == ["bob"]
    assert ldap.writes(mark) == []
    assert "kdswDisabled" not in entries("people")["bob"]


def _readback(dn):
    """The attributes of dn as the diff shows them (userPassword hidden)."""
    found = admin().search_s(dn, pyldap.SCOPE_BASE, "(objectClass=*)", ["*", "pwdAccountLockedTime", "pwdReset"])
    attrs = {key: sorted(value.decode() for value in values) for key, values in found[0][1].items()}
    if "userPassword" in attrs:
        attrs["userPassword"] = ["(hidden)"]
    return attrs


@pytest.mark.parametrize("change", ["create", "modify", "disable", "remove"])
def test_diff_in_check_mode_is_what_the_real_run_does(ldap, run_module, change):
    args = definition()
    if change != "create":
        sync(run_module, definition())
        if change == "modify":
            args["users"][0].update(full_name="Alice P. Liddell", shell="/bin/zsh", ssh_keys=[ED25519_2], groups=["admins"])
            args["groups"][0]["description"] = "Everybody"
        elif change == "disable":
            args["users"][0]["state"] = "disabled"
        else:
            args["users"][0] = {"name": "alice", "state": "absent"}
    before = {dn: _readback(dn) for dn in (user_dn("alice"), user_dn("bob"), group_dn("users"), group_dn("admins"))
              if change != "create"}

    predicted = sync(run_module, args, check_mode=True, diff=True)
    real = sync(run_module, args, diff=True)
    assert predicted["diff"] == real["diff"] and predicted["diff"]

    for item in real["diff"]:
        dn = item["after_header"]
        if not item["after"]:
            with pytest.raises(pyldap.NO_SUCH_OBJECT):
                admin().search_s(dn, pyldap.SCOPE_BASE)
            continue
        now = _readback(dn)
        for attr, values in item["after"].items():
            if attr == "userPassword":
                assert now.get(attr) == ["(hidden)"]
            else:
                assert now.get(attr, []) == sorted(values), (dn, attr)
        # Nothing else changed: the attributes the diff does not name are as they were.
        for attr, values in before.get(dn, {}).items():
            if attr not in item["after"] and attr not in ("memberOf",):
                assert now.get(attr) == values, (dn, attr)


# --- uid allocation ----------------------------------------------------------------------------------

def test_repeated_adds_allocate_distinct_numbers(ldap, run_module):
    args = connection_args(users=[])
    for index in range(6):
        args["users"] = args["users"] + [{"name": f"u{index}"}]
        sync(run_module, args)
    # An explicit uid inside the range moves the high-water mark past it.
    args["users"].append({"name": "fixed", "uid_number": 10010})
    sync(run_module, args)
    args["users"].append({"name": "after"})
    sync(run_module, args)
    numbers = {name: int(entry["uidNumber"][0]) for name, entry in entries("people").items()}
    assert numbers == {"u0": 10000, "u1": 10001, "u2": 10002, "u3": 10003, "u4": 10004, "u5": 10005,
                       "fixed": 10010, "after": 10011}
    pool = admin().search_s(f"cn=uidnext,{base()}", pyldap.SCOPE_BASE)[0][1]
    assert pool["uidNumber"] == [b"10012"]


def test_concurrent_module_processes_never_collide(ldap, tmp_path):
    """Four module processes add 25 users each at the same time: 100 distinct uid numbers."""
    procs = []
    env = dict(os.environ, PYTHONPATH=str(REPO / ".collections"))
    for worker in range(4):
        args = connection_args(users=[{"name": f"w{worker}u{index:02d}"} for index in range(25)])
        path = tmp_path / f"args{worker}.json"
        path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        procs.append(subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-m", f"ansible_collections.kdsw.workbench.plugins.modules.{MODULE}", str(path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        results.append(json.loads(out))
    assert all(not result.get("failed") for result in results), [result.get("msg") for result in results]
    numbers = uid_numbers()
    assert len(numbers) == 100 and len(set(numbers)) == 100
    assert numbers == list(range(10000, 10100))
    returned = [user["uid_number"] for result in results for user in result["users"]]
    assert sorted(returned) == numbers


# --- bad input: reported together, nothing written ---------------------------------------------------

BAD_INPUTS = {
    "invalid user name": ({"users": [{"name": "Alice Smith"}]}, ["users[0].name: 'Alice Smith' is not a valid user name"]),
    "duplicate user": ({"users": [{"name": "bob"}, {"name": "bob"}]}, ["users[1].name: user 'bob' is already listed as users[0]"]),
    "duplicate uid": ({"users": [{"name": "bob", "uid_number": 20000}, {"name": "carol", "uid_number": 20000}]},
                      ["users[1] (carol).uid_number: uid 20000 is already the uid of user 'bob'"]),
    "malformed ssh key": ({"users": [{"name": "bob", "ssh_keys": [RSA_TRUNCATED]}]}, ["users[0] (bob).ssh_keys[0]: the key data is truncated"]),
    "private key": ({"users": [{"name": "bob", "ssh_keys": ["-----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjE="]}]},
                    ["users[0] (bob).ssh_keys[0]: this is a private key"]),
    "unknown group": ({"users": [{"name": "bob", "groups": ["wheel"]}]},
                      ["users[0] (bob).groups[0]: group 'wheel' is not declared; add it to groups or use a declared group (admins, users)"]),
    "short password": ({"users": [{"name": "bob", "password": "q7w3e9"}]}, ["users[0] (bob).password: is shorter than 8 characters"]),
    "bad email": ({"users": [{"name": "bob", "email": "bob-at-example"}]}, ["users[0] (bob).email: 'bob-at-example' is not an e-mail address"]),
    "duplicate gid": ({"groups": [{"name": "a", "gid_number": 20000}, {"name": "b", "gid_number": 20000}]},
                      ["groups[1].gid_number: gid 20000 is already the gid of group 'a'"]),
}


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
def test_each_kind_of_bad_input_is_refused_with_a_clear_message(ldap, run_module, kind):
    changes, messages = BAD_INPUTS[kind]
    args = connection_args(groups=[{"name": "users"}, {"name": "admins"}], users=[{"name": "alice", "groups": ["users"]}])
    args.update(changes)
    mark = ldap.log_offset()
    result = run_module(MODULE, args)
    assert result.get("failed") is True
    assert "nothing was written" in result["msg"]
    for message in messages:
        assert any(problem.startswith(message) for problem in result["problems"]), (message, result["problems"])
    assert ldap.writes(mark) == [] and entries("people") == {}


def test_all_problems_are_reported_together(ldap, run_module):
    args = connection_args(
        groups=[{"name": "users"}],
        users=[
            {"name": "alice", "uid_number": 20000, "ssh_keys": [ED25519]},   # fine
            {"name": "Bad Name"},
            {"name": "carol", "uid_number": 20000},
            {"name": "dave", "ssh_keys": [RSA_TRUNCATED]},
            {"name": "erin", "groups": ["nope"]},
        ])
    mark = ldap.log_offset()
    result = run_module(MODULE, args)
    assert result["failed"] is True and len(result["problems"]) == 4, result["problems"]
    assert "4 problem(s)" in result["msg"]
    assert ldap.writes(mark) == [] and entries("people") == {}


def test_conflicts_with_the_directory_are_refused_before_any_write(ldap, run_module):
    sync(run_module, definition())
    args = definition()
    args["users"][0]["uid_number"] = 10500          # alice exists with 10000
    args["users"].append({"name": "carol", "uid_number": 10001})  # bob's
    args["users"][1]["email"] = "bob@example.org"    # a valid change that must not be written either
    mark = ldap.log_offset()
    result = run_module(MODULE, args)
    assert result["failed"] is True
    assert any("users[0] (alice).uid_number: the account exists with uid 10000; a uid number cannot change" in problem
               for problem in result["problems"])
    assert any("users[2] (carol).uid_number: uid 10001 belongs to the existing account 'bob'" in problem
               for problem in result["problems"])
    assert ldap.writes(mark) == []


# --- passwords and credentials ------------------------------------------------------------------------

def test_update_password(ldap, run_module):
    sync(run_module, definition())
    args = definition()
    args["users"][0]["password"] = "a-new-password-1"
    assert sync(run_module, args)["changed"] is False          # on_create: kept
    assert can_bind("alice", ALICE_PW)
    result = sync(run_module, dict(args, update_password="always"), diff=True)
    assert result["modified"]["users"] == ["alice"] and result["passwords_set"] == ["alice"]
    assert result["diff"][0]["before"] == {"userPassword": ["(hidden)"], "pwdReset": ["TRUE"]}
    assert result["diff"][0]["after"] == {"userPassword": ["(hidden, changed)"], "pwdReset": ["TRUE"]}
    assert can_bind("alice", "a-new-password-1") and not can_bind("alice", ALICE_PW)
    assert sync(run_module, dict(args, update_password="always"))["changed"] is False


def ldappasswd(name, old, new):
    """A user's own change, as the README shows it: ldappasswd over StartTLS, bound as themselves (the Password Modify operation)."""
    return subprocess.run(["ldappasswd", "-H", os.environ["KDSW_LDAP_URI"], "-ZZ", "-x", "-D", user_dn(name), "-w", old, "-s", new],
                          env=dict(os.environ, LDAPTLS_CACERT=os.environ["KDSW_LDAP_CA"], LDAPTLS_REQCERT="demand"),
                          capture_output=True, text=True, timeout=30, check=False)


def test_a_password_the_sync_sets_serves_only_to_change_it(ldap, run_module):
    assert sync(run_module, definition(), check_mode=True)["passwords_set"] == ["alice", "bob"]
    assert sync(run_module, definition())["passwords_set"] == ["alice", "bob"]
    assert entries("people", ("pwdReset",))["alice"] == {"pwdReset": ["TRUE"]}
    # The initial password binds, and then allows nothing but changing it.
    with pytest.raises(pyldap.INSUFFICIENT_ACCESS, match="restricted"):
        connect(user_dn("alice"), ALICE_PW).search_s(user_dn("alice"), pyldap.SCOPE_BASE)
    refused = ldappasswd("alice", ALICE_PW, ALICE_PW)
    assert refused.returncode != 0 and "not being changed" in refused.stdout, refused.stdout
    refused = ldappasswd("alice", ALICE_PW, "short")
    assert refused.returncode != 0 and "quality" in refused.stdout, refused.stdout

    changed = ldappasswd("alice", ALICE_PW, ALICE_OWN_PW)
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert entries("people", ("pwdReset",))["alice"] == {}
    assert can_bind("alice", ALICE_OWN_PW) and not can_bind("alice", ALICE_PW)
    assert connect(user_dn("alice"), ALICE_OWN_PW).search_s(user_dn("alice"), pyldap.SCOPE_BASE, attrlist=["uid"])
    # The next sync keeps the password she chose, and says it set none.
    again = sync(run_module, definition())
    assert again["changed"] is False and again["passwords_set"] == []
    assert can_bind("alice", ALICE_OWN_PW)
    # update_password=always (add_user.yml -e reset_password=yes): a new initial password, to be changed again.
    reset = sync(run_module, definition(update_password="always"))
    assert reset["passwords_set"] == ["alice"]  # bob's stored password is still the one given
    assert entries("people", ("pwdReset",))["alice"] == {"pwdReset": ["TRUE"]}
    assert can_bind("alice", ALICE_PW) and not can_bind("alice", ALICE_OWN_PW)


def test_secrets_never_appear_in_the_module_output(ldap, run_module):
    hashes = []
    for args, check in ((definition(), True), (definition(), False), (definition(update_password="always"), False)):
        result = run_module(MODULE, args, check_mode=check, diff=True)
        text = json.dumps(result)
        for secret in (os.environ["KDSW_LDAP_BIND_PW"], ALICE_PW, BOB_PW, "$6$"):
            assert secret not in text
        hashes = [entry["userPassword"][0] for entry in entries("people").values() if "userPassword" in entry]
        for stored in hashes:
            assert stored not in text
    assert len(hashes) == 2
    # A failing run does not show them either.
    bad = definition()
    bad["users"].append({"name": "x", "password": "tiny"})
    text = json.dumps(run_module(MODULE, bad))
    assert "tiny" not in text and os.environ["KDSW_LDAP_BIND_PW"] not in text


def test_secrets_never_appear_in_a_verbose_playbook_run(ldap, playbook):
    user_password = "playbook-secret-5c2e8a"
    env = {"KDSW_TEST_USER_PASSWORD": user_password}
    for extra in ((), ("--check", "--diff")):
        run = playbook("tests/functional/playbooks/ldap_user_sync.yml", "-vvv", "--diff", *extra, inventory="localhost,", env=env)
        assert run.rc == 0, run.output[-3000:]
        for secret in (os.environ["KDSW_LDAP_BIND_PW"], user_password, "$6$"):
            assert secret not in run.output
    assert "alice" in entries("people")
    stored = entries("people")["alice"]["userPassword"][0]
    assert stored not in run.output
    assert can_bind("alice", user_password)


# --- connection errors: TLS, credentials, server ------------------------------------------------------

def test_starttls_with_the_test_ca_works(ldap, run_module):
    result = sync(run_module, definition())
    assert result["changed"] is True
    conn = connect()
    assert conn.whoami_s() == ""  # a TLS session was established with the harness's CA


def test_a_wrong_ca_fails_clearly(ldap, run_module, tmp_path):
    other = write_test_pki(tmp_path / "other", name="some other CA")
    mark = ldap.log_offset()
    result = run_module(MODULE, definition(ca_file=other["ca"]))
    assert result["failed"] is True
    assert "StartTLS with" in result["msg"] and "could not be verified with ca_file " + other["ca"] in result["msg"]
    assert ldap.writes(mark) == []


def test_plain_ldap_is_refused_by_the_server(ldap, run_module):
    result = run_module(MODULE, definition(start_tls=False))
    assert result["failed"] is True
    assert "requires TLS: set start_tls=true" in result["msg"]


def test_wrong_bind_password_fails_clearly(ldap, run_module):
    result = run_module(MODULE, definition(bind_pw="not-the-password"))
    assert result["failed"] is True
    assert "refused the bind as" in result["msg"] and "invalid credentials" in result["msg"]
    assert "not-the-password" not in json.dumps(result)


def test_server_down_fails_clearly(ldap, run_module):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    result = run_module(MODULE, definition(server_uri=f"ldap://127.0.0.1:{port}", timeout=5))
    assert result["failed"] is True
    assert f"cannot reach the LDAP server at ldap://127.0.0.1:{port}" in result["msg"]
    assert time.monotonic() - started < 30


def test_missing_base_fails_clearly(ldap, run_module):
    result = run_module(MODULE, definition(people_ou="accounts"))
    assert result["failed"] is True
    assert f"ou=accounts,{base()} does not exist in the directory" in result["msg"]


# --- the directory the role deploys -------------------------------------------------------------------

def test_acls_of_the_role(ldap, run_module):
    """Users read their own entry and the public attributes of others; password hashes serve only to bind; a user writes
    nothing but their own password."""
    sync(run_module, definition())
    connect(user_dn("alice"), ALICE_PW).passwd_s(user_dn("alice"), None, ALICE_OWN_PW)
    alice = connect(user_dn("alice"), ALICE_OWN_PW)
    own = alice.search_s(user_dn("alice"), pyldap.SCOPE_BASE, "(objectClass=*)", ["*"])[0][1]
    assert "userPassword" not in own and own["mail"] == [b"alice@example.org"]
    bob = alice.search_s(user_dn("bob"), pyldap.SCOPE_BASE, "(objectClass=*)", ["*"])[0][1]
    assert set(bob) >= {"uid", "uidNumber", "gidNumber", "homeDirectory", "loginShell"} and "userPassword" not in bob
    assert alice.search_s(f"ou=groups,{base()}", pyldap.SCOPE_ONELEVEL)
    with pytest.raises(pyldap.NO_SUCH_OBJECT):
        alice.search_s(f"ou=policies,{base()}", pyldap.SCOPE_SUBTREE)
    with pytest.raises(pyldap.INSUFFICIENT_ACCESS):
        alice.modify_s(user_dn("alice"), [(pyldap.MOD_REPLACE, "loginShell", [b"/bin/sh"])])
    with pytest.raises(pyldap.INSUFFICIENT_ACCESS):
        alice.modify_s(group_dn("admins"), [(pyldap.MOD_ADD, "memberUid", [b"bob"])])
    for attr, value in (("sshPublicKey", ED25519_2), ("userPassword", "taken-over-by-alice")):
        with pytest.raises(pyldap.INSUFFICIENT_ACCESS):
            alice.modify_s(user_dn("bob") if attr == "userPassword" else user_dn("alice"), [(pyldap.MOD_REPLACE, attr, [value.encode()])])
    # Unauthenticated clients see nothing.
    with pytest.raises(pyldap.NO_SUCH_OBJECT):
        connect().search_s(f"ou=people,{base()}", pyldap.SCOPE_ONELEVEL)


def test_password_policy_locks_out_after_failures(ldap, run_module):
    sync(run_module, definition())
    for dummy in range(5):
        assert not can_bind("bob", "wrong-password")
    assert not can_bind("bob", BOB_PW)  # locked for lockout_duration
    # A temporary lockout is the server's: the sync leaves it alone.
    locked = entries("people")["bob"]["pwdAccountLockedTime"]
    assert locked != ["000001010000Z"]
    assert sync(run_module, definition())["changed"] is False
    assert entries("people")["bob"]["pwdAccountLockedTime"] == locked


def test_templates_render_with_core_jinja2_only():
    """The role's templates must render outside Ansible too (the harness does it); Ansible filters would fail here."""
    from endpoints import render_ldap_templates

    with tempfile.TemporaryDirectory() as directory:
        ldif = render_ldap_templates({"ldap_name": "demo", "ldap_root_password_hash": "{CRYPT}x",
                                      "ldap_reader_password_hash": "{CRYPT}y", "ldap_data_dir": directory})
    assert "olcSuffix: dc=demo,dc=kdsw" in ldif["config"]
    assert "olcRootDN: cn=admin,dc=demo,dc=kdsw" in ldif["config"]
    assert "dn: cn=reader,dc=demo,dc=kdsw" in ldif["base"]
    assert Path(REPO / "roles/ldap/templates/slapd-config.ldif.j2").exists()


def test_the_role_renders_what_the_harness_runs_and_syncs_users(ldap, playbook, tmp_path):
    """The ldap role (ansible.builtin.template) renders the LDIF the harness renders with plain Jinja2, and syncs users."""
    from endpoints import render_ldap_templates

    root_hash = "{CRYPT}$6$rounds=5000$abcdefgh$" + "x" * 86
    env = {"KDSW_TEST_ROOT_HASH": root_hash, "KDSW_TEST_OUT": str(tmp_path)}
    run = playbook("tests/functional/playbooks/ldap_role.yml", "--tags", "ldap", inventory="localhost,", env=env)
    assert run.rc == 0, run.output[-3000:]
    expected = render_ldap_templates({"ldap_name": "rehearsal", "ldap_root_password_hash": root_hash})
    assert (tmp_path / "slapd-config.ldif").read_text().rstrip("\n") == expected["config"].rstrip("\n")
    assert (tmp_path / "base.ldif").read_text().rstrip("\n") == expected["base"].rstrip("\n")
    assert entries("people")["alice"]["uidNumber"] == ["10042"]
    assert entries("groups")["users"]["memberUid"] == ["alice"]
    assert os.environ["KDSW_LDAP_BIND_PW"] not in run.output

    # Without a reachable directory the role renders and skips the sync.
    run = playbook("tests/functional/playbooks/ldap_role.yml", inventory="localhost,",
                   env=dict(env, KDSW_LDAP_URI="ldap://127.0.0.1:9"))
    assert run.rc == 0, run.output[-3000:]
    assert "does not answer: users and groups were not synced" in run.output


def test_allocation_retries_when_another_run_moved_the_high_water_mark(ldap, run_module):
    """A run whose view of cn=uidnext is stale fails its delete of the old value, reads again and allocates after the other run."""
    from types import SimpleNamespace

    from ansible_collections.kdsw.workbench.plugins.module_utils.ldap_client import connect as client_connect
    from ansible_collections.kdsw.workbench.plugins.modules.ldap_user_sync import UserSync

    sync(run_module, connection_args(users=[{"name": f"early{index}"} for index in range(3)]))  # cn=uidnext: 10003
    params = dict(connection_args(), people_ou="people", groups_ou="groups", uid_range=[10000, 59999],
                  gid_range=[10000, 59999], users=[], groups=[])
    run = UserSync(SimpleNamespace(params=params, check_mode=False))
    run.conn = client_connect(params["server_uri"], params["bind_dn"], params["bind_pw"], ca_file=params["ca_file"])
    run.read()
    assert run.pools["uid"] == 10003
    # Another run takes 10003-10007 in the meantime.
    sync(run_module, connection_args(users=[{"name": f"other{index}"} for index in range(5)]))
    mark = ldap.log_offset()
    assert run.allocate("uid", 2, taken=set(), explicit=[]) == [10008, 10009]
    # The stale attempt (a delete of 10003) failed, the second one succeeded.
    assert ldap.writes(mark) == [("MOD", f"cn=uidnext,{base()}"), ("MOD", f"cn=uidnext,{base()}")]
    assert admin().search_s(f"cn=uidnext,{base()}", pyldap.SCOPE_BASE)[0][1]["uidNumber"] == [b"10010"]
