#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the kdsw.workbench project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: efs_file_system
short_description: Manage an Amazon EFS file system, its lifecycle policies, tags and mount targets
version_added: 0.1.0
description:
  - Creates, updates and deletes an Amazon Elastic File System (EFS) file system identified by its creation token O(name).
  - Manages the file system's throughput mode, lifecycle policies (transition to Infrequent Access and back), tags and mount targets.
  - Tags are read and written with the C(ListTagsForResource), C(TagResource) and C(UntagResource) APIs, never with the legacy
    C(DescribeTags) API used by M(community.aws.efs).
  - Supports check mode and diff mode. A run that finds nothing to change makes no mutating API call.
author:
  - kdsw.workbench maintainers (@kdsw)
options:
  name:
    description:
      - The name of the file system.
      - Used as the file system's creation token, which identifies it, and as the value of its C(Name) tag.
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the file system.
      - V(absent) deletes its mount targets, waits until they are gone, then deletes the file system.
    type: str
    choices: ['present', 'absent']
    default: present
  encrypted:
    description:
      - Whether the file system is encrypted at rest.
      - Fixed at creation. Asking for a different value for an existing file system fails; the file system must be recreated.
    type: bool
    default: true
  kms_key_id:
    description:
      - The KMS key (key ID, key ARN, alias name or alias ARN) that encrypts the file system. Requires O(encrypted=true).
      - When not set, EFS uses the AWS managed key C(aws/elasticfilesystem).
      - Fixed at creation. A key ID or ARN different from the existing file system's key fails; aliases cannot be compared
        without KMS and are therefore not checked on an existing file system.
    type: str
  performance_mode:
    description:
      - The performance mode of the file system.
      - Fixed at creation. Asking for a different value for an existing file system fails; the file system must be recreated.
    type: str
    choices: ['generalPurpose', 'maxIO']
    default: generalPurpose
  throughput_mode:
    description:
      - The throughput mode of the file system. It can be changed after creation (AWS allows one change every 24 hours).
    type: str
    choices: ['bursting', 'elastic', 'provisioned']
    default: elastic
  provisioned_throughput_in_mibps:
    description:
      - The provisioned throughput, in MiB/s. Required when O(throughput_mode=provisioned), ignored otherwise.
    type: float
  transition_to_ia:
    description:
      - How long after their last access files move to the Infrequent Access storage class.
      - V(none) removes this transition.
      - Other lifecycle policies (such as a transition to Archive set outside this module) are kept.
    type: str
    choices: ['AFTER_1_DAY', 'AFTER_7_DAYS', 'AFTER_14_DAYS', 'AFTER_30_DAYS', 'AFTER_60_DAYS', 'AFTER_90_DAYS',
              'AFTER_180_DAYS', 'AFTER_270_DAYS', 'AFTER_365_DAYS', 'none']
    default: AFTER_30_DAYS
  transition_to_primary_storage_class:
    description:
      - Whether files move back to the primary (Standard) storage class when they are accessed.
      - V(none) removes this transition.
    type: str
    choices: ['AFTER_1_ACCESS', 'none']
    default: AFTER_1_ACCESS
  tags:
    description:
      - Tags to apply to the file system.
      - The C(Name) tag is always set to O(name); a C(Name) key in O(tags) is overridden.
      - If O(tags) is not set, tags other than C(Name) are not modified.
    type: dict
    aliases: ['resource_tags']
  purge_tags:
    description:
      - When O(tags) is set, whether to remove tags that are not listed in O(tags).
      - The C(Name) tag and tags whose keys begin with V(aws:) are never removed.
    type: bool
    default: true
  mount_targets:
    description:
      - The mount targets of the file system, one per subnet.
      - EFS allows only one mount target per Availability Zone, so every listed subnet must be in a different Availability Zone,
        and all of them in the same VPC.
      - Mount targets in subnets that are not listed are deleted; missing ones are created; security groups that differ are updated.
      - If not set, mount targets are not modified. V([]) deletes all of them.
    type: list
    elements: dict
    suboptions:
      subnet_id:
        description:
          - The subnet of the mount target.
        type: str
        required: true
      security_groups:
        description:
          - The IDs of the security groups of the mount target's network interface (at most 5).
          - If not set, a new mount target gets the default security group of the VPC and an existing one keeps its security groups.
        type: list
        elements: str
  wait:
    description:
      - Whether to wait for the file system and its new mount targets to become available,
        and for a deleted file system to be gone, before returning.
      - Regardless of O(wait), the module waits for a new file system to become available before configuring it, for a throughput
        change to complete, for deleted mount targets to be gone before it creates mount targets or deletes the file system, and
        for resources that are being created, updated or deleted to settle before it compares them.
    type: bool
    default: true
  wait_timeout:
    description:
      - How long to wait, in seconds, for each of the waits described in O(wait).
    type: int
    default: 600
notes:
  - In check mode, RV(file_system) and RV(mount_targets) describe the file system as it is before the change (empty when it does not exist yet).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: An encrypted file system with a mount target in two Availability Zones
  kdsw.workbench.efs_file_system:
    name: kdsw-homes
    throughput_mode: elastic
    transition_to_ia: AFTER_30_DAYS
    tags:
      project: kdsw
    mount_targets:
      - subnet_id: subnet-0123456789abcdef0
        security_groups: [sg-0123456789abcdef0]
      - subnet_id: subnet-0fedcba9876543210
        security_groups: [sg-0123456789abcdef0]
  register: homes

- name: Mount it (the DNS name resolves inside the VPC)
  ansible.posix.mount:
    path: /home
    src: "{{ homes.file_system.dns_name }}:/"
    fstype: nfs4
    opts: nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport
    state: mounted

- name: Provisioned throughput, no lifecycle transitions, keep tags set elsewhere
  kdsw.workbench.efs_file_system:
    name: kdsw-scratch
    throughput_mode: provisioned
    provisioned_throughput_in_mibps: 64
    transition_to_ia: none
    transition_to_primary_storage_class: none
    tags:
      purpose: scratch
    purge_tags: false

- name: Delete the file system and its mount targets
  kdsw.workbench.efs_file_system:
    name: kdsw-scratch
    state: absent
"""

RETURN = r"""
file_system:
  description: The file system. Empty when it does not exist.
  returned: always
  type: dict
  contains:
    id:
      description: The file system ID.
      type: str
      sample: fs-0123456789abcdef0
    arn:
      description: The file system ARN.
      type: str
      sample: arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-0123456789abcdef0
    name:
      description: The value of the C(Name) tag.
      type: str
      sample: kdsw-homes
    creation_token:
      description: The creation token, O(name).
      type: str
      sample: kdsw-homes
    dns_name:
      description: The DNS name of the file system, C(<id>.efs.<region>.amazonaws.com).
      type: str
      sample: fs-0123456789abcdef0.efs.us-east-1.amazonaws.com
    life_cycle_state:
      description: The lifecycle state of the file system.
      type: str
      sample: available
    encrypted:
      description: Whether the file system is encrypted.
      type: bool
      sample: true
    kms_key_id:
      description: The ARN of the KMS key that encrypts the file system.
      type: str
      sample: arn:aws:kms:us-east-1:123456789012:key/01234567-89ab-cdef-0123-456789abcdef
    performance_mode:
      description: The performance mode.
      type: str
      sample: generalPurpose
    throughput_mode:
      description: The throughput mode.
      type: str
      sample: elastic
    provisioned_throughput_in_mibps:
      description: The provisioned throughput in MiB/s, when the throughput mode is provisioned.
      type: float
      sample: 64.0
    lifecycle_policies:
      description: The lifecycle policies, one transition each.
      type: list
      elements: dict
      sample: [{"transition_to_ia": "AFTER_30_DAYS"}, {"transition_to_primary_storage_class": "AFTER_1_ACCESS"}]
    tags:
      description: The tags of the file system.
      type: dict
      sample: {"Name": "kdsw-homes", "project": "kdsw"}
    size_in_bytes:
      description: The metered size of the data stored, in bytes, in total and per storage class.
      type: dict
      sample: {"value": 6144, "value_in_ia": 0, "value_in_standard": 6144, "value_in_archive": 0}
mount_targets:
  description: The mount targets of the file system. Empty when it does not exist.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The mount target ID.
      type: str
      sample: fsmt-0123456789abcdef0
    subnet_id:
      description: The subnet of the mount target.
      type: str
      sample: subnet-0123456789abcdef0
    availability_zone_name:
      description: The Availability Zone of the mount target.
      type: str
      sample: us-east-1a
    ip_address:
      description: The IPv4 address of the mount target.
      type: str
      sample: 10.0.1.25
    life_cycle_state:
      description: The lifecycle state of the mount target.
      type: str
      sample: available
    network_interface_id:
      description: The network interface of the mount target.
      type: str
      sample: eni-0123456789abcdef0
    vpc_id:
      description: The VPC of the mount target.
      type: str
      sample: vpc-0123456789abcdef0
    security_groups:
      description: The security groups of the mount target's network interface.
      type: list
      elements: str
      sample: [sg-0123456789abcdef0]
"""

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.kdsw.workbench.plugins.module_utils.efs import GONE
from ansible_collections.kdsw.workbench.plugins.module_utils.efs import TRANSITIONAL_STATES
from ansible_collections.kdsw.workbench.plugins.module_utils.efs import EFSErrorHandler
from ansible_collections.kdsw.workbench.plugins.module_utils.efs import describe_lifecycle_policies
from ansible_collections.kdsw.workbench.plugins.module_utils.efs import describe_mount_targets
from ansible_collections.kdsw.workbench.plugins.module_utils.efs import find_file_system
from ansible_collections.kdsw.workbench.plugins.module_utils.efs import settled_state
from ansible_collections.kdsw.workbench.plugins.module_utils.efs import tags_after
from ansible_collections.kdsw.workbench.plugins.module_utils.efs import update_tags
from ansible_collections.kdsw.workbench.plugins.module_utils.efs import wait_for_file_system
from ansible_collections.kdsw.workbench.plugins.module_utils.efs import wait_for_mount_target

TRANSITION_TO_IA = ["AFTER_1_DAY", "AFTER_7_DAYS", "AFTER_14_DAYS", "AFTER_30_DAYS", "AFTER_60_DAYS", "AFTER_90_DAYS",
                    "AFTER_180_DAYS", "AFTER_270_DAYS", "AFTER_365_DAYS", "none"]
# The lifecycle transitions this module manages: option -> key of an EFS LifecyclePolicy.
LIFECYCLE_OPTIONS = {"transition_to_ia": "TransitionToIA", "transition_to_primary_storage_class": "TransitionToPrimaryStorageClass"}
# Options fixed at creation: option -> key of an EFS file system description.
IMMUTABLE_OPTIONS = {"encrypted": "Encrypted", "performance_mode": "PerformanceMode"}


# --- EFS calls only this module makes ------------------------------------------------------------


@EFSErrorHandler.common_error_handler("create file system {creation_token}")
@AWSRetry.jittered_backoff()
def create_file_system(client, creation_token, request):
    return client.create_file_system(CreationToken=creation_token, **request)


@EFSErrorHandler.common_error_handler("change the throughput mode of file system {file_system_id} to {mode}")
@AWSRetry.jittered_backoff()
def update_throughput(client, file_system_id, mode, mibps):
    request = {"ProvisionedThroughputInMibps": mibps} if mibps is not None else {}
    client.update_file_system(FileSystemId=file_system_id, ThroughputMode=mode, **request)


@EFSErrorHandler.common_error_handler("set the lifecycle policies of file system {file_system_id}")
@AWSRetry.jittered_backoff()
def put_lifecycle_policies(client, file_system_id, transitions):
    client.put_lifecycle_configuration(FileSystemId=file_system_id, LifecyclePolicies=policy_list(transitions))


@EFSErrorHandler.deletion_error_handler("delete file system {file_system_id}")
@AWSRetry.jittered_backoff()
def delete_file_system(client, file_system_id):
    client.delete_file_system(FileSystemId=file_system_id)
    return True


@EFSErrorHandler.common_error_handler("create a mount target in subnet {subnet_id} for file system {file_system_id}")
@AWSRetry.jittered_backoff()
def create_mount_target(client, file_system_id, subnet_id, security_groups):
    request = {"SecurityGroups": security_groups} if security_groups is not None else {}
    return client.create_mount_target(FileSystemId=file_system_id, SubnetId=subnet_id, **request)


@EFSErrorHandler.common_error_handler("set the security groups of mount target {mount_target_id} to {security_groups}")
@AWSRetry.jittered_backoff()
def modify_mount_target_security_groups(client, mount_target_id, security_groups):
    client.modify_mount_target_security_groups(MountTargetId=mount_target_id, SecurityGroups=security_groups)


@EFSErrorHandler.deletion_error_handler("delete mount target {mount_target_id}")
@AWSRetry.jittered_backoff()
def delete_mount_target(client, mount_target_id):
    client.delete_mount_target(MountTargetId=mount_target_id)
    return True


# --- comparable views: what the diff shows and what decides every change ---------------------------


def policy_list(transitions):
    """EFS wants one transition per LifecyclePolicy object."""
    return [{key: transitions[key]} for key in sorted(transitions)]


def transitions_of(policies):
    """{transition key: rule} from a list of EFS LifecyclePolicy objects."""
    transitions = {}
    for policy in policies:
        transitions.update(policy)
    return transitions


def sorted_or_none(items):
    return None if items is None else sorted(items)


def provisioned_mibps(mode, value):
    return float(value) if mode == "provisioned" and value is not None else None


def current_view(observed):
    """The comparable settings of an observed file system ({} when it does not exist)."""
    if observed is None:
        return {}
    file_system = observed["file_system"]
    return {
        "encrypted": file_system["Encrypted"],
        "performance_mode": file_system["PerformanceMode"],
        "throughput_mode": file_system["ThroughputMode"],
        "provisioned_throughput_in_mibps": provisioned_mibps(file_system["ThroughputMode"], file_system.get("ProvisionedThroughputInMibps")),
        "lifecycle_policies": observed["transitions"],
        "tags": boto3_tag_list_to_ansible_dict(file_system.get("Tags", [])),
        "mount_targets": {target["SubnetId"]: sorted_or_none(target["SecurityGroups"]) for target in observed["mount_targets"]},
    }


def wanted_transitions(params, current):
    """The managed transitions from the options; transitions this module does not manage are kept."""
    transitions = {key: rule for key, rule in current.items() if key not in LIFECYCLE_OPTIONS.values()}
    transitions.update((key, params[option]) for option, key in LIFECYCLE_OPTIONS.items() if params[option] != "none")
    return transitions


def wanted_tags(params, current):
    tags = dict(params["tags"] or {}, Name=params["name"])
    return tags_after(current, tags, purge_tags=params["purge_tags"] and params["tags"] is not None)


def wanted_mount_targets(option, current):
    """{subnet ID: sorted security groups, or None to let EFS choose them} from the mount_targets option."""
    if option is None:
        return dict(current)
    return {
        target["subnet_id"]: sorted(target["security_groups"]) if target["security_groups"] is not None else current.get(target["subnet_id"])
        for target in option
    }


def wanted_view(params, before):
    """The comparable settings the options ask for, starting from the current ones (`before`)."""
    mode = params["throughput_mode"]
    return {
        "encrypted": params["encrypted"],
        "performance_mode": params["performance_mode"],
        "throughput_mode": mode,
        "provisioned_throughput_in_mibps": provisioned_mibps(mode, params["provisioned_throughput_in_mibps"]),
        "lifecycle_policies": wanted_transitions(params, before.get("lifecycle_policies", {})),
        "tags": wanted_tags(params, before.get("tags", {})),
        "mount_targets": wanted_mount_targets(params["mount_targets"], before.get("mount_targets", {})),
    }


def same_kms_key(current, wanted):
    """Whether the file system's key (an ARN) is the wanted key ID or ARN; aliases cannot be resolved here and count as the same."""
    if "alias/" in wanted:
        return True
    return bool(current) and (current == wanted or current.endswith("/" + wanted))


# --- results ------------------------------------------------------------------------------------


def file_system_result(observed, region):
    if observed is None:
        return {}
    file_system = observed["file_system"]
    file_system_id = file_system["FileSystemId"]
    size = {key: value for key, value in file_system.get("SizeInBytes", {}).items() if key != "Timestamp"}
    return {
        "id": file_system_id,
        "arn": file_system.get("FileSystemArn"),
        "name": file_system.get("Name"),
        "creation_token": file_system["CreationToken"],
        "dns_name": f"{file_system_id}.efs.{region}.amazonaws.com",
        "life_cycle_state": file_system["LifeCycleState"],
        "encrypted": file_system["Encrypted"],
        "kms_key_id": file_system.get("KmsKeyId"),
        "performance_mode": file_system["PerformanceMode"],
        "throughput_mode": file_system["ThroughputMode"],
        "provisioned_throughput_in_mibps": file_system.get("ProvisionedThroughputInMibps"),
        "lifecycle_policies": [camel_dict_to_snake_dict(policy) for policy in policy_list(observed["transitions"])],
        "tags": boto3_tag_list_to_ansible_dict(file_system.get("Tags", [])),
        "size_in_bytes": camel_dict_to_snake_dict(size),
    }


def mount_target_result(target):
    return {
        "id": target["MountTargetId"],
        "subnet_id": target["SubnetId"],
        "availability_zone_name": target.get("AvailabilityZoneName"),
        "ip_address": target.get("IpAddress"),
        "life_cycle_state": target["LifeCycleState"],
        "network_interface_id": target.get("NetworkInterfaceId"),
        "vpc_id": target.get("VpcId"),
        "security_groups": target["SecurityGroups"] or [],
    }


# --- the module ---------------------------------------------------------------------------------


class FileSystemManager:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.client = module.client("efs", retry_decorator=AWSRetry.jittered_backoff())
        self.timeout = self.params["wait_timeout"]

    # reading -------------------------------------------------------------------------------------
    def read(self):
        """{file_system, transitions, mount_targets} of the file system named `name`, or None."""
        file_system = find_file_system(self.client, self.params["name"])
        if file_system is None or file_system["LifeCycleState"] == GONE:
            return None
        file_system_id = file_system["FileSystemId"]
        return {
            "file_system": file_system,
            "transitions": transitions_of(describe_lifecycle_policies(self.client, file_system_id)),
            "mount_targets": describe_mount_targets(self.client, file_system_id),
        }

    def read_settled(self):
        """read(), after waiting for a file system or mount targets being created, updated or deleted to settle."""
        observed = self.read()
        if observed is None:
            return None
        file_system = observed["file_system"]
        moving = [target for target in observed["mount_targets"] if target["LifeCycleState"] in TRANSITIONAL_STATES]
        if file_system["LifeCycleState"] not in TRANSITIONAL_STATES and not moving:
            return observed
        for target in moving:
            wait_for_mount_target(self.client, target["MountTargetId"], settled_state(target["LifeCycleState"]), self.timeout)
        wait_for_file_system(self.client, file_system["FileSystemId"], settled_state(file_system["LifeCycleState"]), self.timeout)
        return self.read()

    def check_immutable(self, file_system):
        """Fail when an option fixed at creation differs from the existing file system."""
        changes = [(option, file_system[key], self.params[option]) for option, key in IMMUTABLE_OPTIONS.items() if self.params[option] != file_system[key]]
        kms_key_id = self.params["kms_key_id"]
        if kms_key_id and not same_kms_key(file_system.get("KmsKeyId"), kms_key_id):
            changes.append(("kms_key_id", file_system.get("KmsKeyId"), kms_key_id))
        if changes:
            asked = ", ".join(f"{option} from {current} to {wanted}" for option, current, wanted in changes)
            self.module.fail_json(
                msg=f"Cannot change {asked} on EFS file system {file_system['FileSystemId']} ({self.params['name']}): "
                f"{' and '.join(change[0] for change in changes)} can only be set when a file system is created, "
                "so the file system must be recreated (state=absent, then state=present)."
            )

    # states --------------------------------------------------------------------------------------
    def ensure_present(self):
        observed = self.read_settled()
        if observed is not None:
            self.check_immutable(observed["file_system"])
        before = current_view(observed)
        after = wanted_view(self.params, before)
        changed = before != after
        if changed and not self.module.check_mode:
            if observed is None:
                observed = self.create(after)
            self.update(observed, current_view(observed), after)
            observed = self.read()
        return changed, before, after, observed

    def ensure_absent(self):
        observed = self.read_settled()
        if observed is None:
            return False, {}, {}, None
        if not self.module.check_mode:
            file_system_id = observed["file_system"]["FileSystemId"]
            self.delete_mount_targets([target["MountTargetId"] for target in observed["mount_targets"]], wait=True)
            delete_file_system(self.client, file_system_id)
            if self.params["wait"]:
                wait_for_file_system(self.client, file_system_id, GONE, self.timeout)
        return True, current_view(observed), {}, observed if self.module.check_mode else None

    # changes -------------------------------------------------------------------------------------
    def create(self, after):
        request = {
            "Encrypted": after["encrypted"],
            "PerformanceMode": after["performance_mode"],
            "ThroughputMode": after["throughput_mode"],
            "Tags": ansible_dict_to_boto3_tag_list(after["tags"]),
        }
        if self.params["kms_key_id"]:
            request["KmsKeyId"] = self.params["kms_key_id"]
        if after["provisioned_throughput_in_mibps"] is not None:
            request["ProvisionedThroughputInMibps"] = after["provisioned_throughput_in_mibps"]
        file_system = create_file_system(self.client, self.params["name"], request)
        wait_for_file_system(self.client, file_system["FileSystemId"], "available", self.timeout)
        return self.read()

    def update(self, observed, before, after):
        file_system_id = observed["file_system"]["FileSystemId"]
        throughput = ("throughput_mode", "provisioned_throughput_in_mibps")
        if any(before[key] != after[key] for key in throughput):
            update_throughput(self.client, file_system_id, after["throughput_mode"], after["provisioned_throughput_in_mibps"])
            wait_for_file_system(self.client, file_system_id, "available", self.timeout)
        if before["lifecycle_policies"] != after["lifecycle_policies"]:
            put_lifecycle_policies(self.client, file_system_id, after["lifecycle_policies"])
        if before["tags"] != after["tags"]:
            update_tags(self.client, file_system_id, before["tags"], after["tags"])
        if before["mount_targets"] != after["mount_targets"]:
            self.reconcile_mount_targets(file_system_id, observed["mount_targets"], after["mount_targets"])

    def reconcile_mount_targets(self, file_system_id, targets, wanted):
        """Delete the mount targets of unlisted subnets, create the missing ones, then update security groups that differ."""
        by_subnet = {target["SubnetId"]: target for target in targets}
        doomed = [target["MountTargetId"] for subnet, target in by_subnet.items() if subnet not in wanted]
        missing = {subnet: groups for subnet, groups in wanted.items() if subnet not in by_subnet}
        regrouped = {
            by_subnet[subnet]["MountTargetId"]: groups
            for subnet, groups in wanted.items()
            if subnet in by_subnet and groups is not None and groups != sorted_or_none(by_subnet[subnet]["SecurityGroups"])
        }
        # A new mount target may replace a deleted one in the same Availability Zone: it must be gone first.
        self.delete_mount_targets(doomed, wait=bool(missing) or self.params["wait"])
        created = [create_mount_target(self.client, file_system_id, subnet, groups)["MountTargetId"] for subnet, groups in missing.items()]
        for mount_target_id, groups in regrouped.items():
            modify_mount_target_security_groups(self.client, mount_target_id, groups)
        if self.params["wait"]:
            for mount_target_id in created:
                wait_for_mount_target(self.client, mount_target_id, "available", self.timeout)

    def delete_mount_targets(self, mount_target_ids, wait):
        for mount_target_id in mount_target_ids:
            delete_mount_target(self.client, mount_target_id)
        if wait:
            for mount_target_id in mount_target_ids:
                wait_for_mount_target(self.client, mount_target_id, GONE, self.timeout)

    def run(self):
        ensure = self.ensure_present if self.params["state"] == "present" else self.ensure_absent
        changed, before, after, observed = ensure()
        result = {
            "changed": changed,
            "file_system": file_system_result(observed, self.module.region),
            "mount_targets": [mount_target_result(target) for target in (observed or {}).get("mount_targets", [])],
        }
        if self.module._diff:
            result["diff"] = {"before": before, "after": after}
        return result


def validate(module):
    params = module.params
    if params["kms_key_id"] and not params["encrypted"]:
        module.fail_json(msg="kms_key_id requires encrypted=true.")
    subnets = [target["subnet_id"] for target in params["mount_targets"] or []]
    duplicates = sorted({subnet for subnet in subnets if subnets.count(subnet) > 1})
    if duplicates:
        module.fail_json(msg=f"mount_targets lists subnet(s) {', '.join(duplicates)} more than once; a subnet can have only one mount target.")


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        encrypted=dict(type="bool", default=True),
        kms_key_id=dict(type="str"),
        performance_mode=dict(type="str", choices=["generalPurpose", "maxIO"], default="generalPurpose"),
        throughput_mode=dict(type="str", choices=["bursting", "elastic", "provisioned"], default="elastic"),
        provisioned_throughput_in_mibps=dict(type="float"),
        transition_to_ia=dict(type="str", choices=TRANSITION_TO_IA, default="AFTER_30_DAYS"),
        transition_to_primary_storage_class=dict(type="str", choices=["AFTER_1_ACCESS", "none"], default="AFTER_1_ACCESS"),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
        mount_targets=dict(
            type="list",
            elements="dict",
            options=dict(
                subnet_id=dict(type="str", required=True),
                security_groups=dict(type="list", elements="str"),
            ),
        ),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        required_if=[("throughput_mode", "provisioned", ["provisioned_throughput_in_mibps"])],
        supports_check_mode=True,
    )
    validate(module)
    try:
        result = FileSystemManager(module).run()
    except AnsibleAWSError as e:
        module.fail_json_aws_error(e)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
