# -*- coding: utf-8 -*-

# Copyright: Contributors to the kdsw.workbench project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Amazon EFS helpers shared by the collection's EFS modules.

Every function takes a boto3 EFS client (plain, or from module.client('efs', retry_decorator=...)),
retries throttling itself, and raises AnsibleEFSError (an AnsibleAWSError) whose message says what
was being done; modules end with module.fail_json_aws_error(e).
Tags are read and written with ListTagsForResource / TagResource / UntagResource, never with the
legacy DescribeTags / CreateTags / DeleteTags calls.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.errors import AWSErrorHandler
from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags

# The pseudo lifecycle state of a resource that no longer exists.
GONE = "deleted"
TRANSITIONAL_STATES = ("creating", "updating", "deleting")
# Mount targets whose security groups can be read (their network interface exists and is not going away).
SECURITY_GROUPS_READABLE = ("available", "updating")


class AnsibleEFSError(AnsibleAWSError):
    pass


class EFSErrorHandler(AWSErrorHandler):
    _CUSTOM_EXCEPTION = AnsibleEFSError

    @classmethod
    def _is_missing(cls):
        return is_boto3_error_code(["FileSystemNotFound", "MountTargetNotFound", "AccessPointNotFound"])


# --- file systems -----------------------------------------------------------------------------


@EFSErrorHandler.list_error_handler("describe the file system with creation token {creation_token}")
@AWSRetry.jittered_backoff()
def find_file_system(client, creation_token):
    """The file system created with this creation token, or None."""
    paginator = client.get_paginator("describe_file_systems")
    file_systems = paginator.paginate(CreationToken=creation_token).build_full_result()["FileSystems"]
    return file_systems[0] if file_systems else None


@EFSErrorHandler.list_error_handler("describe file system {file_system_id}")
@AWSRetry.jittered_backoff()
def describe_file_system(client, file_system_id):
    """The file system with this ID, or None when it does not exist."""
    return client.describe_file_systems(FileSystemId=file_system_id)["FileSystems"][0]


@EFSErrorHandler.common_error_handler("describe the lifecycle configuration of file system {file_system_id}")
@AWSRetry.jittered_backoff()
def describe_lifecycle_policies(client, file_system_id):
    return client.describe_lifecycle_configuration(FileSystemId=file_system_id).get("LifecyclePolicies", [])


# --- mount targets ----------------------------------------------------------------------------


@EFSErrorHandler.list_error_handler("describe the mount targets of file system {file_system_id}", [])
@AWSRetry.jittered_backoff()
def _describe_mount_targets(client, file_system_id):
    paginator = client.get_paginator("describe_mount_targets")
    return paginator.paginate(FileSystemId=file_system_id).build_full_result()["MountTargets"]


@EFSErrorHandler.list_error_handler("describe the security groups of mount target {mount_target_id}", [])
@AWSRetry.jittered_backoff()
def describe_mount_target_security_groups(client, mount_target_id):
    return client.describe_mount_target_security_groups(MountTargetId=mount_target_id).get("SecurityGroups") or []


def describe_mount_targets(client, file_system_id):
    """The file system's mount targets, each with a SecurityGroups list (None while it cannot be read)."""
    targets = _describe_mount_targets(client, file_system_id)
    for target in targets:
        readable = target["LifeCycleState"] in SECURITY_GROUPS_READABLE
        target["SecurityGroups"] = describe_mount_target_security_groups(client, target["MountTargetId"]) if readable else None
    return targets


@EFSErrorHandler.list_error_handler("describe mount target {mount_target_id}")
@AWSRetry.jittered_backoff()
def describe_mount_target(client, mount_target_id):
    """The mount target with this ID, or None when it does not exist."""
    return client.describe_mount_targets(MountTargetId=mount_target_id)["MountTargets"][0]


# --- waiting --------------------------------------------------------------------------------


def _lifecycle_state(resource):
    return resource["LifeCycleState"] if resource else GONE


def wait_for_state(describe, what, state, timeout, delay=5):
    """Poll describe() (a resource dict or None once gone) until its LifeCycleState is `state` (GONE: not found).

    Raises AnsibleEFSError when the resource reaches the error state or the timeout expires.
    """
    deadline = time.monotonic() + timeout
    while True:
        current = _lifecycle_state(describe())
        if current == state:
            return
        if current == "error" or (current == GONE and state != GONE):
            raise AnsibleEFSError(message=f"{what} is in state {current} while waiting for it to become {state}")
        if time.monotonic() >= deadline:
            raise AnsibleEFSError(message=f"Timeout after {timeout}s waiting for {what} to become {state} (it is {current})")
        time.sleep(delay)


def wait_for_file_system(client, file_system_id, state, timeout, delay=5):
    """Wait for a file system lifecycle state; GONE waits until the file system no longer exists."""
    wait_for_state(lambda: describe_file_system(client, file_system_id), f"file system {file_system_id}", state, timeout, delay)


def wait_for_mount_target(client, mount_target_id, state, timeout, delay=5):
    """Wait for a mount target lifecycle state; GONE waits until the mount target no longer exists."""
    wait_for_state(lambda: describe_mount_target(client, mount_target_id), f"mount target {mount_target_id}", state, timeout, delay)


def settled_state(state):
    """The state a resource in `state` is heading for: available, or GONE while it is being deleted."""
    return GONE if state in ("deleting", GONE) else "available"


# --- tags -----------------------------------------------------------------------------------


def tags_after(current, wanted, purge_tags):
    """The tags a resource ends up with when `wanted` (a dict, or None to leave tags alone) is applied."""
    if wanted is None:
        return dict(current)
    to_set, to_unset = compare_aws_tags(current, wanted, purge_tags=purge_tags)
    result = {key: value for key, value in current.items() if key not in to_unset}
    result.update((key, to_native(value)) for key, value in to_set.items())
    return result


@EFSErrorHandler.common_error_handler("update the tags of {resource_id}")
@AWSRetry.jittered_backoff()
def update_tags(client, resource_id, current, wanted):
    """Make the tags of an EFS file system or access point exactly `wanted`; True when something changed."""
    to_set, to_unset = compare_aws_tags(current, wanted, purge_tags=True)
    if to_unset:
        client.untag_resource(ResourceId=resource_id, TagKeys=to_unset)
    if to_set:
        client.tag_resource(ResourceId=resource_id, Tags=ansible_dict_to_boto3_tag_list(to_set))
    return bool(to_set or to_unset)
