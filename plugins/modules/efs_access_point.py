#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the kdsw.workbench project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: efs_access_point
short_description: Manage an Amazon EFS access point, such as a user's home directory
version_added: 0.1.0
description:
  - Creates and deletes an access point of an Amazon EFS file system, identified by its C(Name) tag O(name) within the file system.
  - An access point can enforce a POSIX user (every operation through it acts as that uid and gid) and a root directory that
    EFS creates with the given owner and permissions on first use, which makes it a per-user home directory.
  - The POSIX user and the root directory of an access point cannot change after creation; asking for different values fails
    with a message that says so, before any change is made.
  - Access points are found by their C(Name) tag, not by client token, so a re-run never creates a duplicate.
author:
  - kdsw.workbench maintainers (@kdsw)
options:
  name:
    description:
      - The C(Name) tag of the access point, unique within the file system, for example C(home-bob).
    type: str
    required: true
  file_system_id:
    description:
      - ID of the file system. Exactly one of O(file_system_id) and O(file_system_name) is required.
    type: str
  file_system_name:
    description:
      - Creation token of the file system (the O(kdsw.workbench.efs_file_system#module:name) it was created with).
    type: str
  state:
    description:
      - V(present) creates the access point if it does not exist; V(absent) deletes it (the files under its root stay).
    type: str
    choices: [present, absent]
    default: present
  posix_user:
    description:
      - The POSIX identity every file operation through the access point uses.
    type: dict
    suboptions:
      uid:
        description: User ID.
        type: int
        required: true
      gid:
        description: Group ID.
        type: int
        required: true
      secondary_gids:
        description: Secondary group IDs.
        type: list
        elements: int
        default: []
  root_directory:
    description:
      - The directory of the file system that clients of the access point see as C(/).
    type: dict
    suboptions:
      path:
        description: Absolute path of the directory, for example C(/home/bob).
        type: str
        required: true
      owner_uid:
        description: Owner of the directory when EFS creates it. Set all three of O(root_directory.owner_uid),
          O(root_directory.owner_gid) and O(root_directory.permissions), or none of them.
        type: int
      owner_gid:
        description: Group of the directory when EFS creates it.
        type: int
      permissions:
        description: Octal permissions of the directory when EFS creates it, for example C('0700').
        type: str
  tags:
    description:
      - Tags of the access point. The C(Name) tag is always O(name). When omitted, tags are left alone.
    type: dict
    aliases: [resource_tags]
  purge_tags:
    description:
      - Remove tags not listed in O(tags) (C(Name) and C(aws:*) tags are kept).
    type: bool
    default: true
  wait:
    description:
      - Wait until a new access point is available, or a deleted one is gone.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait.
    type: int
    default: 300
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Home directory of bob, owned by his LDAP uid and gid
  kdsw.workbench.efs_access_point:
    file_system_name: kdsw-homes
    name: home-bob
    posix_user:
      uid: 10001
      gid: 10001
    root_directory:
      path: /home/bob
      owner_uid: 10001
      owner_gid: 10001
      permissions: "0700"
    tags:
      kdsw:cluster: kdsw
      kdsw:user: bob

- name: Remove the access point (the files stay on the file system)
  kdsw.workbench.efs_access_point:
    file_system_name: kdsw-homes
    name: home-bob
    state: absent
"""

RETURN = r"""
access_point:
  description: The access point after the change (before it, in check mode); empty when it does not exist.
  returned: always
  type: dict
  contains:
    id:
      description: Access point ID.
      type: str
      sample: fsap-0123456789abcdef0
    arn:
      description: Access point ARN.
      type: str
    file_system_id:
      description: ID of its file system.
      type: str
    life_cycle_state:
      description: Lifecycle state.
      type: str
      sample: available
    posix_user:
      description: The enforced POSIX user (uid, gid, secondary_gids).
      type: dict
    root_directory:
      description: The root directory (path, owner_uid, owner_gid, permissions).
      type: dict
    tags:
      description: Tags.
      type: dict
"""

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.kdsw.workbench.plugins.module_utils.efs import GONE
from ansible_collections.kdsw.workbench.plugins.module_utils.efs import AnsibleEFSError
from ansible_collections.kdsw.workbench.plugins.module_utils.efs import EFSErrorHandler
from ansible_collections.kdsw.workbench.plugins.module_utils.efs import find_file_system
from ansible_collections.kdsw.workbench.plugins.module_utils.efs import tags_after
from ansible_collections.kdsw.workbench.plugins.module_utils.efs import update_tags
from ansible_collections.kdsw.workbench.plugins.module_utils.efs import wait_for_state


@EFSErrorHandler.list_error_handler("describe the access points of file system {file_system_id}", [])
@AWSRetry.jittered_backoff()
def describe_access_points(client, file_system_id):
    paginator = client.get_paginator("describe_access_points")
    return paginator.paginate(FileSystemId=file_system_id).build_full_result()["AccessPoints"]


@EFSErrorHandler.list_error_handler("describe access point {access_point_id}")
@AWSRetry.jittered_backoff()
def describe_access_point(client, access_point_id):
    return client.describe_access_points(AccessPointId=access_point_id)["AccessPoints"][0]


@EFSErrorHandler.common_error_handler("create the access point")
@AWSRetry.jittered_backoff()
def create_access_point(client, request):
    return client.create_access_point(**request)


@EFSErrorHandler.deletion_error_handler("delete access point {access_point_id}")
@AWSRetry.jittered_backoff()
def delete_access_point(client, access_point_id):
    client.delete_access_point(AccessPointId=access_point_id)


def find_access_point(client, file_system_id, name):
    matches = [ap for ap in describe_access_points(client, file_system_id)
               if ap.get("Name") == name or boto3_tag_list_to_ansible_dict(ap.get("Tags", [])).get("Name") == name]
    live = [ap for ap in matches if ap["LifeCycleState"] not in ("deleting", "deleted")]
    return live[0] if live else None


def posix_user_view(posix_user):
    if not posix_user:
        return None
    return {"uid": posix_user["Uid"], "gid": posix_user["Gid"], "secondary_gids": sorted(posix_user.get("SecondaryGids") or [])}


def root_directory_view(root_directory):
    if not root_directory:
        return None
    info = root_directory.get("CreationInfo") or {}
    return {"path": root_directory.get("Path", "/"), "owner_uid": info.get("OwnerUid"), "owner_gid": info.get("OwnerGid"),
            "permissions": info.get("Permissions")}


def wanted_posix_user(option):
    if option is None:
        return None
    return {"uid": option["uid"], "gid": option["gid"], "secondary_gids": sorted(option["secondary_gids"] or [])}


def wanted_root_directory(option):
    if option is None:
        return None
    permissions = option.get("permissions")
    return {"path": option["path"], "owner_uid": option.get("owner_uid"), "owner_gid": option.get("owner_gid"),
            "permissions": permissions.lstrip("0").rjust(3, "0") if permissions else None}


def normalized_permissions(view):
    if view and view.get("permissions"):
        return dict(view, permissions=view["permissions"].lstrip("0").rjust(3, "0"))
    return view


def access_point_result(access_point):
    if not access_point:
        return {}
    return {
        "id": access_point["AccessPointId"],
        "arn": access_point.get("AccessPointArn"),
        "file_system_id": access_point["FileSystemId"],
        "life_cycle_state": access_point["LifeCycleState"],
        "posix_user": posix_user_view(access_point.get("PosixUser")),
        "root_directory": root_directory_view(access_point.get("RootDirectory")),
        "tags": boto3_tag_list_to_ansible_dict(access_point.get("Tags", [])),
    }


def create_request(params, file_system_id, tags):
    request = {"FileSystemId": file_system_id, "Tags": ansible_dict_to_boto3_tag_list(tags)}
    if params["posix_user"]:
        user = params["posix_user"]
        request["PosixUser"] = {"Uid": user["uid"], "Gid": user["gid"]}
        if user["secondary_gids"]:
            request["PosixUser"]["SecondaryGids"] = user["secondary_gids"]
    if params["root_directory"]:
        root = params["root_directory"]
        request["RootDirectory"] = {"Path": root["path"]}
        if root.get("owner_uid") is not None:
            request["RootDirectory"]["CreationInfo"] = {
                "OwnerUid": root["owner_uid"], "OwnerGid": root["owner_gid"], "Permissions": root["permissions"]}
    return request


class AccessPointManager:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.client = module.client("efs", retry_decorator=AWSRetry.jittered_backoff())

    def file_system_id(self):
        if self.params["file_system_id"]:
            return self.params["file_system_id"]
        file_system = find_file_system(self.client, self.params["file_system_name"])
        if not file_system:
            if self.params["state"] == "absent":
                return None
            self.module.fail_json(msg=f"No EFS file system has the creation token {self.params['file_system_name']}; "
                                      "create it first (kdsw.workbench.efs_file_system) or give file_system_id.")
        return file_system["FileSystemId"]

    def wait_until(self, access_point_id, state):
        if self.params["wait"] and not self.module.check_mode:
            wait_for_state(lambda: describe_access_point(self.client, access_point_id), f"access point {access_point_id}",
                           state, self.params["wait_timeout"], delay=2)

    def run(self):
        file_system_id = self.file_system_id()
        current = find_access_point(self.client, file_system_id, self.params["name"]) if file_system_id else None
        if self.params["state"] == "absent":
            return self.absent(current)
        return self.present(file_system_id, current)

    def absent(self, current):
        result = {"changed": bool(current), "access_point": access_point_result(current)}
        if self.module._diff:
            result["diff"] = {"before": access_point_result(current), "after": {}}
        if current and not self.module.check_mode:
            delete_access_point(self.client, current["AccessPointId"])
            self.wait_until(current["AccessPointId"], GONE)
            result["access_point"] = {}
        return result

    def check_immutable(self, current):
        observed = {"posix_user": posix_user_view(current.get("PosixUser")),
                    "root_directory": normalized_permissions(root_directory_view(current.get("RootDirectory")))}
        wanted = {"posix_user": wanted_posix_user(self.params["posix_user"]),
                  "root_directory": wanted_root_directory(self.params["root_directory"])}
        for option, value in wanted.items():
            if value is not None and value != observed[option]:
                self.module.fail_json(
                    msg=f"{option} of access point {current['AccessPointId']} ({self.params['name']}) is {observed[option]}, not {value}: "
                        "an access point cannot change it. Remove it (state=absent) and create it again; the files stay.",
                    access_point=access_point_result(current))

    def present(self, file_system_id, current):
        current_tags = boto3_tag_list_to_ansible_dict(current.get("Tags", [])) if current else {}
        wanted_tags = dict(self.params["tags"] or {}) if self.params["tags"] is not None else None
        if wanted_tags is not None:
            wanted_tags["Name"] = self.params["name"]
        tags = tags_after(current_tags, wanted_tags, self.params["purge_tags"])
        tags["Name"] = self.params["name"]
        if current:
            self.check_immutable(current)
            changed = tags != current_tags
            after = dict(access_point_result(current), tags=tags)
            if changed and not self.module.check_mode:
                update_tags(self.client, current["AccessPointId"], current_tags, tags)
                current = describe_access_point(self.client, current["AccessPointId"])
                after = access_point_result(current)
            result = {"changed": changed, "access_point": after if not self.module.check_mode else access_point_result(current)}
            before = access_point_result(current) if self.module.check_mode else dict(after, tags=current_tags)
        else:
            request = create_request(self.params, file_system_id, tags)
            after = {"file_system_id": file_system_id, "posix_user": wanted_posix_user(self.params["posix_user"]),
                     "root_directory": wanted_root_directory(self.params["root_directory"]), "tags": tags}
            result = {"changed": True, "access_point": {}}
            if not self.module.check_mode:
                created = create_access_point(self.client, request)
                self.wait_until(created["AccessPointId"], "available")
                result["access_point"] = after = access_point_result(describe_access_point(self.client, created["AccessPointId"]))
            before = {}
        if self.module._diff:
            result["diff"] = {"before": before, "after": after}
        return result


def validate(module):
    root = module.params["root_directory"]
    if root:
        creation = [root.get(key) is not None for key in ("owner_uid", "owner_gid", "permissions")]
        if any(creation) and not all(creation):
            module.fail_json(msg="root_directory: set all of owner_uid, owner_gid and permissions, or none of them.")
        if not root["path"].startswith("/"):
            module.fail_json(msg=f"root_directory.path: {root['path']!r} must be an absolute path such as /home/bob.")
        permissions = root.get("permissions")
        if permissions and not (permissions.isdigit() and set(permissions) <= set("01234567") and 3 <= len(permissions) <= 4):
            module.fail_json(msg=f"root_directory.permissions: {permissions!r} is not octal permissions such as '0700'.")


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        file_system_id=dict(type="str"),
        file_system_name=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        posix_user=dict(type="dict", options=dict(
            uid=dict(type="int", required=True),
            gid=dict(type="int", required=True),
            secondary_gids=dict(type="list", elements="int", default=[]),
        )),
        root_directory=dict(type="dict", options=dict(
            path=dict(type="str", required=True),
            owner_uid=dict(type="int"),
            owner_gid=dict(type="int"),
            permissions=dict(type="str"),
        )),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=300),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        required_one_of=[("file_system_id", "file_system_name")],
        mutually_exclusive=[("file_system_id", "file_system_name")],
        supports_check_mode=True,
    )
    validate(module)
    try:
        result = AccessPointManager(module).run()
    except (AnsibleAWSError, AnsibleEFSError) as e:
        module.fail_json_aws_error(e)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
