"""What the AWS endpoint would bill for, read back from it, and what the cost estimate counts, in the same terms.

Both sides are Counters keyed by (kind, detail): ("instance", "t4g.small"), ("volume", 20), ("public_ipv4", ""),
("efs", ""), ("s3_bucket", ""), ("nat_gateway", ""), ... Everything in the account counts, tagged or not, so a
forgotten resource shows up too.
"""

from collections import Counter

import boto3

from aws_state import REGION, live_instances

# Resources that cost money whatever their use, and that the estimate has no line for: there must be none.
NEVER_EXPECTED = ("nat_gateway", "unattached_address")


def billable(state):
    """Counter of the billable resources in a snapshot() of the endpoint (plus SSM parameter tiers, read here)."""
    ec2 = state["ec2"]
    found = Counter()
    instances = live_instances(state)
    for instance in instances:
        found["instance", instance["InstanceType"]] += 1
    for volume in ec2["volumes"]:
        if volume["State"] not in ("deleting", "deleted"):
            found["volume", volume["Size"]] += 1
    addresses = {instance["PublicIpAddress"] for instance in instances if instance.get("PublicIpAddress")}
    for address in ec2["addresses"]:
        addresses.add(address["PublicIp"])
        if not address.get("AssociationId") and not address.get("InstanceId"):
            found["unattached_address", address["PublicIp"]] += 1
    found["public_ipv4", ""] += len(addresses)
    found["nat_gateway", ""] += len([g for g in ec2["nat_gateways"] if g["State"] not in ("deleted", "deleting", "failed")])
    found["efs", ""] += len(state["efs"])
    found["s3_bucket", ""] += len(state["s3"])
    ssm = boto3.client("ssm", region_name=REGION)
    tiers = [p.get("Tier", "Standard") for page in ssm.get_paginator("describe_parameters").paginate() for p in page["Parameters"]]
    found["ssm_advanced_parameter", ""] += tiers.count("Advanced")
    found["fleet_capacity", ""] += sum(fleet["TargetCapacitySpecification"]["TotalTargetCapacity"] for fleet in ec2["fleets"])
    return +found


def estimated(report):
    """Counter of the always-on resources the estimate's base lines pay for (a cost_report JSON document)."""
    counted = Counter()
    for line in report["lines"]:
        if line["section"] != "base":
            continue
        resource = line["resource"]
        kind, count = resource["kind"], resource["count"]
        if kind == "instance":
            counted["instance", resource["instance_type"]] += count
            if resource["component"].startswith("pool:"):
                counted["fleet_capacity", ""] += count
        elif kind == "volume":
            counted["volume", resource["size_gb"]] += count
        else:
            counted[kind, ""] += count
    return +counted


def unaccounted(state, report):
    """What the endpoint holds that the estimate does not pay for (empty when nothing billable is missing)."""
    return billable(state) - estimated(report)
