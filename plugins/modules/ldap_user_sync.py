#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the kdsw.workbench project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ldap_user_sync
short_description: Keep the users and groups of an OpenLDAP directory as declared, in one call
version_added: 0.1.0
description:
  - Makes the accounts of one organizational unit (O(people_ou)) and the groups of another (O(groups_ou)) of an LDAP
    directory match a declared list of users and groups, over a single connection.
  - Reads what exists with a few searches, computes the difference entry by entry, and writes only that difference
    (one add, modify or delete per entry that differs). A run that finds nothing to change writes nothing.
  - "Every input is checked before anything is written: invalid names, duplicate names, uid or gid numbers, malformed
    SSH keys, groups that are not declared, too short passwords, and conflicts with the directory (a uid number that
    another account holds, an account whose uid number would change) are reported together, and then nothing is
    written."
  - "B(Accounts) are C(uid=<name>) entries of the object classes C(inetOrgPerson), C(posixAccount), C(ldapPublicKey)
    (openssh-lpk, attribute C(sshPublicKey)) and C(kdswAccount) (the workbench schema of the C(ldap) role)."
  - "B(Groups) are C(cn=<name>) entries of the object classes C(posixGroup) and C(kdswGroup). Each member is listed twice:
    by name in C(memberUid) (RFC 2307: what NSS, sssd and the bastion read, and what the default C(group_search_filter)
    of JupyterHub's LDAPAuthenticator 2 matches with C(memberUid={uid})) and by DN in C(member) (which the same filter
    matches with C(member={userdn}), and from which the C(memberof) overlay keeps C(memberOf) on every account).
    RFC 2307 makes C(posixGroup) structural, so C(groupOfNames) cannot be added to it; C(kdswGroup) is the auxiliary
    class that allows C(member). Members are added and removed value by value, never replaced whole, so runs that overlap
    (each listing its own users, with O(purge=false)) keep each other's members."
  - "B(Disabled accounts) keep their entry, uid and gid numbers and home directory (files keep their owner; the uid is
    never given to someone else) but cannot log in in any way: C(kdswDisabled=TRUE) is set (the marker to filter on:
    the bastion's AuthorizedKeysCommand and account lookups use C((!(kdswDisabled=TRUE)))),
    C(pwdAccountLockedTime=000001010000Z) is set (the ppolicy overlay then refuses every password bind, also JupyterHub's),
    C(loginShell) becomes O(disabled_shell), every C(sshPublicKey) is removed and the account is removed from every
    group of O(groups_ou). Its password hash is kept, unusable while the lock is set, so that enabling the account
    again (O(users[].state=present)) restores it together with the shell, keys and groups of its declaration."
  - "B(uid and gid numbers) not given are allocated from O(uid_range) and O(gid_range) and never reused: the next free
    number of each range is kept in the entries C(cn=uidnext) (C(uidNumber)) and C(cn=gidnext) (C(gidNumber)) right under
    O(base_dn), object class C(kdswIdPool). A run takes a block of numbers with one modify that deletes the value it read
    and adds the new one; if another run changed the value in between, the delete fails, and the run reads again and
    retries, so concurrent runs never hand out the same number. The C(unique) overlay of the C(ldap) role refuses two
    accounts with one uid number in any case."
  - "B(Passwords) are hashed on the machine that runs the module before they are sent: C({CRYPT}) with SHA-512 crypt
    (C($6$rounds=N$salt$hash)), which Debian's slapd checks with the system's crypt(3) without any extra module."
  - "A password the module sets is an initial password: the entry also gets C(pwdReset=TRUE) (the ppolicy overlay does
    the same by itself when an administrator replaces a password under a policy with C(pwdMustChange)). Under the C(ldap)
    role's policy the account can then do nothing but change its password (Password Modify operation, C(ldappasswd)) until
    it has; RV(passwords_set) names the accounts whose password was set."
  - Supports check mode (nothing is written, numbers that would be allocated are predicted) and diff mode (the
    attributes of each entry before and after; password hashes are never shown).
author:
  - kdsw.workbench maintainers (@kdsw)
requirements:
  - python-ldap
options:
  server_uri:
    description:
      - The directory, as an LDAP URI such as V(ldap://ldap.example.org:389) (with O(start_tls)), V(ldaps://ldap.example.org)
        or V(ldapi:///) (local socket, no TLS).
    type: str
    required: true
  bind_dn:
    description:
      - The identity that writes, normally the directory's administrator (C(olcRootDN)).
    type: str
    required: true
  bind_pw:
    description:
      - The password of O(bind_dn).
    type: str
    required: true
  start_tls:
    description:
      - Whether to upgrade an V(ldap://) connection with StartTLS before binding. Ignored for V(ldaps://) and V(ldapi://).
    type: bool
    default: true
  ca_file:
    description:
      - The CA certificate (PEM) that signed the server's certificate. Without it, the system's CAs are used.
    type: path
  validate_certs:
    description:
      - Whether to verify the server's certificate and host name. Set to V(false) only in tests.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for the connection and for each operation.
    type: int
    default: 30
  base_dn:
    description:
      - The suffix of the directory, such as V(dc=kdsw,dc=kdsw).
    type: str
    required: true
  people_ou:
    description:
      - The organizational unit of the accounts, right under O(base_dn). The module manages the accounts of this unit only.
    type: str
    default: people
  groups_ou:
    description:
      - The organizational unit of the groups, right under O(base_dn). The module manages the groups of this unit only.
    type: str
    default: groups
  uid_range:
    description:
      - The lowest and highest uid number given to accounts whose O(users[].uid_number) is not set.
    type: list
    elements: int
    default: [10000, 59999]
  gid_range:
    description:
      - The lowest and highest gid number given to groups whose O(groups[].gid_number) is not set.
    type: list
    elements: int
    default: [10000, 59999]
  default_gid_number:
    description:
      - The primary gid number of accounts whose O(users[].gid_number) is not set (100 is C(users) on Debian and in
        Jupyter's images).
    type: int
    default: 100
  default_shell:
    description:
      - The login shell of accounts whose O(users[].shell) is not set.
    type: str
    default: /bin/bash
  disabled_shell:
    description:
      - The login shell of disabled accounts.
    type: str
    default: /usr/sbin/nologin
  home_base:
    description:
      - Home directories are C(<home_base>/<name>) unless O(users[].home) is set.
    type: str
    default: /home
  update_password:
    description:
      - V(on_create) sets a password only when the account is created (or has no password yet), so that a password the
        user changed is kept.
      - V(always) also replaces the password of an existing account when it is not the one given; the stored hash is
        checked against the given password on this machine, so an unchanged password is not rewritten.
    type: str
    choices: [on_create, always]
    default: on_create
  password_hash_rounds:
    description:
      - Rounds of SHA-512 crypt for new password hashes (1000 to 999999999). More rounds make guessing slower, and each
        hash too.
    type: int
    default: 100000
  password_min_length:
    description:
      - Shortest password accepted (slapd only sees hashes and cannot check length itself).
    type: int
    default: 8
  purge:
    description:
      - "What happens to entries of O(people_ou) and O(groups_ou) that O(users) and O(groups) do not list."
      - "V(false): they are left alone. Group memberships of accounts that O(users) does not list are kept too."
      - "V(true): accounts that are not listed are B(disabled) (never deleted: deleting an account takes
        O(users[].state=absent)), groups that are not listed are deleted, and the members of the listed groups are
        exactly the enabled listed accounts that name them."
      - Entries outside the two organizational units are never touched.
    type: bool
    default: false
  users:
    description:
      - The accounts.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - The login name (C(uid)), of up to 32 lowercase letters, digits, C(_) and C(-), starting with a letter or C(_).
        type: str
        required: true
      uid_number:
        description:
          - The uid number. Allocated from O(uid_range) when not set; the number of an existing account is kept and
            cannot be changed (files on the home file system are owned by it).
        type: int
        aliases: [uid]
      gid_number:
        description:
          - The primary gid number; O(default_gid_number) when not set.
        type: int
      full_name:
        description:
          - The person's name (C(cn) and C(displayName); its last word is C(sn)). The login name when not set.
        type: str
      email:
        description:
          - The e-mail address (C(mail)).
        type: str
      shell:
        description:
          - The login shell; O(default_shell) when not set.
        type: str
      home:
        description:
          - The home directory; C(<home_base>/<name>) when not set.
        type: str
      groups:
        description:
          - Names of groups the account belongs to. Each must be declared in O(groups).
        type: list
        elements: str
        default: []
      ssh_keys:
        description:
          - SSH public keys (lines of C(~/.ssh/id_*.pub)) stored as C(sshPublicKey).
        type: list
        elements: str
        default: []
      password:
        description:
          - The initial password, hashed before it leaves this machine, that the user must change (C(pwdReset=TRUE)). When
            not set, the stored password (if any) is kept.
          - See O(update_password); RV(passwords_set) says whether it was set.
        type: str
      state:
        description:
          - V(present) - the account exists and can log in.
          - V(disabled) - the account exists and cannot log in (see the description).
          - V(absent) - the account is deleted and removed from every group. Its uid number is not given to anybody else.
        type: str
        choices: [present, disabled, absent]
        default: present
  groups:
    description:
      - The groups. Members come from O(users[].groups).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - The group name (C(cn)), with the rules of user names.
        type: str
        required: true
      gid_number:
        description:
          - The gid number. Allocated from O(gid_range) when not set; the number of an existing group is kept and cannot
            be changed.
        type: int
        aliases: [gid]
      description:
        description:
          - What the group is for.
        type: str
      state:
        description:
          - V(present) or V(absent) (the group is deleted; its gid number is not given to another group).
        type: str
        choices: [present, absent]
        default: present
notes:
  - Writes are pipelined over the single connection; when one of them fails (another program changed the directory in
    the meantime), the module reports each failed entry and what was done before.
  - In check mode, uid and gid numbers that would be allocated are predicted from the allocation entries; a concurrent
    run may take them first.
seealso:
  - name: The ldap role
    description: The slapd configuration (schemas, overlays, ACLs) this module expects, ansible-doc -t role kdsw.workbench.ldap.
    link: https://github.com/kdsw/workbench/tree/main/roles/ldap
  - module: community.general.ldap_entry
"""

EXAMPLES = r"""
- name: Users and groups of the workbench
  kdsw.workbench.ldap_user_sync:
    server_uri: ldap://ldap.ldap.svc.cluster.local:389
    ca_file: /etc/kdsw/ldap-ca.crt
    bind_dn: cn=admin,dc=kdsw,dc=kdsw
    bind_pw: "{{ ldap_admin_password }}"
    base_dn: dc=kdsw,dc=kdsw
    groups:
      - name: users
        description: Workbench users
      - name: admins
        gid_number: 20000
    users:
      - name: alice
        full_name: Alice Liddell
        email: alice@example.org
        groups: [users, admins]
        ssh_keys:
          - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIaGEmkfImcpz5ltWBZARdMdc4TcjLjSnA0r0VDMCbSE alice@laptop
        password: "{{ vault_alice_password }}"
      - name: bob
        state: disabled
  register: directory

- name: Everybody not listed loses access (disabled, not deleted)
  kdsw.workbench.ldap_user_sync:
    server_uri: ldaps://ldap.example.org
    bind_dn: cn=admin,dc=kdsw,dc=kdsw
    bind_pw: "{{ ldap_admin_password }}"
    base_dn: dc=kdsw,dc=kdsw
    users: "{{ workbench.users }}"
    groups: "{{ workbench.groups }}"
    purge: true
"""

RETURN = r"""
added:
  description: Names of the accounts and groups that were created (or would be, in check mode).
  returned: always
  type: dict
  contains:
    users:
      description: Account names.
      type: list
      elements: str
    groups:
      description: Group names.
      type: list
      elements: str
  sample: {"users": ["alice"], "groups": ["users"]}
modified:
  description: Names of the existing accounts and groups whose entries changed, other than newly disabled accounts.
  returned: always
  type: dict
  contains:
    users:
      description: Account names.
      type: list
      elements: str
    groups:
      description: Group names.
      type: list
      elements: str
  sample: {"users": ["carol"], "groups": ["admins"]}
passwords_set:
  description:
    - Names of the accounts whose password this run set (or would set, in check mode), marked C(pwdReset=TRUE). An account
      that is not listed kept its password.
  returned: always
  type: list
  elements: str
  sample: ["alice"]
disabled:
  description: Names of the accounts that were enabled and are now disabled (listed as disabled, or not listed with O(purge=true)).
  returned: always
  type: list
  elements: str
  sample: ["bob"]
removed:
  description: Names of the accounts and groups that were deleted.
  returned: always
  type: dict
  contains:
    users:
      description: Account names.
      type: list
      elements: str
    groups:
      description: Group names.
      type: list
      elements: str
  sample: {"users": ["dave"], "groups": []}
users:
  description: The listed accounts that exist after the run, with their numbers (allocated ones included).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Login name.
      type: str
    dn:
      description: DN of the entry.
      type: str
    uid_number:
      description: uid number (predicted for new accounts in check mode).
      type: int
    gid_number:
      description: Primary gid number.
      type: int
    home:
      description: Home directory.
      type: str
    shell:
      description: Login shell.
      type: str
    state:
      description: V(present) or V(disabled).
      type: str
  sample: [{"name": "alice", "dn": "uid=alice,ou=people,dc=kdsw,dc=kdsw", "uid_number": 10000, "gid_number": 100,
            "home": "/home/alice", "shell": "/bin/bash", "state": "present"}]
groups:
  description: The listed groups that exist after the run.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Group name.
      type: str
    dn:
      description: DN of the entry.
      type: str
    gid_number:
      description: gid number (predicted for new groups in check mode).
      type: int
    members:
      description: Names of the members.
      type: list
      elements: str
  sample: [{"name": "users", "dn": "cn=users,ou=groups,dc=kdsw,dc=kdsw", "gid_number": 10000, "members": ["alice"]}]
diff:
  description:
    - With diff mode, one item per entry that changes, with the managed attributes before and after.
    - Password hashes are shown as V((hidden)) and, when they change, V((hidden, changed)).
  returned: when diff mode is on
  type: list
  elements: dict
"""

import re

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kdsw.workbench.plugins.module_utils.ldap_client import (
    HAS_LDAP,
    LDAP_IMPORT_ERROR,
    LdapClientError,
    Writer,
    connect,
    describe,
    escape_dn_value,
    search,
)
from ansible_collections.kdsw.workbench.plugins.module_utils.ldap_password import hash_password, verify_password
from ansible_collections.kdsw.workbench.plugins.module_utils.ssh_keys import normalize_ssh_key, ssh_key_problem

if HAS_LDAP:
    import ldap

POSIX_NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PATH_RE = re.compile(r"^/[^\s:]*$")
MIN_ID = 1000
MAX_ID = 4294967294
LOCKED = "000001010000Z"
HIDDEN = "(hidden)"
HIDDEN_CHANGED = "(hidden, changed)"

USER_CLASSES = ("inetOrgPerson", "posixAccount", "ldapPublicKey", "kdswAccount")
GROUP_CLASSES = ("posixGroup", "kdswGroup")
# The attributes of an account the module keeps as declared (userPassword is handled apart).
USER_ATTRS = ("cn", "sn", "displayName", "mail", "uidNumber", "gidNumber", "homeDirectory", "loginShell",
              "sshPublicKey", "kdswDisabled", "pwdAccountLockedTime")
# What a disabled account looks like; an account disabled because it is not listed only gets these.
DISABLE_ATTRS = ("loginShell", "sshPublicKey", "kdswDisabled", "pwdAccountLockedTime")
GROUP_ATTRS = ("gidNumber", "description", "memberUid", "member")
# Written as the values added and removed, never replaced whole: runs that overlap (two add_user.yml) then keep each other's members.
MEMBER_ATTRS = ("memberUid", "member")
POOL = {"uid": ("cn=uidnext", "uidNumber"), "gid": ("cn=gidnext", "gidNumber")}
CANONICAL = {name.lower(): name for name in USER_ATTRS + GROUP_ATTRS + ("objectClass", "uid", "cn", "userPassword", "pwdReset")}


def _decode(values):
    return [value.decode("utf-8", "replace") if isinstance(value, bytes) else value for value in values]


def _normalize_entry(attrs):
    """{canonical attribute name: [str]} of a search result's attributes."""
    return {CANONICAL.get(name.lower(), name): _decode(values) for name, values in attrs.items()}


def _unique(values):
    seen, result = set(), []
    for value in values:
        if value not in seen:
            seen.add(value)
            result.append(value)
    return result


class Problems(list):
    def add(self, key, text):
        self.append("%s: %s" % (key, text))


class UserSync:
    """One run: validate, read, plan, allocate, write."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.check_mode = module.check_mode
        base = self.params["base_dn"]
        self.base_dn = base
        self.people_dn = "ou=%s,%s" % (escape_dn_value(self.params["people_ou"]), base)
        self.groups_dn = "ou=%s,%s" % (escape_dn_value(self.params["groups_ou"]), base)
        self.users = self.params["users"] or []
        self.groups = self.params["groups"] or []
        self.conn = None
        self.existing_users = {}   # name -> (dn, attrs)
        self.existing_groups = {}  # name -> (dn, attrs)
        self.pools = {}            # kind -> current next number, or None
        self.operations = []       # (phase, kind, action, name, dn, payload, category, before, after)
        self.password_writes = set()  # names of the accounts whose operation sets a password
        self.result = {
            "added": {"users": [], "groups": []},
            "modified": {"users": [], "groups": []},
            "disabled": [],
            "passwords_set": [],
            "removed": {"users": [], "groups": []},
            "users": [],
            "groups": [],
        }

    # --- names ----------------------------------------------------------------------------------
    def user_dn(self, name):
        return "uid=%s,%s" % (escape_dn_value(name), self.people_dn)

    def group_dn(self, name):
        return "cn=%s,%s" % (escape_dn_value(name), self.groups_dn)

    def pool_dn(self, kind):
        return "%s,%s" % (POOL[kind][0], self.base_dn)

    # --- 1. input, before any connection --------------------------------------------------------
    def validate_input(self):
        problems = Problems()
        params = self.params
        for option in ("uid_range", "gid_range"):
            bounds = params[option]
            if len(bounds) != 2 or not MIN_ID <= bounds[0] <= bounds[1] <= MAX_ID:
                problems.add(option, "%r is not a range [lowest, highest] within %d-%d" % (bounds, MIN_ID, MAX_ID))
        if not 1000 <= params["password_hash_rounds"] <= 999999999:
            problems.add("password_hash_rounds", "%d is outside 1000-999999999" % params["password_hash_rounds"])
        for option in ("default_shell", "disabled_shell", "home_base"):
            if not PATH_RE.match(params[option] or ""):
                problems.add(option, "%r is not an absolute path" % params[option])

        declared, group_names, gids = {}, {}, {}
        for index, group in enumerate(self.groups):
            key = "groups[%d]" % index
            name = group["name"]
            if not POSIX_NAME_RE.match(name or ""):
                problems.add(key + ".name", "%r is not a valid group name; use up to 32 lowercase letters, digits, '_' and '-', "
                                            "starting with a letter or '_'" % name)
            elif name in group_names:
                problems.add(key + ".name", "group %r is already declared as groups[%d]; declare each group once" % (name, group_names[name]))
            else:
                group_names[name] = index
                declared[name] = group["state"]
            gid = group.get("gid_number")
            if gid is not None:
                if not MIN_ID <= gid <= MAX_ID:
                    problems.add(key + ".gid_number", "%d is outside %d-%d" % (gid, MIN_ID, MAX_ID))
                elif gid in gids:
                    problems.add(key + ".gid_number", "gid %d is already the gid of group %r; give each group its own gid" % (gid, gids[gid]))
                else:
                    gids[gid] = name

        user_names, uids = {}, {}
        for index, user in enumerate(self.users):
            name = user["name"]
            key = "users[%d]" % index
            if not POSIX_NAME_RE.match(name or ""):
                problems.add(key + ".name", "%r is not a valid user name; use up to 32 lowercase letters, digits, '_' and '-', "
                                            "starting with a letter or '_'" % name)
            elif name in user_names:
                problems.add(key + ".name", "user %r is already listed as users[%d]; list each user once" % (name, user_names[name]))
            else:
                user_names[name] = index
            key = "users[%d] (%s)" % (index, name)
            for option in ("uid_number", "gid_number"):
                number = user.get(option)
                if number is not None and not MIN_ID <= number <= MAX_ID and not (option == "gid_number" and 100 <= number < MIN_ID):
                    problems.add(key + "." + option, "%d is outside %d-%d" % (number, MIN_ID, MAX_ID))
            uid = user.get("uid_number")
            if uid is not None:
                if uid in uids:
                    problems.add(key + ".uid_number", "uid %d is already the uid of user %r; give each user its own uid "
                                                      "(or leave uid_number out to have one allocated)" % (uid, uids[uid]))
                else:
                    uids[uid] = name
            email = user.get("email")
            if email is not None and not EMAIL_RE.match(email):
                problems.add(key + ".email", "%r is not an e-mail address" % email)
            for option in ("shell", "home"):
                if user.get(option) is not None and not PATH_RE.match(user[option]):
                    problems.add(key + "." + option, "%r is not an absolute path" % user[option])
            if user.get("full_name") is not None and not user["full_name"].strip():
                problems.add(key + ".full_name", "is empty; write the person's name or leave full_name out")
            for position, ssh_key in enumerate(user.get("ssh_keys") or []):
                problem = ssh_key_problem(ssh_key)
                if problem:
                    problems.add("%s.ssh_keys[%d]" % (key, position), problem)
            for position, group in enumerate(user.get("groups") or []):
                if group not in declared:
                    known = ", ".join(sorted(declared)) or "none"
                    problems.add("%s.groups[%d]" % (key, position),
                                 "group %r is not declared; add it to groups or use a declared group (%s)" % (group, known))
                elif declared[group] == "absent" and user["state"] == "present":
                    problems.add("%s.groups[%d]" % (key, position), "group %r is declared with state absent" % group)
            password = user.get("password")
            if password is not None and len(password) < self.params["password_min_length"]:
                problems.add(key + ".password", "is shorter than %d characters" % self.params["password_min_length"])
        return problems

    # --- 2. what exists -------------------------------------------------------------------------
    def read(self):
        scope = ldap.SCOPE_ONELEVEL
        attrs = ["objectClass", "uid", "userPassword", "pwdReset"] + list(USER_ATTRS)
        for dn, entry in search(self.conn, self.people_dn, scope, "(objectClass=*)", attrs):
            entry = _normalize_entry(entry)
            names = entry.get("uid") or []
            rdn = ldap.dn.str2dn(dn)[0][0]
            name = rdn[1] if rdn[0].lower() == "uid" else (names[0] if names else None)
            if name is not None:
                self.existing_users[name] = (dn, entry)
        for dn, entry in search(self.conn, self.groups_dn, scope, "(objectClass=*)", ["objectClass", "cn"] + list(GROUP_ATTRS)):
            entry = _normalize_entry(entry)
            rdn = ldap.dn.str2dn(dn)[0][0]
            if rdn[0].lower() == "cn":
                self.existing_groups[rdn[1]] = (dn, entry)
        for kind in POOL:
            self.pools[kind] = self.read_pool(kind)

    def read_pool(self, kind):
        found = search(self.conn, self.pool_dn(kind), ldap.SCOPE_BASE, "(objectClass=*)", [POOL[kind][1]], missing_ok=True)
        if not found:
            return None
        values = _normalize_entry(found[0][1]).get(POOL[kind][1]) or []
        return int(values[0]) if values else None

    @staticmethod
    def is_account(entry):
        return "posixaccount" in [value.lower() for value in entry.get("objectClass", [])]

    @staticmethod
    def is_group(entry):
        return "posixgroup" in [value.lower() for value in entry.get("objectClass", [])]

    @staticmethod
    def number(entry, attr):
        values = entry.get(attr) or []
        try:
            return int(values[0]) if values else None
        except ValueError:
            return None

    # --- 3. conflicts with the directory --------------------------------------------------------
    def validate_against_directory(self):
        problems = Problems()
        self.number_conflicts(problems, "users", self.users, self.existing_users, self.is_account,
                              ("uid", "uidNumber", "posixAccount", "account"),
                              " (files on the home file system are owned by it)")
        self.number_conflicts(problems, "groups", self.groups, self.existing_groups, self.is_group,
                              ("gid", "gidNumber", "posixGroup", "group"), "")
        return problems

    def number_conflicts(self, problems, option, items, existing_entries, is_kind, names, why):
        """Declared uid (gid) numbers that contradict the directory: a changed number, or one another entry holds."""
        number_name, attribute, object_class, noun = names
        owner = {}
        for name, (dn, entry) in existing_entries.items():
            if is_kind(entry) and self.number(entry, attribute) is not None:
                owner[self.number(entry, attribute)] = name
        for index, item in enumerate(items):
            name, key = item["name"], "%s[%d] (%s)" % (option, index, item["name"])
            existing = existing_entries.get(name)
            if existing and not is_kind(existing[1]):
                problems.add(key, "%s exists but is not a %s; remove or rename that entry" % (existing[0], object_class))
                continue
            number = item.get(number_name + "_number")
            if number is None or item["state"] == "absent":
                continue
            current = self.number(existing[1], attribute) if existing else None
            if existing and current is not None and current != number:
                problems.add(key + "." + number_name + "_number",
                             "the %s exists with %s %d; a %s number cannot change%s: use %d or leave %s_number out"
                             % (noun, number_name, current, number_name, why, current, number_name))
            elif owner.get(number, name) != name:
                problems.add(key + "." + number_name + "_number", "%s %d belongs to the existing %s %r; choose another or leave %s_number out"
                             % (number_name, number, noun, owner[number], number_name))

    # --- 4. numbers -----------------------------------------------------------------------------
    def allocate(self, kind, count, taken, explicit):
        """count new numbers of the range of kind, never handed out before; explicit: numbers given in the input."""
        low, high = self.params["%s_range" % kind]
        attr = POOL[kind][1]
        explicit_in_range = [number for number in explicit if low <= number <= high]
        current = self.pools.get(kind)
        for dummy in range(50):
            if current is None:
                in_range = [number for number in taken if low <= number <= high]
                start = max([low] + [number + 1 for number in in_range])
            else:
                start = current
            numbers, candidate = [], start
            while len(numbers) < count:
                if candidate > high:
                    raise LdapClientError("the %s range %d-%d is exhausted: widen %s_range" % (kind, low, high, kind))
                if candidate not in taken:
                    numbers.append(candidate)
                candidate += 1
            following = max([candidate] + [number + 1 for number in explicit_in_range])
            if following == current or (current is None and not numbers and not explicit_in_range) or self.check_mode:
                return numbers
            try:
                if current is None:
                    self.conn.add_s(self.pool_dn(kind), [
                        ("objectClass", [b"kdswIdPool"]),
                        ("cn", [POOL[kind][0].split("=", 1)[1].encode()]),
                        (attr, [str(following).encode()]),
                        ("description", [("next free %s number of the range %d-%d (kdsw.workbench.ldap_user_sync)"
                                          % (kind, low, high)).encode()]),
                    ])
                else:
                    self.conn.modify_s(self.pool_dn(kind), [
                        (ldap.MOD_DELETE, attr, [str(current).encode()]),
                        (ldap.MOD_ADD, attr, [str(following).encode()]),
                    ])
            except (ldap.NO_SUCH_ATTRIBUTE, ldap.ALREADY_EXISTS):
                # Another run allocated in between: read its high-water mark and start again from there.
                current = self.read_pool(kind)
                continue
            except ldap.LDAPError as error:
                raise LdapClientError("allocating %s numbers in %s failed: %s" % (kind, self.pool_dn(kind), describe(error)))
            self.pools[kind] = following
            return numbers
        raise LdapClientError("allocating %s numbers in %s failed: other runs kept changing it" % (kind, self.pool_dn(kind)))

    # --- 5. the plan ----------------------------------------------------------------------------
    def plan(self):
        users_by_name = {user["name"]: user for user in self.users}
        present = {name for name, user in users_by_name.items() if user["state"] == "present"}
        not_listed = {name for name, (dn, entry) in self.existing_users.items()
                      if name not in users_by_name and self.is_account(entry)}
        purge_disabled = {name for name in not_listed if self.params["purge"]
                          and "TRUE" not in (self.existing_users[name][1].get("kdswDisabled") or [])}

        # Numbers for the new accounts and groups.
        new_users = [user for user in self.users if user["state"] != "absent" and user["name"] not in self.existing_users
                     and user.get("uid_number") is None]
        taken_uids = {self.number(entry, "uidNumber") for dn, entry in self.existing_users.values()}
        taken_uids |= {user["uid_number"] for user in self.users if user.get("uid_number") is not None}
        explicit_uids = [user["uid_number"] for user in self.users if user.get("uid_number") is not None
                         and user["state"] != "absent" and user["name"] not in self.existing_users]
        uids = dict(zip([user["name"] for user in new_users], self.allocate("uid", len(new_users), taken_uids, explicit_uids)))
        new_groups = [group for group in self.groups if group["state"] == "present" and group["name"] not in self.existing_groups
                      and group.get("gid_number") is None]
        taken_gids = {self.number(entry, "gidNumber") for dn, entry in self.existing_groups.values()}
        taken_gids |= {group["gid_number"] for group in self.groups if group.get("gid_number") is not None}
        explicit_gids = [group["gid_number"] for group in self.groups if group.get("gid_number") is not None
                         and group["state"] == "present" and group["name"] not in self.existing_groups]
        gids = dict(zip([group["name"] for group in new_groups], self.allocate("gid", len(new_groups), taken_gids, explicit_gids)))

        for user in self.users:
            self.plan_user(user, uids)
        for name in sorted(purge_disabled):
            self.plan_purge_disable(name)

        # Membership: listed enabled accounts that name the group; with purge=false, members that are not listed
        # accounts stay; accounts that are disabled or removed leave every group.
        leaving = {name for name, user in users_by_name.items() if user["state"] != "present"} | purge_disabled
        wanted = {}
        for user in self.users:
            if user["state"] == "present":
                for group in user.get("groups") or []:
                    wanted.setdefault(group, set()).add(user["name"])
        listed_groups = {group["name"] for group in self.groups}
        for group in self.groups:
            if group["state"] == "absent":
                if group["name"] in self.existing_groups:
                    self.plan_delete("group", group["name"], self.existing_groups[group["name"]])
                continue
            members = set(wanted.get(group["name"], ()))
            existing = self.existing_groups.get(group["name"])
            if existing and not self.params["purge"]:
                members |= {name for name in existing[1].get("memberUid", [])
                            if name not in users_by_name and name not in leaving}
            self.plan_group(group, existing, sorted(members), gids)
        for name in sorted(self.existing_groups):
            if name in listed_groups or not self.is_group(self.existing_groups[name][1]):
                continue
            if self.params["purge"]:
                self.plan_delete("group", name, self.existing_groups[name])
            else:
                # Not managed, except that accounts that lose access leave it.
                dn, entry = self.existing_groups[name]
                members = [member for member in entry.get("memberUid", []) if member not in leaving]
                if members != entry.get("memberUid", []):
                    self.plan_group_members(name, dn, entry, members)

        for user in self.users:
            if user["state"] == "absent" and user["name"] in self.existing_users:
                self.plan_delete("user", user["name"], self.existing_users[user["name"]])
        return present

    def desired_user(self, user, existing_entry, uids):
        name, state = user["name"], user["state"]
        enabled = state == "present"
        full_name = (user.get("full_name") or "").strip() or None
        uid = user.get("uid_number")
        if uid is None and existing_entry is not None:
            uid = self.number(existing_entry, "uidNumber")
        if uid is None:
            uid = uids[name]
        gid = user.get("gid_number")
        if gid is None:
            gid = self.params["default_gid_number"]
        lock = []
        if not enabled:
            lock = [LOCKED]
        elif existing_entry is not None:
            # A temporary lockout of the password policy (too many failed binds) is the server's, not ours.
            lock = [value for value in existing_entry.get("pwdAccountLockedTime", []) if value != LOCKED]
        return {
            "cn": [full_name or name],
            "sn": [full_name.split()[-1] if full_name else name],
            "displayName": [full_name] if full_name else [],
            "mail": [user["email"]] if user.get("email") else [],
            "uidNumber": [str(uid)],
            "gidNumber": [str(gid)],
            "homeDirectory": [user.get("home") or "%s/%s" % (self.params["home_base"].rstrip("/"), name)],
            "loginShell": [user.get("shell") or self.params["default_shell"]] if enabled else [self.params["disabled_shell"]],
            "sshPublicKey": _unique(normalize_ssh_key(key) for key in user.get("ssh_keys") or []) if enabled else [],
            "kdswDisabled": [] if enabled else ["TRUE"],
            "pwdAccountLockedTime": lock,
        }

    def plan_user(self, user, uids):
        name, state = user["name"], user["state"]
        if state == "absent":
            return
        dn = self.user_dn(name)
        existing = self.existing_users.get(name)
        entry = existing[1] if existing else None
        desired = self.desired_user(user, entry, uids)
        password = user.get("password")
        if existing is None:
            after = {"objectClass": list(USER_CLASSES), "uid": [name]}
            after.update((attr, values) for attr, values in desired.items() if values)
            addlist = [(attr, [value.encode("utf-8") for value in values]) for attr, values in after.items()]
            if password is not None:
                addlist.append(("userPassword", [hash_password(password, self.params["password_hash_rounds"]).encode()]))
                addlist.append(("pwdReset", [b"TRUE"]))
                after["userPassword"], after["pwdReset"] = [HIDDEN_CHANGED], ["TRUE"]
                self.password_writes.add(name)
            self.operations.append(("users", "user", "add", name, dn, addlist, "added", {}, after))
        else:
            dn = existing[0]
            modlist, before, after = self.modlist(entry, desired, USER_CLASSES)
            stored = entry.get("userPassword") or []
            before_password = [HIDDEN] if stored else []
            if password is not None and state == "present" and (
                    not stored or (self.params["update_password"] == "always" and not verify_password(password, stored[0]))):
                modlist.append((ldap.MOD_REPLACE, "userPassword", [hash_password(password, self.params["password_hash_rounds"]).encode()]))
                modlist.append((ldap.MOD_REPLACE, "pwdReset", [b"TRUE"]))
                before["userPassword"], after["userPassword"] = before_password, [HIDDEN_CHANGED]
                before["pwdReset"], after["pwdReset"] = entry.get("pwdReset") or [], ["TRUE"]
                self.password_writes.add(name)
            if modlist:
                was_enabled = "TRUE" not in (entry.get("kdswDisabled") or [])
                category = "disabled" if state == "disabled" and was_enabled else "modified"
                self.operations.append(("users", "user", "modify", name, dn, modlist, category, before, after))
        self.result["users"].append({
            "name": name, "dn": dn, "uid_number": int(desired["uidNumber"][0]), "gid_number": int(desired["gidNumber"][0]),
            "home": desired["homeDirectory"][0], "shell": desired["loginShell"][0], "state": state,
        })

    def plan_purge_disable(self, name):
        dn, entry = self.existing_users[name]
        desired = {
            "loginShell": [self.params["disabled_shell"]], "sshPublicKey": [], "kdswDisabled": ["TRUE"],
            "pwdAccountLockedTime": [LOCKED],
        }
        modlist, before, after = self.modlist(entry, desired, ("kdswAccount",))
        if modlist:
            self.operations.append(("users", "user", "modify", name, dn, modlist, "disabled", before, after))

    def plan_group(self, group, existing, members, gids):
        name = group["name"]
        gid = group.get("gid_number")
        if gid is None and existing is not None:
            gid = self.number(existing[1], "gidNumber")
        if gid is None:
            gid = gids[name]
        desired = {
            "gidNumber": [str(gid)],
            "description": [group["description"]] if group.get("description") else [],
            "memberUid": members,
            "member": [self.user_dn(member) for member in members],
        }
        if existing is None:
            dn = self.group_dn(name)
            after = {"objectClass": list(GROUP_CLASSES), "cn": [name]}
            after.update((attr, values) for attr, values in desired.items() if values)
            addlist = [(attr, [value.encode("utf-8") for value in values]) for attr, values in after.items()]
            self.operations.append(("groups", "group", "add", name, dn, addlist, "added", {}, after))
        else:
            dn = existing[0]
            modlist, before, after = self.modlist(existing[1], desired, GROUP_CLASSES, incremental=MEMBER_ATTRS)
            if modlist:
                self.operations.append(("groups", "group", "modify", name, dn, modlist, "modified", before, after))
        self.result["groups"].append({"name": name, "dn": dn, "gid_number": gid, "members": members})

    def plan_group_members(self, name, dn, entry, members):
        kept = set(members)
        desired = {"memberUid": members,
                   "member": [value for value in entry.get("member", [])
                              if not self.member_name(value) or self.member_name(value) in kept]}
        modlist, before, after = self.modlist(entry, desired, (), incremental=MEMBER_ATTRS)
        if modlist:
            self.operations.append(("groups", "group", "modify", name, dn, modlist, "modified", before, after))

    def member_name(self, member_dn):
        """The account name of a member DN of O(people_ou), or None for a DN elsewhere."""
        try:
            parts = ldap.dn.str2dn(member_dn)
        except ldap.DECODING_ERROR:
            return None
        if parts and parts[0][0][0].lower() == "uid" and ldap.dn.dn2str(parts[1:]).lower() == self.people_dn.lower():
            return parts[0][0][1]
        return None

    def plan_delete(self, kind, name, existing):
        dn, entry = existing
        before = {attr: values for attr, values in entry.items() if attr != "userPassword"}
        if entry.get("userPassword"):
            before["userPassword"] = [HIDDEN]
        self.operations.append(("deletes", kind, "delete", name, dn, None, "removed", before, {}))

    @staticmethod
    def modlist(entry, desired, classes, incremental=()):
        """(modlist, before, after) turning entry's desired attributes into their desired values.

        The attributes of incremental change by the values that differ (delete those read and no longer wanted, add the
        missing ones), so that values another writer added or removed since the read are left as that writer left them.
        """
        modlist, before, after = [], {}, {}
        present = {value.lower() for value in entry.get("objectClass", [])}
        missing = [cls for cls in classes if cls.lower() not in present]
        if missing:
            modlist.append((ldap.MOD_ADD, "objectClass", [cls.encode() for cls in missing]))
            before["objectClass"] = list(entry.get("objectClass", []))
            after["objectClass"] = before["objectClass"] + missing
        for attr, values in desired.items():
            values = _unique(values)
            have = entry.get(attr) or []
            if sorted(have) == sorted(values):
                continue
            before[attr], after[attr] = list(have), list(values)
            if attr in incremental:
                removed = [value for value in have if value not in values]
                added = [value for value in values if value not in have]
                if removed:
                    modlist.append((ldap.MOD_DELETE, attr, [value.encode("utf-8") for value in removed]))
                if added:
                    modlist.append((ldap.MOD_ADD, attr, [value.encode("utf-8") for value in added]))
            elif not values:
                modlist.append((ldap.MOD_DELETE, attr, None))
            else:
                modlist.append((ldap.MOD_REPLACE, attr, [value.encode("utf-8") for value in values]))
        return modlist, before, after

    # --- 6. writes ------------------------------------------------------------------------------
    def apply(self):
        problems = []
        for phase in ("users", "groups", "deletes"):
            writer = Writer(self.conn, timeout=self.params["timeout"])
            for op_phase, kind, action, name, dn, payload, category, before, after in self.operations:
                if op_phase != phase:
                    continue
                label = (kind, name, category)
                if action == "add":
                    writer.add(dn, payload, label)
                elif action == "modify":
                    writer.modify(dn, payload, label)
                else:
                    writer.delete(dn, label)
            errors = writer.flush()
            for label in writer.done:
                self.record(*label)
            problems.extend(message for label, message in errors)
            if problems:
                break
        return problems

    def record(self, kind, name, category):
        if kind == "user" and name in self.password_writes:
            self.result["passwords_set"].append(name)
        if category == "disabled":
            self.result["disabled"].append(name)
        else:
            self.result[category][kind + "s"].append(name)

    def diff(self):
        return [{"before_header": dn, "after_header": dn, "before": before, "after": after}
                for phase, kind, action, name, dn, payload, category, before, after in self.operations]

    # --- the run --------------------------------------------------------------------------------
    def run(self):
        module = self.module
        problems = self.validate_input()
        if problems:
            module.fail_json(msg=self.summary(problems), problems=problems)
        params = self.params
        try:
            self.conn = connect(params["server_uri"], params["bind_dn"], params["bind_pw"], params["start_tls"],
                                params["ca_file"], params["validate_certs"], params["timeout"])
            self.read()
            problems = self.validate_against_directory()
            if problems:
                module.fail_json(msg=self.summary(problems), problems=problems)
            self.plan()
        except LdapClientError as error:
            module.fail_json(msg=str(error))
        if self.check_mode:
            for phase, kind, action, name, dn, payload, category, before, after in self.operations:
                self.record(kind, name, category)
        else:
            failures = self.apply()
            if failures:
                self.result["failed_entries"] = failures
                module.fail_json(msg="%d write(s) failed; what was written before is reported in added/modified/disabled/removed:\n%s"
                                 % (len(failures), "\n".join("- " + failure for failure in failures)), changed=True, **self.result)
        result = dict(self.result, changed=bool(self.operations))
        if module._diff:
            result["diff"] = self.diff()
        self.conn.unbind_s()
        module.exit_json(**result)

    @staticmethod
    def summary(problems):
        return "The users and groups have %d problem(s); nothing was written:\n%s" % (
            len(problems), "\n".join("- " + problem for problem in problems))


def main():
    user_spec = dict(
        name=dict(type="str", required=True),
        uid_number=dict(type="int", aliases=["uid"]),
        gid_number=dict(type="int"),
        full_name=dict(type="str"),
        email=dict(type="str"),
        shell=dict(type="str"),
        home=dict(type="str"),
        groups=dict(type="list", elements="str", default=[]),
        ssh_keys=dict(type="list", elements="str", default=[], no_log=False),
        password=dict(type="str", no_log=True),
        state=dict(type="str", choices=["present", "disabled", "absent"], default="present"),
    )
    group_spec = dict(
        name=dict(type="str", required=True),
        gid_number=dict(type="int", aliases=["gid"]),
        description=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = AnsibleModule(
        argument_spec=dict(
            server_uri=dict(type="str", required=True),
            bind_dn=dict(type="str", required=True),
            bind_pw=dict(type="str", required=True, no_log=True),
            start_tls=dict(type="bool", default=True),
            ca_file=dict(type="path"),
            validate_certs=dict(type="bool", default=True),
            timeout=dict(type="int", default=30),
            base_dn=dict(type="str", required=True),
            people_ou=dict(type="str", default="people"),
            groups_ou=dict(type="str", default="groups"),
            uid_range=dict(type="list", elements="int", default=[10000, 59999]),
            gid_range=dict(type="list", elements="int", default=[10000, 59999]),
            default_gid_number=dict(type="int", default=100),
            default_shell=dict(type="str", default="/bin/bash"),
            disabled_shell=dict(type="str", default="/usr/sbin/nologin"),
            home_base=dict(type="str", default="/home"),
            update_password=dict(type="str", choices=["on_create", "always"], default="on_create", no_log=False),
            password_hash_rounds=dict(type="int", default=100000, no_log=False),
            password_min_length=dict(type="int", default=8, no_log=False),
            purge=dict(type="bool", default=False),
            users=dict(type="list", elements="dict", default=[], options=user_spec),
            groups=dict(type="list", elements="dict", default=[], options=group_spec),
        ),
        supports_check_mode=True,
    )
    if not HAS_LDAP:
        module.fail_json(msg=missing_required_lib("python-ldap"), exception=LDAP_IMPORT_ERROR)
    UserSync(module).run()


if __name__ == "__main__":
    main()
