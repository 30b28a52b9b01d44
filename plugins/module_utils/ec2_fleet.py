# -*- coding: utf-8 -*-

# Copyright: Contributors to the kdsw.workbench project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""EC2 Fleet helpers of the collection: node pools as instant fleets reconciled against tagged instances.

The model is Karpenter's. A pool is the set of instances tagged ``kdsw:pool=<name>`` (and, when the
caller tags its pools with ``kdsw:cluster``, that tag too). Reading a pool is one paginated
DescribeInstances filtered by those tags and the instance state. Growing it is one CreateFleet of
type ``instant`` for the missing capacity, with every instance type x subnet as an override, so that
EC2 picks the pools with capacity. Shrinking it terminates the surplus. Nothing else is kept: an
instant fleet is a one-shot request, and the instances are the state.

The AWS calls retry throttling with jittered backoff and raise AnsibleFleetError (an
AnsibleAWSError) whose message says what was being done and, where AWS's error has a known
cause, what to change; modules end with module.fail_json_aws_error(e). The other functions are
pure and make no call.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import time

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.errors import AWSErrorHandler
from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.kdsw.workbench.plugins.module_utils.instance_types import lookup

try:
    import botocore
except ImportError:
    pass  # The module reports a missing botocore.

POOL_TAG = "kdsw:pool"
CLUSTER_TAG = "kdsw:cluster"
# States in which an instance counts towards the pool's capacity.
LIVE_STATES = ("pending", "running")
# States of an instance that still exists (and may cost money): what state=absent removes.
EXISTING_STATES = ("pending", "running", "stopping", "stopped")
ALLOCATION_STRATEGIES = ("price-capacity-optimized", "capacity-optimized", "capacity-optimized-prioritized", "diversified", "lowest-price")
LIFECYCLES = ("spot", "on-demand")
CAPACITY_UNITS = ("units", "vcpu")
# Largest page of DescribeInstances, largest TerminateInstances, largest DeleteFleets of instant fleets.
DESCRIBE_PAGE_SIZE = 1000
TERMINATE_BATCH = 1000
DELETE_INSTANT_FLEETS_BATCH = 25
# Fleets still alive (not deleted): the only ones state=absent deletes.
ACTIVE_FLEET_STATES = ("submitted", "active", "modifying")
EPSILON = 1e-9

# EC2 quotas (Service Quotas, service code ec2) that cap a pool, in vCPUs, per instance family class.
QUOTAS = {
    "standard": {
        "on-demand": ("L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances"),
        "spot": ("L-34B43A08", "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests"),
    },
    "g": {
        "on-demand": ("L-DB2E81BA", "Running On-Demand G and VT instances"),
        "spot": ("L-3819A6DF", "All G and VT Spot Instance Requests"),
    },
    "p": {
        "on-demand": ("L-417A185B", "Running On-Demand P instances"),
        "spot": ("L-7212CCBC", "All P Spot Instance Requests"),
    },
}

# Error codes of CreateFleet's Errors (instant fleets), by what the user can do about them.
CAPACITY_ERRORS = ("InsufficientInstanceCapacity", "InsufficientCapacity", "UnfulfillableCapacity", "InsufficientHostCapacity")
PRICE_ERRORS = ("SpotMaxPriceTooLow",)
QUOTA_ERRORS = ("VcpuLimitExceeded", "MaxSpotInstanceCountExceeded", "InstanceLimitExceeded")
UNSUPPORTED_ERRORS = ("Unsupported", "InvalidFleetConfiguration", "UnsupportedOperation", "InvalidParameterCombination")
ADDRESS_ERRORS = ("InsufficientFreeAddressesInSubnet",)

# ClientErrors of CreateFleet itself, with the fix.
REQUEST_ERROR_FIXES = {
    "InvalidLaunchTemplateName.NotFoundException": "the launch template does not exist; create it first (the node_pool role makes <cluster>-<pool>)",
    "InvalidLaunchTemplateId.NotFound": "the launch template does not exist; create it first (the node_pool role makes <cluster>-<pool>)",
    "InvalidLaunchTemplateId.VersionNotFound": "the launch template has no such version; use $Latest, $Default or an existing version number",
    "InvalidLaunchTemplateName.MalformedException": "the launch template name is malformed; use 3-128 letters, digits and ()./_-",
    "InvalidSubnetID.NotFound": "a subnet of subnet_ids does not exist in this region; list existing subnets",
    "UnauthorizedOperation": "the AWS credentials may not call ec2:CreateFleet (and ec2:RunInstances, ec2:CreateTags, iam:PassRole "
                             "for the instance profile); grant them",
}


class AnsibleFleetError(AnsibleAWSError):
    pass


class FleetErrorHandler(AWSErrorHandler):
    _CUSTOM_EXCEPTION = AnsibleFleetError

    @classmethod
    def _is_missing(cls):
        return is_boto3_error_code(["InvalidInstanceID.NotFound", "InvalidFleetId.NotFound"])


# --- the pool's identity --------------------------------------------------------------------


def identity_tags(name, tags):
    """The tags that select the pool's instances: its kdsw:pool tag and, when tagged so, its kdsw:cluster tag."""
    identity = {POOL_TAG: name}
    if tags and tags.get(CLUSTER_TAG):
        identity[CLUSTER_TAG] = str(tags[CLUSTER_TAG])
    return identity


def instance_tags(name, tags):
    """Every tag of the pool's instances (and of its fleets): the user's tags plus the identity tags."""
    result = {str(key): str(value) for key, value in (tags or {}).items()}
    result.update(identity_tags(name, tags))
    return result


def tag_list(tags):
    return [{"Key": key, "Value": tags[key]} for key in sorted(tags)]


def instance_filters(identity, states):
    filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in sorted(identity.items())]
    filters.append({"Name": "instance-state-name", "Values": list(states)})
    return filters


# --- capacity -------------------------------------------------------------------------------


def catalog_vcpus(instance_type):
    entry = lookup(instance_type)
    return entry["vcpus"] if entry else None


def family_class(instance_type):
    """Which quota class an instance type counts against: standard, g (G and VT) or p."""
    family = instance_type.split(".", 1)[0]
    if family.startswith("g") or family.startswith("vt"):
        return "g"
    if family.startswith("p"):
        return "p"
    return "standard"


class Weights:
    """How much capacity an instance of a type provides: its weight (units) or its vCPUs (vcpu)."""

    def __init__(self, capacity_unit, weights=None):
        self.capacity_unit = capacity_unit
        self.weights = {key: float(value) for key, value in (weights or {}).items()}

    def of_type(self, instance_type, fallback_vcpus=None):
        if self.capacity_unit == "vcpu":
            return float(catalog_vcpus(instance_type) or fallback_vcpus or 1)
        return self.weights.get(instance_type, 1.0)

    def of(self, view):
        return self.of_type(view["type"], view.get("vcpus"))


def capacity(views, weights, lifecycle=None):
    return sum(weights.of(view) for view in views if lifecycle is None or view["lifecycle"] == lifecycle)


def tidy(number):
    """An integral float as an int, for readable results (2.0 -> 2)."""
    return int(number) if float(number).is_integer() else round(number, 3)


# --- instances as the module returns them ---------------------------------------------------


def _timestamp(value):
    return value.isoformat() if hasattr(value, "isoformat") else (str(value) if value is not None else "")


def instance_view(instance):
    """The few fields of a DescribeInstances instance that a pool needs and returns."""
    cpu = instance.get("CpuOptions") or {}
    vcpus = cpu.get("CoreCount", 0) * cpu.get("ThreadsPerCore", 1) or None
    return {
        "id": instance["InstanceId"],
        "type": instance["InstanceType"],
        "zone": (instance.get("Placement") or {}).get("AvailabilityZone", ""),
        "subnet_id": instance.get("SubnetId", ""),
        "lifecycle": "spot" if instance.get("InstanceLifecycle") == "spot" else "on-demand",
        "state": (instance.get("State") or {}).get("Name", ""),
        "launch_time": _timestamp(instance.get("LaunchTime")),
        "private_ip": instance.get("PrivateIpAddress", ""),
        "vcpus": vcpus,
        "launched": instance["LaunchTime"].timestamp() if hasattr(instance.get("LaunchTime"), "timestamp") else 0.0,
    }


PRIVATE_FIELDS = ("vcpus", "launched")


def public_view(view):
    return {key: value for key, value in view.items() if key not in PRIVATE_FIELDS}


def type_counts(views):
    counts = {}
    for view in views:
        counts[view["type"]] = counts.get(view["type"], 0) + 1
    return dict(sorted(counts.items()))


def sort_views(views):
    return sorted(views, key=lambda view: (view.get("launched", 0.0), view["id"]))


# --- scale down -----------------------------------------------------------------------------


def choose_victims(views, target, weights, instance_types, subnet_ids):
    """The instances to terminate so that the pool's capacity comes down to (not below) target.

    One at a time, among the instances whose removal keeps the capacity at or above target:
      1. drifted instances first: a type or subnet the pool no longer lists;
      2. then spot before on-demand, so that an on-demand base is the last to go;
      3. then the instance in the zone with the most remaining pool instances, which keeps the pool
         spread over the zones (a zone outage or spot reclaim then takes fewer nodes at once);
      4. then the newest (it has done the least work; the oldest nodes keep their caches),
         and the instance ID to make the choice deterministic.
    """
    remaining = list(views)
    fulfilled = capacity(remaining, weights)
    victims = []
    listed_types, listed_subnets = set(instance_types or ()), set(subnet_ids or ())
    while fulfilled > target + EPSILON:
        candidates = [view for view in remaining if fulfilled - weights.of(view) >= target - EPSILON]
        if not candidates:
            break
        population = {}
        for view in remaining:
            population[view["zone"]] = population.get(view["zone"], 0) + 1

        def order(view):
            drifted = (listed_types and view["type"] not in listed_types) or (listed_subnets and view["subnet_id"] not in listed_subnets)
            return (not drifted, view["lifecycle"] != "spot", -population[view["zone"]], -view.get("launched", 0.0), view["id"])

        victim = min(candidates, key=order)
        victims.append(victim)
        remaining.remove(victim)
        fulfilled -= weights.of(victim)
    return victims


# --- scale up -------------------------------------------------------------------------------


def build_overrides(instance_types, subnet_ids, weights, max_price=None, prioritized=False):
    """One override per instance type x subnet, in the order of instance_types then subnet_ids."""
    overrides = []
    for priority, instance_type in enumerate(instance_types):
        for subnet_id in subnet_ids:
            override = {"InstanceType": instance_type, "SubnetId": subnet_id, "WeightedCapacity": weights.of_type(instance_type)}
            if max_price is not None:
                override["MaxPrice"] = format_price(max_price)
            if prioritized:
                override["Priority"] = float(priority)
            overrides.append(override)
    return overrides


def format_price(price):
    return ("%.6f" % float(price)).rstrip("0").rstrip(".")


def launch_template_specification(template_id=None, template_name=None, version="$Latest"):
    spec = {"LaunchTemplateId": template_id} if template_id else {"LaunchTemplateName": template_name}
    spec["Version"] = str(version)
    return spec


def split_capacity(missing, on_demand_missing, capacity_type):
    """(total, on-demand, spot) units to ask for: whole units, the on-demand part first filling the base."""
    total = int(math.ceil(missing - EPSILON))
    if capacity_type == "on-demand":
        on_demand = total
    else:
        on_demand = min(total, int(math.ceil(max(on_demand_missing, 0) - EPSILON)))
    return total, on_demand, total - on_demand


def build_fleet_request(total, on_demand, capacity_type, strategy, template_spec, overrides, tags):
    """The CreateFleet parameters of an instant fleet for `total` units, `on_demand` of them on-demand."""
    prioritized = strategy == "capacity-optimized-prioritized"
    return {
        "Type": "instant",
        "TargetCapacitySpecification": {
            "TotalTargetCapacity": total,
            "OnDemandTargetCapacity": on_demand,
            "SpotTargetCapacity": total - on_demand,
            "DefaultTargetCapacityType": capacity_type,
        },
        "SpotOptions": {"AllocationStrategy": strategy, "InstanceInterruptionBehavior": "terminate"},
        "OnDemandOptions": {"AllocationStrategy": "prioritized" if prioritized else "lowest-price"},
        "LaunchTemplateConfigs": [{"LaunchTemplateSpecification": template_spec, "Overrides": overrides}],
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": tag_list(tags)},
            {"ResourceType": "fleet", "Tags": tag_list(tags)},
        ],
    }


def launched(response):
    """[(instance ID, type, lifecycle, override)] of a CreateFleet response."""
    result = []
    for item in response.get("Instances") or []:
        override = (item.get("LaunchTemplateAndOverrides") or {}).get("Overrides") or {}
        for instance_id in item.get("InstanceIds") or []:
            result.append((instance_id, item.get("InstanceType") or override.get("InstanceType", ""), item.get("Lifecycle", "on-demand"), override))
    return result


# --- what a fleet error means -----------------------------------------------------------------


def fleet_errors(response):
    """The Errors of a CreateFleet response, flattened: code, message, lifecycle, instance type, subnet, zone."""
    errors = []
    for error in response.get("Errors") or []:
        override = (error.get("LaunchTemplateAndOverrides") or {}).get("Overrides") or {}
        errors.append({
            "code": error.get("ErrorCode", ""),
            "message": error.get("ErrorMessage", ""),
            "lifecycle": error.get("Lifecycle", ""),
            "instance_type": override.get("InstanceType", ""),
            "subnet_id": override.get("SubnetId", ""),
            "zone": override.get("AvailabilityZone", ""),
        })
    return errors


def _where(errors):
    places = sorted({"%s in %s" % (e["instance_type"] or "?", e["zone"] or e["subnet_id"] or "?") for e in errors})
    return ", ".join(places)


def _quota_advice(errors, vcpus_needed):
    lines = []
    keys = sorted({(family_class(e["instance_type"] or "m"), "spot" if e["code"] == "MaxSpotInstanceCountExceeded" or e["lifecycle"] == "spot"
                    else "on-demand") for e in errors})
    for family, lifecycle in keys:
        code, name = QUOTAS[family][lifecycle]
        lines.append(
            f"the account's vCPU quota '{name}' ({code}) is used up; request an increase in Service Quotas "
            f"(aws service-quotas request-service-quota-increase --service-code ec2 --quota-code {code} --desired-value <current + {vcpus_needed}>)")
    return lines


def explain_fleet_errors(errors, vcpus_needed=0, max_price=None):
    """One line per kind of error: what happened, where, and what to change."""
    by_kind = {}
    for error in errors:
        code = error["code"]
        if code in CAPACITY_ERRORS:
            kind = "capacity"
        elif code in PRICE_ERRORS:
            kind = "price"
        elif code in QUOTA_ERRORS:
            kind = "quota"
        elif code in UNSUPPORTED_ERRORS:
            kind = "unsupported"
        elif code in ADDRESS_ERRORS:
            kind = "addresses"
        else:
            kind = "other"
        by_kind.setdefault(kind, []).append(error)
    lines = []
    for kind in ("capacity", "price", "quota", "unsupported", "addresses", "other"):
        found = by_kind.get(kind)
        if not found:
            continue
        if kind == "capacity":
            lines.append(f"EC2 has no spare capacity for {_where(found)} right now; add instance types (similar sizes of other families or "
                         "generations) or subnets in other zones to the pool, or retry later")
        elif kind == "price":
            cap = f" of {format_price(max_price)} USD" if max_price is not None else ""
            lines.append(f"the spot price of {_where(found)} is above max_price{cap}; raise max_price or remove it "
                         "(the on-demand price is then the cap)")
        elif kind == "quota":
            lines.extend(_quota_advice(found, vcpus_needed))
        elif kind == "unsupported":
            types = sorted({e["instance_type"] for e in found if e["instance_type"]})
            lines.append(f"{_where(found)} is not offered (or not with this launch template); drop {', '.join(types) or 'the type'} "
                         "from the pool or the subnet of that zone")
        elif kind == "addresses":
            lines.append(f"a subnet has no free IP address ({_where(found)}); add subnets or free addresses")
        else:
            codes = sorted({e["code"] or "unknown" for e in found})
            detail = "; ".join(sorted({e["message"] for e in found if e["message"]}))
            lines.append(f"EC2 refused {_where(found)} ({', '.join(codes)}){': ' + detail if detail else ''}")
    return lines


def request_error_fix(error):
    """The fix of a ClientError of CreateFleet, or ''."""
    code = error.response.get("Error", {}).get("Code", "") if hasattr(error, "response") else ""
    return REQUEST_ERROR_FIXES.get(code, "")


# --- AWS calls --------------------------------------------------------------------------------


def _paginated_instances(client, filters):
    paginator = client.get_paginator("describe_instances")
    pages = paginator.paginate(Filters=filters, PaginationConfig={"PageSize": DESCRIBE_PAGE_SIZE})
    return [instance for page in pages for reservation in page["Reservations"] for instance in reservation["Instances"]]


@FleetErrorHandler.common_error_handler("describe the instances of pool {identity}")
@AWSRetry.jittered_backoff()
def describe_pool_instances(client, identity, states=LIVE_STATES):
    """Every instance of the pool in one of `states`: one paginated DescribeInstances (one request per 1000 reservations)."""
    return _paginated_instances(client, instance_filters(identity, states))


@FleetErrorHandler.common_error_handler("describe the instances tagged {tag_key} and {tags}")
@AWSRetry.jittered_backoff()
def describe_tagged_instances(client, tag_key, tags, states=LIVE_STATES):
    """Every instance that has the tag key tag_key (any value) and all of tags, in one of `states`."""
    filters = [{"Name": "tag-key", "Values": [tag_key]}] + instance_filters(tags, states)
    return _paginated_instances(client, filters)


@FleetErrorHandler.common_error_handler("describe instances {instance_ids}")
@AWSRetry.jittered_backoff(catch_extra_error_codes=["InvalidInstanceID.NotFound"])
def describe_instances_by_id(client, instance_ids):
    """The instances with these IDs; retried while new instances are not visible yet (eventual consistency)."""
    instances = []
    for start in range(0, len(instance_ids), TERMINATE_BATCH):
        response = client.describe_instances(InstanceIds=list(instance_ids[start:start + TERMINATE_BATCH]))
        instances.extend(instance for reservation in response["Reservations"] for instance in reservation["Instances"])
    return instances


@AWSRetry.jittered_backoff()
def _create_fleet(client, request):
    return client.create_fleet(**request)


def create_instant_fleet(client, request, pool):
    """CreateFleet(Type=instant), retried on throttling with the request's ClientToken; ClientErrors explained."""
    try:
        return _create_fleet(client, request)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        fix = request_error_fix(e) if isinstance(e, botocore.exceptions.ClientError) else ""
        raise AnsibleFleetError(message=f"Failed to launch instances for pool {pool}" + (f": {fix}" if fix else ""), exception=e) from e


@FleetErrorHandler.common_error_handler("terminate instances {instance_ids}")
@AWSRetry.jittered_backoff()
def terminate_instances(client, instance_ids):
    for start in range(0, len(instance_ids), TERMINATE_BATCH):
        client.terminate_instances(InstanceIds=list(instance_ids[start:start + TERMINATE_BATCH]))


@FleetErrorHandler.common_error_handler("describe the fleets of pool {identity}")
@AWSRetry.jittered_backoff()
def describe_pool_fleets(client, identity):
    """The pool's instant fleets that are not deleted: [{id, instance_ids}], tagged with its identity tags.

    DescribeFleets cannot filter by tag, so every page of the region's fleets is read and filtered here.
    The instance IDs of an instant fleet are those it launched (AWS keeps listing terminated ones).
    """
    paginator = client.get_paginator("describe_fleets")
    fleets = [fleet for page in paginator.paginate() for fleet in page["Fleets"]]
    result = []
    for fleet in fleets:
        tags = {tag["Key"]: tag["Value"] for tag in fleet.get("Tags") or []}
        if fleet.get("FleetState") in ACTIVE_FLEET_STATES and all(tags.get(key) == value for key, value in identity.items()):
            instance_ids = {instance_id for item in fleet.get("Instances") or [] for instance_id in item.get("InstanceIds") or []}
            result.append({"id": fleet["FleetId"], "instance_ids": instance_ids})
    return sorted(result, key=lambda fleet: fleet["id"])


def plan_termination(victim_ids, fleets, live_ids, delete_stale=False):
    """How to remove the victims: (fleet IDs to delete, instance IDs to terminate one by one).

    An instant fleet all of whose live instances are victims is deleted, which terminates them (the way AWS
    wants instant fleets removed, and no fleet is left behind when a pool shrinks to zero). The other victims
    are terminated directly. With delete_stale, fleets with no live instance left (reclaimed or terminated
    elsewhere) are deleted too.
    """
    doomed, live = set(victim_ids), set(live_ids)
    delete, covered = [], set()
    for fleet in fleets:
        fleet_live = fleet["instance_ids"] & live
        if fleet_live and fleet_live <= doomed:
            delete.append(fleet["id"])
            covered |= fleet_live
        elif not fleet_live and delete_stale:
            delete.append(fleet["id"])
    return delete, [instance_id for instance_id in victim_ids if instance_id not in covered]


@FleetErrorHandler.common_error_handler("delete fleets {fleet_ids}")
@AWSRetry.jittered_backoff()
def delete_fleets(client, fleet_ids):
    """Delete instant fleets, which terminates their instances; the IDs AWS could not delete, with the reason."""
    failed = []
    for start in range(0, len(fleet_ids), DELETE_INSTANT_FLEETS_BATCH):
        response = client.delete_fleets(FleetIds=list(fleet_ids[start:start + DELETE_INSTANT_FLEETS_BATCH]), TerminateInstances=True)
        for item in response.get("UnsuccessfulFleetDeletions") or []:
            error = item.get("Error") or {}
            failed.append(f"{item.get('FleetId', '?')} ({error.get('Code', '')}: {error.get('Message', '')})")
    return failed


def wait_for_instances(client, instance_ids, done, timeout, delay=5):
    """Poll DescribeInstances by ID until done(states) holds for every instance; the last description.

    The first poll is immediate, so an instance that is already there costs one request.
    """
    deadline = time.monotonic() + timeout
    while True:
        instances = describe_instances_by_id(client, instance_ids)
        found = {instance["InstanceId"]: instance["State"]["Name"] for instance in instances}
        if all(done(found.get(instance_id, "terminated")) for instance_id in instance_ids):
            return instances
        if time.monotonic() >= deadline:
            waiting = sorted(f"{key} ({value})" for key, value in found.items() if not done(value))
            raise AnsibleFleetError(message=f"Timeout after {timeout}s waiting for instances: {', '.join(waiting)}")
        time.sleep(delay)
