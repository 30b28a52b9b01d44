#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the kdsw.workbench project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: users_file
short_description: Add, update, disable or remove one user in the users file that add_user.yml keeps
version_added: 0.1.0
description:
  - Changes one user of the YAML file in which C(add_user.yml) and C(remove_user.yml) record the users added from the command
    line (the inventory's C(group_vars/all/users.yml), variable C(workbench_users)), and leaves every other user as it is.
  - "Safe when runs overlap: an exclusive lock (C(flock)) on a hidden lock file beside the file (C(.users.yml.lock) for
    C(users.yml)) is held from the read to the write, so the change is merged into the file as it is on disk at that moment,
    never into what the playbook read when it started. A run that cannot get the lock within O(lock_timeout) seconds fails
    naming the lock file, and changes nothing."
  - The file is replaced in one rename (written to a hidden temporary file beside it first), keeping its mode (V(0644) for a
    new file), so a reader never sees half of it. Other top-level keys of the file are kept.
  - The users are written sorted by name, after a header comment that says which playbooks write the file.
author:
  - kdsw.workbench maintainers (@kdsw)
options:
  path:
    description:
      - The users file. Its directory must exist.
    type: path
    required: true
  name:
    description:
      - The user to change.
    type: str
    required: true
  state:
    description:
      - V(present) records the user as O(entry) (added, or replacing the recorded entry).
      - V(disabled) sets C(state=disabled) in the recorded entry and keeps the rest of it; nothing happens when the user is
        not recorded.
      - V(absent) removes the user's entry.
    type: str
    choices: [present, disabled, absent]
    default: present
  entry:
    description:
      - "With O(state=present), the user's entry as C(workbench.users) of the cluster definition spells it, such as
        C({groups: [users], ssh_keys: [...], uid: 10001}). Its C(name), if given, must be O(name)."
      - Passwords are never recorded, so a C(password) key is refused.
    type: dict
  lock_timeout:
    description:
      - Seconds to wait for another run that holds the lock.
    type: int
    default: 60
notes:
  - In check mode the file is only read; neither it nor the lock file is created.
  - The lock file stays after the run; the kernel releases the lock when its holder exits, so it can never be left locked.
seealso:
  - name: add_user.yml and remove_user.yml
    description: The playbooks that keep the file, described in the collection's README.
    link: https://github.com/kdsw/workbench#users-the-directory-the-bastion-jupyterhub
"""

EXAMPLES = r"""
- name: Record bob with the uid the directory gave him
  kdsw.workbench.users_file:
    path: "{{ inventory_dir }}/group_vars/all/users.yml"
    name: bob
    entry:
      groups: [users]
      ssh_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIaGEmkfImcpz5ltWBZARdMdc4TcjLjSnA0r0VDMCbSE bob@laptop"]
      uid: 10001

- name: Keep bob, disabled
  kdsw.workbench.users_file:
    path: "{{ inventory_dir }}/group_vars/all/users.yml"
    name: bob
    state: disabled

- name: Forget bob
  kdsw.workbench.users_file:
    path: "{{ inventory_dir }}/group_vars/all/users.yml"
    name: bob
    state: absent
"""

RETURN = r"""
users:
  description: The users of the file after the change (in check mode, as they would be), sorted by name.
  returned: success
  type: list
  elements: dict
  sample: [{"name": "bob", "groups": ["users"], "state": "present", "uid": 10001}]
entry:
  description: The user's entry after the change, or V(null) when the user is not recorded.
  returned: success
  type: dict
  sample: {"name": "bob", "groups": ["users"], "state": "disabled", "uid": 10001}
lock_file:
  description: The lock file the run held (or, in check mode, would have held).
  returned: success
  type: str
  sample: /home/me/inventories/personal/group_vars/all/.users.yml.lock
diff:
  description: With diff mode, the file's text before and after.
  returned: when diff mode is on
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kdsw.workbench.plugins.module_utils.users_file import (
    HAS_YAML,
    STATES,
    YAML_IMPORT_ERROR,
    UsersFileError,
    lock_path,
    update,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            name=dict(type="str", required=True),
            state=dict(type="str", choices=list(STATES), default="present"),
            entry=dict(type="dict"),
            lock_timeout=dict(type="int", default=60),
        ),
        required_if=[("state", "present", ["entry"])],
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=YAML_IMPORT_ERROR)
    params = module.params
    path, name, entry = params["path"], params["name"], params["entry"]
    if not name.strip():
        module.fail_json(msg="name is empty: name the user to change")
    if entry is not None:
        if entry.get("name", name) != name:
            module.fail_json(msg="entry.name is %r but name is %r: give the same name or leave entry.name out" % (entry["name"], name))
        if "password" in entry:
            module.fail_json(msg="entry.password: passwords are never recorded in %s; leave password out of entry" % path)
    if params["lock_timeout"] < 0:
        module.fail_json(msg="lock_timeout is %d: give a number of seconds, 0 or more" % params["lock_timeout"])

    try:
        changed, before, after, users = update(path, name, params["state"], entry, params["lock_timeout"], module.check_mode)
    except UsersFileError as error:
        module.fail_json(msg=str(error))
    recorded = [user for user in users if user["name"] == name]
    result = dict(changed=changed, users=users, entry=recorded[0] if recorded else None, lock_file=lock_path(path))
    if module._diff:
        result["diff"] = dict(before=before, after=after, before_header=path, after_header=path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
