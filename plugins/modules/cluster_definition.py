#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kdsw.workbench maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: cluster_definition
short_description: Validate the workbench cluster definition and derive the values the roles need
version_added: 0.1.0
author:
  - kdsw.workbench maintainers (@kdsw)
description:
  - Merges the user's cluster definition (the C(workbench) variable) over the shared defaults
    (the C(workbench_defaults) variable); nested mappings are merged, lists replace lists whole.
  - Validates the result and reports every problem at once, each message starting with the full
    dotted key (for example C(workbench.node_pools[1].max)) and saying how to fix it.
  - Checks the users of O(recorded_users) with those of the definition; user names that the images of the
    workbench already use (C(root), C(daemon), C(jovyan), ...) or that name a group of the definition are refused
    for users whose state is C(present).
  - When the definition is valid, returns it normalized - the CPU architecture of each node group,
    the subnets carved from the VPC range, the private address of the control plane, the
    C(kdsw:cluster) tag, the pools the cluster services run on, and the users (the definition's, then
    O(recorded_users)) with what the bastion needs of each present user.
  - When the definition's C(rehearsal) key is true, refuses to pass unless both C(AWS_URL) and
    C(AWS_ENDPOINT_URL) in O(environment) point at a loopback address.
  - Runs on the controller and makes no network call.
options:
  definition:
    description:
      - The user's cluster definition, usually C("{{ workbench }}").
      - Its keys are documented in C(inventories/personal/group_vars/all/workbench.yml).
    type: dict
    required: true
  defaults:
    description:
      - The shared defaults the definition is merged over, usually C("{{ workbench_defaults }}").
    type: dict
    default: {}
  environment:
    description:
      - The values of the C(AWS_URL) and C(AWS_ENDPOINT_URL) environment variables, checked when
        the definition is a rehearsal. Either may be empty.
    type: dict
    default: {}
  recorded_users:
    description:
      - The users that C(add_user.yml) recorded in the inventory's C(group_vars/all/users.yml) (the
        C(workbench_users) variable), as the run will leave them. They follow the definition's own users and
        their problems are named C(workbench_users[<index>]).
      - A list of mappings with the keys of C(workbench.users); anything else is reported as a problem.
    type: raw
    default: []
  command_line:
    description:
      - The options typed on the command line of C(add_user.yml) or C(remove_user.yml), each only when it was
        typed - C(user), C(ssh_key), C(user_groups), C(full_name), C(email).
      - The problems of the user of O(recorded_users) named C(user) are then named by the option that caused
        them (for example C(-e user=root)), not by an index of a list the user never wrote.
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    description: The module never changes anything, so check mode runs it as usual.
  diff_mode:
    support: none
    description: The module never changes anything, so it has no diff to show.
notes:
  - Instance types are checked against the catalog in C(plugins/module_utils/instance_types.py).
"""

EXAMPLES = r"""
- name: Validate the cluster definition before any AWS call
  kdsw.workbench.cluster_definition:
    definition: "{{ workbench }}"
    defaults: "{{ workbench_defaults }}"
    environment:
      AWS_URL: "{{ lookup('ansible.builtin.env', 'AWS_URL') }}"
      AWS_ENDPOINT_URL: "{{ lookup('ansible.builtin.env', 'AWS_ENDPOINT_URL') }}"
    recorded_users: "{{ workbench_users | default([]) }}"
  register: definition

- name: Check the definition with the user that add_user.yml -e user=carol adds, naming -e user=carol in its problems
  kdsw.workbench.cluster_definition:
    definition: "{{ workbench }}"
    defaults: "{{ workbench_defaults }}"
    recorded_users: "{{ workbench_users | default([]) + [{'name': 'carol', 'groups': ['users', 'admins']}] }}"
    command_line: {user: carol, user_groups: "users,admins"}

- name: Use the normalized cluster from here on
  ansible.builtin.set_fact:
    cluster: "{{ definition.cluster }}"
"""

RETURN = r"""
cluster:
  description:
    - The merged, validated definition with the derived values added.
    - C(control_plane.arch), C(admin_nodes.arch) and each pool's C(arch) are C(amd64) or C(arm64);
      each pool's C(gpu) is a boolean (derived from its instance types when omitted).
    - C(subnets) lists one C({zone, cidr}) per zone, carved in zone order from the start of
      C(network.vpc_cidr); C(control_plane.private_ip) is the tenth host address of the first subnet.
    - C(tags) holds the C(kdsw:cluster) tag every resource carries.
    - C(services) names the pools of large notebooks and Spark executors (the first pool without GPU) and of GPU
      notebooks (the first GPU pool), empty when there is none, with Spark's executor cores and ceiling.
    - C(users) lists the definition's users, then those of O(recorded_users).
    - C(admin_group) names the administrators' group (C(admins)); C(present_users) lists C({name, admin}) for
      each user whose state is C(present), C(admin) true for members of C(admin_group).
  returned: success
  type: dict
  sample:
    name: kdsw
    region: us-east-1
    zones: [us-east-1a, us-east-1b]
    control_plane: {instance_type: t4g.small, root_volume_gb: 20, arch: arm64, private_ip: 10.42.0.10}
    admin_nodes: {count: 2, instance_type: t4g.small, root_volume_gb: 20, arch: arm64}
    node_pools:
      - {name: spark, instance_types: [m7i.2xlarge], lifecycle: spot, min: 0, max: 8, desired: 0, root_volume_gb: 50, gpu: false, arch: amd64}
    subnets:
      - {zone: us-east-1a, cidr: 10.42.0.0/20}
      - {zone: us-east-1b, cidr: 10.42.16.0/20}
    tags: {"kdsw:cluster": kdsw}
    services: {large_pool: spark, spark_pool: spark, gpu_pool: "", spark_executor_cores: 4, spark_max_executors: 16}
    users: [{name: carol, groups: [users, admins], ssh_keys: ["ssh-ed25519 AAAA... carol@laptop"], uid: 10000, state: present}]
    admin_group: admins
    present_users: [{name: carol, admin: true}]
problems:
  description: Every problem found, each starting with the dotted key it concerns and saying the fix.
  returned: failure
  type: list
  elements: str
  sample:
    - "workbench.admin_cidrs[0]: '10.0.0.0/33' is not a CIDR; write an IPv4 network such as 203.0.113.10/32"
    - "-e user=root: 'root' is reserved: it is a system account of the images the workbench runs, ...; choose another name for -e user"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kdsw.workbench.plugins.module_utils.cluster_definition import merge, normalize, validate


def main():
    module = AnsibleModule(
        argument_spec=dict(
            definition=dict(type="dict", required=True),
            defaults=dict(type="dict", default={}),
            environment=dict(type="dict", default={}),
            recorded_users=dict(type="raw", default=[]),
            command_line=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    cluster = merge(module.params["defaults"] or {}, module.params["definition"])
    recorded = [] if module.params["recorded_users"] is None else module.params["recorded_users"]
    problems = validate(cluster, module.params["environment"] or {}, recorded_users=recorded, command_line=module.params["command_line"])
    if problems:
        summary = "\n".join("- " + problem for problem in problems)
        module.fail_json(msg=f"The cluster definition has {len(problems)} problem(s):\n{summary}", problems=problems)
    module.exit_json(changed=False, cluster=normalize(cluster, recorded_users=recorded))


if __name__ == "__main__":
    main()
