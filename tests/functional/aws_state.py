"""Everything the workbench can create, read back from the AWS endpoint as plain data.

Used to compare the endpoint before and after a run (check mode must change nothing), to assert
security properties, and to prove that teardown left nothing behind.
"""

import boto3
from botocore.exceptions import ClientError

REGION = "us-east-1"
CLUSTER_TAG = "kdsw:cluster"


def _client(service):
    return boto3.client(service, region_name=REGION)


def _tags(resource):
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags") or []}


def _paginate(client, method, key, **kwargs):
    items = []
    for page in client.get_paginator(method).paginate(**kwargs):
        items.extend(page[key])
    return items


def ec2_state():
    ec2 = _client("ec2")
    instances = [instance for reservation in _paginate(ec2, "describe_instances", "Reservations")
                 for instance in reservation["Instances"]]
    return {
        "vpcs": ec2.describe_vpcs()["Vpcs"],
        "subnets": ec2.describe_subnets()["Subnets"],
        "route_tables": ec2.describe_route_tables()["RouteTables"],
        "internet_gateways": ec2.describe_internet_gateways()["InternetGateways"],
        "nat_gateways": ec2.describe_nat_gateways()["NatGateways"],
        "vpc_endpoints": ec2.describe_vpc_endpoints()["VpcEndpoints"],
        "security_groups": ec2.describe_security_groups()["SecurityGroups"],
        "instances": instances,
        "volumes": ec2.describe_volumes()["Volumes"],
        "addresses": ec2.describe_addresses()["Addresses"],
        "network_interfaces": ec2.describe_network_interfaces()["NetworkInterfaces"],
        "key_pairs": ec2.describe_key_pairs()["KeyPairs"],
        "launch_templates": ec2.describe_launch_templates()["LaunchTemplates"],
        "fleets": [fleet for fleet in ec2.describe_fleets()["Fleets"]
                   if fleet["FleetState"] not in ("deleted", "deleted_terminating")],
    }


def iam_state():
    iam = _client("iam")
    roles = {}
    for role in _paginate(iam, "list_roles", "Roles"):
        name = role["RoleName"]
        roles[name] = {
            "inline": {policy: iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
                       for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]},
            "attached": [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]],
        }
    profiles = {profile["InstanceProfileName"]: [role["RoleName"] for role in profile["Roles"]]
                for profile in _paginate(iam, "list_instance_profiles", "InstanceProfiles")}
    return {"roles": roles, "instance_profiles": profiles}


def _bucket_part(call, key, **kwargs):
    try:
        return call(**kwargs).get(key)
    except ClientError as error:
        return {"error": error.response["Error"]["Code"]}


def s3_state():
    s3 = _client("s3")
    buckets = {}
    for bucket in s3.list_buckets()["Buckets"]:
        name = bucket["Name"]
        buckets[name] = {
            "encryption": _bucket_part(s3.get_bucket_encryption, "ServerSideEncryptionConfiguration", Bucket=name),
            "versioning": s3.get_bucket_versioning(Bucket=name).get("Status"),
            "public_access": _bucket_part(s3.get_public_access_block, "PublicAccessBlockConfiguration", Bucket=name),
            "lifecycle": _bucket_part(s3.get_bucket_lifecycle_configuration, "Rules", Bucket=name),
            "policy": _bucket_part(s3.get_bucket_policy, "Policy", Bucket=name),
            "tags": _bucket_part(s3.get_bucket_tagging, "TagSet", Bucket=name),
        }
    return buckets


def efs_state():
    efs = _client("efs")
    file_systems = []
    for file_system in _paginate(efs, "describe_file_systems", "FileSystems"):
        fs_id = file_system["FileSystemId"]
        file_systems.append({
            "file_system": {key: value for key, value in file_system.items() if key != "SizeInBytes"},
            "lifecycle": efs.describe_lifecycle_configuration(FileSystemId=fs_id)["LifecyclePolicies"],
            "mount_targets": [
                dict(target, SecurityGroups=efs.describe_mount_target_security_groups(
                    MountTargetId=target["MountTargetId"])["SecurityGroups"])
                for target in efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]],
        })
    return file_systems


def ssm_state():
    ssm = _client("ssm")
    return {parameter["Name"]: parameter["Version"]
            for parameter in _paginate(ssm, "describe_parameters", "Parameters")}


def snapshot():
    """The whole account as the workbench sees it."""
    return {"ec2": ec2_state(), "iam": iam_state(), "s3": s3_state(), "efs": efs_state(), "ssm": ssm_state()}


def live_instances(state):
    return [i for i in state["ec2"]["instances"] if i["State"]["Name"] not in ("terminated", "shutting-down")]


def tagged(resources, cluster):
    return [resource for resource in resources if _tags(resource).get(CLUSTER_TAG) == cluster]


def workbench_resources(cluster):
    """Every resource that carries the workbench's tag (or, for IAM and SSM, its name), by kind."""
    state = snapshot()
    ec2 = state["ec2"]
    left = {
        "instances": tagged(live_instances(state), cluster),
        "vpcs": tagged(ec2["vpcs"], cluster),
        "subnets": tagged(ec2["subnets"], cluster),
        "security_groups": tagged(ec2["security_groups"], cluster),
        "internet_gateways": tagged(ec2["internet_gateways"], cluster),
        "route_tables": tagged(ec2["route_tables"], cluster),
        "vpc_endpoints": [e for e in tagged(ec2["vpc_endpoints"], cluster) if e["State"].lower() != "deleted"],
        "key_pairs": [k for k in ec2["key_pairs"] if k["KeyName"] == cluster],
        "volumes": [v for v in ec2["volumes"] if v["State"] != "deleted"
                    and any(a["InstanceId"] in {i["InstanceId"] for i in tagged(ec2["instances"], cluster)}
                            for a in v.get("Attachments", []))],
        "addresses": tagged(ec2["addresses"], cluster),
        "network_interfaces": [n for n in ec2["network_interfaces"]
                               if n.get("VpcId") in {v["VpcId"] for v in tagged(ec2["vpcs"], cluster)}],
        "file_systems": [f for f in state["efs"] if _tags(f["file_system"]).get(CLUSTER_TAG) == cluster],
        "iam_roles": [r for r in state["iam"]["roles"] if r.startswith(cluster + "-")],
        "instance_profiles": [p for p in state["iam"]["instance_profiles"] if p.startswith(cluster + "-")],
        "ssm_parameters": [p for p in state["ssm"] if p.startswith(f"/kdsw/{cluster}/")],
        "fleets": tagged(ec2["fleets"], cluster),
        # By name: moto reports a launch template's tags as they were at its creation, not those added later.
        "launch_templates": [t for t in ec2["launch_templates"] if t["LaunchTemplateName"].startswith(cluster + "-")],
    }
    return {kind: items for kind, items in left.items() if items}
