#!/usr/bin/env python3
"""1000 users into the workbench directory: kdsw.workbench.ldap_user_sync versus community.general's LDAP modules.

Starts its own slapd (harness/endpoints.py, configured from roles/ldap) in a temporary state
directory, and in one run against it:

1. ldap_user_sync creates 1000 accounts and their two groups (one task of a playbook), then
   re-syncs them unchanged (the no-op run), both also timed as the module process alone;
2. on a fresh directory (same slapd, reset), the same accounts and memberships are created the
   way a playbook does without it: community.general.ldap_entry for each account and
   community.general.ldap_attrs for each membership, in loops (numbers precomputed, since those
   modules cannot allocate them).

Both end states are read back and compared, then the times are printed side by side with the
ratio. Accounts carry a name, full name, e-mail, an SSH key and groups, no password (password
hashes cost the same to either approach: SHA-512 crypt is slow on purpose).

    .venv/bin/python benchmarks/ldap_user_sync.py [--users N] [--sync-only]

--sync-only skips the community.general loops (about 20 minutes for 1000 users on two cores).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "harness"))

from endpoints import Harness  # noqa: E402  pylint: disable=wrong-import-position

PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIaGEmkfImcpz5ltWBZARdMdc4TcjLjSnA0r0VDMCbSE bench@laptop"

CONNECTION = """
    server_uri: "{{ lookup('ansible.builtin.env', 'KDSW_LDAP_URI') }}"
    bind_dn: "{{ lookup('ansible.builtin.env', 'KDSW_LDAP_BIND_DN') }}"
    bind_pw: "{{ lookup('ansible.builtin.env', 'KDSW_LDAP_BIND_PW') }}"
    start_tls: true"""

SYNC_PLAYBOOK = """---
- name: Users with kdsw.workbench.ldap_user_sync
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  module_defaults:
    kdsw.workbench.ldap_user_sync:%(connection)s
      ca_file: "{{ lookup('ansible.builtin.env', 'KDSW_LDAP_CA') }}"
      base_dn: "{{ lookup('ansible.builtin.env', 'KDSW_LDAP_BASE_DN') }}"
  tasks:
    - name: Sync
      kdsw.workbench.ldap_user_sync:
        users: "{{ bench_users }}"
        groups: "{{ bench_groups }}"
""" % {"connection": CONNECTION.replace("\n    ", "\n      ")}

LOOP_PLAYBOOK = """---
- name: Users with community.general.ldap_entry and ldap_attrs
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    base: "{{ lookup('ansible.builtin.env', 'KDSW_LDAP_BASE_DN') }}"
  module_defaults:
    community.general.ldap_entry:%(connection)s
      ca_path: "{{ lookup('ansible.builtin.env', 'KDSW_LDAP_CA') }}"
    community.general.ldap_attrs:%(connection)s
      ca_path: "{{ lookup('ansible.builtin.env', 'KDSW_LDAP_CA') }}"
  tasks:
    - name: Groups
      community.general.ldap_entry:
        dn: "cn={{ item.name }},ou=groups,{{ base }}"
        objectClass: [posixGroup, kdswGroup]
        attributes:
          cn: "{{ item.name }}"
          gidNumber: "{{ item.gid }}"
      loop: "{{ bench_groups }}"
    - name: Accounts
      community.general.ldap_entry:
        dn: "uid={{ item.name }},ou=people,{{ base }}"
        objectClass: [inetOrgPerson, posixAccount, ldapPublicKey, kdswAccount]
        attributes:
          uid: "{{ item.name }}"
          cn: "{{ item.full_name }}"
          sn: "{{ item.full_name.split()[-1] }}"
          displayName: "{{ item.full_name }}"
          mail: "{{ item.email }}"
          uidNumber: "{{ item.uid_number }}"
          gidNumber: "100"
          homeDirectory: "/home/{{ item.name }}"
          loginShell: /bin/bash
          sshPublicKey: "{{ item.ssh_keys[0] }}"
      loop: "{{ bench_users }}"
      loop_control:
        label: "{{ item.name }}"
    - name: Memberships
      community.general.ldap_attrs:
        dn: "cn={{ item.1 }},ou=groups,{{ base }}"
        attributes:
          memberUid: "{{ item.0.name }}"
          member: "uid={{ item.0.name }},ou=people,{{ base }}"
        state: present
      loop: "{{ bench_users | subelements('groups') }}"
      loop_control:
        label: "{{ item.0.name }} in {{ item.1 }}"
""" % {"connection": CONNECTION.replace("\n    ", "\n      ")}


def users(count):
    return [{"name": f"user{index:04d}", "full_name": f"Bench User{index:04d}", "email": f"user{index:04d}@example.org",
             "ssh_keys": [KEY], "groups": ["users"] + (["admins"] if index % 10 == 0 else [])}
            for index in range(count)]


def playbook(env, directory, name, text, extra):
    path = Path(directory) / name
    path.write_text(text)
    variables = Path(directory) / "vars.json"
    variables.write_text(json.dumps(extra))
    started = time.monotonic()
    proc = subprocess.run([PLAYBOOK, "-i", "localhost,", str(path), "-e", f"@{variables}"], cwd=REPO, env=env,
                          capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"{name} failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    changed = [int(value) for value in __import__("re").findall(r"changed=(\d+)", proc.stdout)]
    return elapsed, sum(changed)


def module_alone(env, args):
    """The module as one process fed its arguments, as Ansible runs it (no ansible-playbook around it)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "ansible_collections.kdsw.workbench.plugins.modules.ldap_user_sync", handle.name],
                          capture_output=True, text=True, check=False, env=dict(env, PYTHONPATH=str(REPO / ".collections")))
    elapsed = time.monotonic() - started
    os.unlink(handle.name)
    result = json.loads(proc.stdout)
    if result.get("failed"):
        sys.exit(f"ldap_user_sync failed: {result.get('msg')}")
    return elapsed, result


def snapshot(env):
    """The accounts and groups as (dn, sorted attribute values), for comparing the two end states."""
    import ldap

    conn = ldap.initialize(env["KDSW_LDAP_URI"])
    conn.set_option(ldap.OPT_X_TLS_CACERTFILE, env["KDSW_LDAP_CA"])
    conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
    conn.start_tls_s()
    conn.simple_bind_s(env["KDSW_LDAP_BIND_DN"], env["KDSW_LDAP_BIND_PW"])
    state = {}
    for ou in ("people", "groups"):
        for dn, attrs in conn.search_s(f"ou={ou},{env['KDSW_LDAP_BASE_DN']}", ldap.SCOPE_ONELEVEL, "(objectClass=*)",
                                       ["*", "memberOf"]):
            state[dn] = {key: sorted(values) for key, values in attrs.items()}
    conn.unbind_s()
    return state


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--sync-only", action="store_true", help="skip the community.general loops")
    options = parser.parse_args()
    accounts = users(options.users)
    with tempfile.TemporaryDirectory() as state_dir:
        harness = Harness(Path(state_dir) / "endpoints")
        try:
            env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_PIPELINING="True",
                       **harness.start(["slapd"]))
            slapd = harness.endpoint("slapd")
            args = {"server_uri": env["KDSW_LDAP_URI"], "bind_dn": env["KDSW_LDAP_BIND_DN"], "bind_pw": env["KDSW_LDAP_BIND_PW"],
                    "base_dn": env["KDSW_LDAP_BASE_DN"], "ca_file": env["KDSW_LDAP_CA"], "users": accounts,
                    "groups": [{"name": "users"}, {"name": "admins"}]}
            rows = []

            # 1. ldap_user_sync, as a playbook task and as the module alone.
            mark = slapd.log_offset()
            seconds, changed = playbook(env, state_dir, "sync.yml", SYNC_PLAYBOOK,
                                        {"bench_users": accounts, "bench_groups": args["groups"]})
            rows.append(("ldap_user_sync: create (playbook)", seconds, len(slapd.writes(mark)), changed))
            synced = snapshot(env)
            mark = slapd.log_offset()
            seconds, changed = playbook(env, state_dir, "sync.yml", SYNC_PLAYBOOK,
                                        {"bench_users": accounts, "bench_groups": args["groups"]})
            rows.append(("ldap_user_sync: no-op (playbook)", seconds, len(slapd.writes(mark)), changed))
            mark = slapd.log_offset()
            seconds, result = module_alone(env, args)
            rows.append(("ldap_user_sync: no-op (module)", seconds, len(slapd.writes(mark)), int(result["changed"])))
            slapd.reset()
            mark = slapd.log_offset()
            seconds, result = module_alone(env, args)
            rows.append(("ldap_user_sync: create (module)", seconds, len(slapd.writes(mark)), int(result["changed"])))
            gids = {group["name"]: group["gid_number"] for group in result["groups"]}
            uids = {user["name"]: user["uid_number"] for user in result["users"]}

            same = True
            if options.sync_only:
                return report(options, rows, same)
            # 2. community.general.ldap_entry + ldap_attrs in loops, on a fresh directory.
            slapd.reset()
            looped = [dict(account, uid_number=uids[account["name"]]) for account in accounts]
            mark = slapd.log_offset()
            seconds, changed = playbook(env, state_dir, "loop.yml", LOOP_PLAYBOOK, {
                "bench_users": looped, "bench_groups": [{"name": name, "gid": gid} for name, gid in gids.items()]})
            rows.append(("ldap_entry + ldap_attrs loops", seconds, len(slapd.writes(mark)), changed))
            same = snapshot(env) == synced
        finally:
            harness.stop()

    return report(options, rows, same)


def report(options, rows, same):
    print(f"{options.users} accounts, 2 groups, one slapd"
          + ("" if len(rows) < 5 else " (same end state both ways)" if same else " (END STATES DIFFER)"))
    print(f"{'run':<36}{'seconds':>9}{'LDAP writes':>13}{'changed':>9}")
    for label, seconds, writes, changed in rows:
        print(f"{label:<36}{seconds:>9.2f}{writes:>13}{changed:>9}")
    if len(rows) >= 5:
        print(f"ldap_entry/ldap_attrs loops vs ldap_user_sync (create, playbook): {rows[4][1] / rows[0][1]:.0f}x slower")
    print(f"no-op re-sync of {options.users} accounts: {rows[1][1]:.2f} s through ansible-playbook, {rows[2][1]:.2f} s for the module")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
