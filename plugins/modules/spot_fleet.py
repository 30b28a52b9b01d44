#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the kdsw.workbench project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: spot_fleet
short_description: Keep a named pool of EC2 instances at a target capacity with EC2 Fleet (spot and on-demand)
version_added: 0.1.0
description:
  - Manages a node pool, a named set of EC2 instances that carry the tag C(kdsw:pool=<name>), and keeps its capacity at
    O(target_capacity) with the EC2 Fleet API, the way Karpenter does it. Unlike M(amazon.aws.ec2_spot_instance), which
    places a new request on every run, a run that finds the pool at its target makes no change.
  - B(Reading the pool) is one paginated C(DescribeInstances) filtered by the pool's tags and the states C(pending) and
    C(running) (one request per 1000 reservations). That is the only request of a run that finds nothing to change.
  - B(Scaling up) is one C(CreateFleet) of type C(instant) for the missing capacity only. Its overrides are every
    combination of O(instance_types) and O(subnet_ids), so that EC2 chooses among all of them with
    O(spot_allocation_strategy). The instances are tagged at launch with the pool's tags.
  - B(Scaling down) removes the surplus, one instance at a time as long as the capacity stays at or above the target,
    choosing first instances of a type or subnet the pool no longer lists, then spot before on-demand instances, then
    the instance in the zone that has the most instances of the pool (which keeps the pool spread over the zones), then the newest.
    The pool's instant fleets are read (C(DescribeFleets)); a fleet all of whose running instances go is deleted, which
    terminates them, so that a pool scaled to zero leaves no fleet behind; the other instances are terminated.
  - B(Removing) the pool (O(state=absent)) removes every instance the same way, waits until they are gone, and also deletes
    the pool's fleets that have no instance left (reclaimed or terminated elsewhere).
  - An instant fleet is a one-time request, not a controller. Nothing replaces an instance that EC2 reclaims or that fails;
    the next run of the module does.
  - When EC2 launches less than asked (no capacity, price, quota, an instance type not offered in a zone), the module fails
    if it launched nothing and warns if it launched part; either message says what to change.
  - Every option is checked before any AWS request. Supports check mode and diff mode.
author:
  - kdsw.workbench maintainers (@kdsw)
options:
  name:
    description:
      - The name of the pool, the value of the C(kdsw:pool) tag of its instances and fleets.
      - When O(tags) contains a C(kdsw:cluster) tag, the pool is the instances that carry both tags, so that two workbenches
        in one region can each have a pool of the same name.
    type: str
    required: true
  state:
    description:
      - V(present) brings the pool to O(target_capacity).
      - V(absent) terminates every instance of the pool (also stopped ones), waits for them to be gone when O(wait=true),
        and deletes the pool's instant fleets.
    type: str
    choices: ['present', 'absent']
    default: present
  target_capacity:
    description:
      - The capacity the pool should have, in O(capacity_unit)s. V(0) terminates every instance but keeps nothing else either.
      - Required when O(state=present).
      - With weights, EC2 may launch a little more than asked (a type of weight 2 for a missing unit of 1); the module never
        terminates an instance if that would take the capacity below the target, so the result is stable.
    type: int
    aliases: ['capacity']
  capacity_unit:
    description:
      - What a unit of capacity is.
      - V(units) counts each instance as its weight in O(weights) (1 by default, so units are instances).
      - V(vcpu) counts each instance as its number of vCPUs, from the collection's catalog of instance types.
    type: str
    choices: ['units', 'vcpu']
    default: units
  weights:
    description:
      - The weight (capacity units per instance) of instance types, for O(capacity_unit=units). Types not listed weigh 1.
      - Sent to EC2 as the C(WeightedCapacity) of each override.
    type: dict
  min_capacity:
    description:
      - A guard. When set, a O(target_capacity) below it is refused before any request. The module never picks a capacity itself.
    type: int
  max_capacity:
    description:
      - A guard. When set, a O(target_capacity) above it is refused before any request.
    type: int
  capacity_type:
    description:
      - How the capacity above O(on_demand_base_capacity) is bought.
    type: str
    choices: ['spot', 'on-demand']
    default: spot
  on_demand_base_capacity:
    description:
      - How much of the capacity is on-demand. A scale-up launches on-demand instances first, until the pool's on-demand capacity
        reaches this base. A scale-down terminates spot instances first, so the base goes last.
      - Must not exceed O(target_capacity).
    type: int
    default: 0
  spot_allocation_strategy:
    description:
      - How EC2 chooses among the overrides for spot capacity.
      - V(price-capacity-optimized) (recommended by AWS) picks the pools least likely to be interrupted, then the cheapest of them.
      - V(capacity-optimized) picks the pools least likely to be interrupted.
      - V(capacity-optimized-prioritized) does the same but honours the order of O(instance_types) as a priority, which on-demand
        capacity then follows too (C(prioritized)).
      - V(diversified) spreads the capacity over all overrides.
      - V(lowest-price) picks the cheapest pool (the most interrupted; not recommended).
      - On-demand capacity is bought at the lowest price, or in the order of O(instance_types) with V(capacity-optimized-prioritized).
    type: str
    choices: ['price-capacity-optimized', 'capacity-optimized', 'capacity-optimized-prioritized', 'diversified', 'lowest-price']
    default: price-capacity-optimized
  instance_types:
    description:
      - The instance types the pool may use, all of one CPU architecture (the launch template's image has one).
      - Each must be in the collection's catalog of instance types (C(plugins/module_utils/instance_types.py)).
      - The more types, the better the odds of spot capacity. Required when O(state=present).
    type: list
    elements: str
  subnet_ids:
    description:
      - The subnets (one per Availability Zone, usually) the pool may use. Required when O(state=present).
      - Every instance type is offered in every subnet; the fleet request has one override per type and subnet.
    type: list
    elements: str
  max_price:
    description:
      - The highest price, in USD per unit of capacity and hour, to pay for spot capacity (the C(MaxPrice) of each override).
      - Not set (recommended by AWS), the on-demand price is the cap.
    type: float
  launch_template_id:
    description:
      - The ID of the launch template of the pool's instances. Mutually exclusive with O(launch_template_name).
      - One of them is required when O(state=present).
      - The template provides everything but the instance type and the subnet (image, user data, security groups, instance
        profile, volumes, metadata options).
    type: str
  launch_template_name:
    description:
      - The name of the launch template of the pool's instances. Mutually exclusive with O(launch_template_id).
    type: str
  launch_template_version:
    description:
      - The version of the launch template new instances use; V($Latest), V($Default) or a version number.
      - Running instances are not replaced when the template changes; replace them deliberately (scale to 0 and back).
    type: str
    default: $Latest
  tags:
    description:
      - Tags of the pool's instances and instant fleets, set at launch. C(kdsw:pool) is always set to O(name).
      - A C(kdsw:cluster) tag also becomes part of the pool's identity (see O(name)).
      - Changing the tags does not retag running instances.
    type: dict
    aliases: ['resource_tags']
  wait:
    description:
      - Whether to wait until new instances have left the C(pending) state and terminated instances are C(terminated).
    type: bool
    default: true
  wait_timeout:
    description:
      - How long to wait, in seconds, for each of the waits of O(wait).
    type: int
    default: 600
notes:
  - "AWS requests of a run: one C(DescribeInstances) per 1000 reservations of the pool, nothing else when nothing changes.
    A scale-up adds one C(CreateFleet) and one C(DescribeInstances) per poll of the new instances (one when they are already
    past C(pending)). A scale-down and O(state=absent) add the pages of C(DescribeFleets), one C(DeleteFleets) per 25 fleets
    to delete, one C(TerminateInstances) per 1000 other instances and, with O(wait=true), one C(DescribeInstances) per poll."
  - In check mode, RV(instances) describe the pool as it is and RV(fleet_request) is the request that would be sent.
  - "IAM permissions: C(ec2:DescribeInstances), C(ec2:CreateFleet), C(ec2:RunInstances), C(ec2:CreateTags),
    C(ec2:TerminateInstances), C(ec2:DescribeFleets), C(ec2:DeleteFleets), C(iam:PassRole) on the launch template's instance
    role, and C(iam:CreateServiceLinkedRole) the first time spot capacity is used in the account."
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: A Spark pool of two spot instances over four types and two zones
  kdsw.workbench.spot_fleet:
    name: spark
    target_capacity: 2
    instance_types: [m7i.2xlarge, m6i.2xlarge, m6a.2xlarge, m5.2xlarge]
    subnet_ids: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]
    launch_template_name: kdsw-spark
    tags:
      kdsw:cluster: kdsw
      Name: kdsw-spark
  register: spark

- name: Show where the instances landed
  ansible.builtin.debug:
    msg: "{{ spark.instances | map(attribute='type') | zip(spark.instances | map(attribute='zone')) | list }}"

- name: 64 vCPUs of any of these types, one instance on-demand, the rest spot below 0.30 USD per vCPU-hour
  kdsw.workbench.spot_fleet:
    name: batch
    target_capacity: 64
    capacity_unit: vcpu
    on_demand_base_capacity: 8
    max_price: 0.30
    instance_types: [c7i.4xlarge, c6i.4xlarge, c7i.8xlarge]
    subnet_ids: [subnet-0123456789abcdef0]
    launch_template_id: lt-0123456789abcdef0
    launch_template_version: "3"

- name: Scale the Spark pool to zero (the pool stays defined by its launch template and tags)
  kdsw.workbench.spot_fleet:
    name: spark
    target_capacity: 0
    instance_types: [m7i.2xlarge]
    subnet_ids: [subnet-0123456789abcdef0]
    launch_template_name: kdsw-spark
    tags:
      kdsw:cluster: kdsw

- name: Remove the pool, its instances and its fleets
  kdsw.workbench.spot_fleet:
    name: spark
    state: absent
    tags:
      kdsw:cluster: kdsw
"""

RETURN = r"""
instances:
  description: The instances of the pool after the run (before it, in check mode), oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The instance ID.
      type: str
      sample: i-0123456789abcdef0
    type:
      description: The instance type.
      type: str
      sample: m7i.2xlarge
    zone:
      description: The Availability Zone.
      type: str
      sample: us-east-1a
    subnet_id:
      description: The subnet.
      type: str
      sample: subnet-0123456789abcdef0
    lifecycle:
      description: V(spot) or V(on-demand).
      type: str
      sample: spot
    state:
      description: The instance state, V(pending) or V(running).
      type: str
      sample: running
    launch_time:
      description: When the instance was launched (ISO 8601).
      type: str
      sample: "2025-01-31T12:00:00+00:00"
    private_ip:
      description: The private IPv4 address.
      type: str
      sample: 10.42.0.25
target_capacity:
  description: The target capacity, in O(capacity_unit)s (0 when O(state=absent)).
  returned: always
  type: int
  sample: 2
fulfilled_capacity:
  description: The capacity of RV(instances), in O(capacity_unit)s.
  returned: always
  type: float
  sample: 2
on_demand_capacity:
  description: The part of RV(fulfilled_capacity) that is on-demand.
  returned: always
  type: float
  sample: 0
spot_capacity:
  description: The part of RV(fulfilled_capacity) that is spot.
  returned: always
  type: float
  sample: 2
capacity_unit:
  description: The unit of the capacities, O(capacity_unit).
  returned: always
  type: str
  sample: units
fleet_request:
  description:
    - The C(CreateFleet) parameters sent to scale up (in check mode, those that would be sent, without C(ClientToken)).
    - Empty when no instance had to be launched.
  returned: always
  type: dict
  sample:
    Type: instant
    TargetCapacitySpecification: {TotalTargetCapacity: 2, OnDemandTargetCapacity: 0, SpotTargetCapacity: 2, DefaultTargetCapacityType: spot}
    SpotOptions: {AllocationStrategy: price-capacity-optimized, InstanceInterruptionBehavior: terminate}
    OnDemandOptions: {AllocationStrategy: lowest-price}
    LaunchTemplateConfigs:
      - LaunchTemplateSpecification: {LaunchTemplateName: kdsw-spark, Version: $Latest}
        Overrides:
          - {InstanceType: m7i.2xlarge, SubnetId: subnet-0123456789abcdef0, WeightedCapacity: 1.0}
          - {InstanceType: m7i.2xlarge, SubnetId: subnet-0fedcba9876543210, WeightedCapacity: 1.0}
    TagSpecifications:
      - {ResourceType: instance, Tags: [{Key: kdsw:pool, Value: spark}]}
      - {ResourceType: fleet, Tags: [{Key: kdsw:pool, Value: spark}]}
fleet_id:
  description: The ID of the instant fleet created by this run; empty when none was.
  returned: always
  type: str
  sample: fleet-01234567-89ab-cdef-0123-456789abcdef
terminated:
  description: The IDs of the instances this run terminated (in check mode, would terminate).
  returned: always
  type: list
  elements: str
  sample: [i-0123456789abcdef0]
deleted_fleets:
  description: The IDs of the instant fleets deleted (in check mode, that would be deleted), with O(state=absent).
  returned: always
  type: list
  elements: str
  sample: [fleet-01234567-89ab-cdef-0123-456789abcdef]
errors:
  description: The errors EC2 reported for the overrides it could not launch, when the fleet launched less than asked.
  returned: always
  type: list
  elements: dict
  contains:
    code:
      description: The EC2 error code, such as C(InsufficientInstanceCapacity).
      type: str
    message:
      description: The EC2 error message.
      type: str
    lifecycle:
      description: V(spot) or V(on-demand).
      type: str
    instance_type:
      description: The instance type of the override.
      type: str
    subnet_id:
      description: The subnet of the override.
      type: str
    zone:
      description: The Availability Zone of the override, when EC2 names it.
      type: str
"""

import difflib
import re
import uuid

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import ALLOCATION_STRATEGIES
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import CAPACITY_UNITS
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import EPSILON
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import EXISTING_STATES
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import LIFECYCLES
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import LIVE_STATES
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import Weights
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import build_fleet_request
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import build_overrides
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import capacity
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import catalog_vcpus
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import choose_victims
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import create_instant_fleet
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import delete_fleets
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import describe_instances_by_id
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import describe_pool_fleets
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import describe_pool_instances
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import explain_fleet_errors
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import fleet_errors
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import identity_tags
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import instance_tags
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import instance_view
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import launch_template_specification
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import launched
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import plan_termination
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import public_view
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import sort_views
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import split_capacity
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import terminate_instances
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import tidy
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import type_counts
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import wait_for_instances
from ansible_collections.kdsw.workbench.plugins.module_utils.instance_types import CATALOG
from ansible_collections.kdsw.workbench.plugins.module_utils.instance_types import lookup

SUBNET_ID_RE = re.compile(r"^subnet-[0-9a-f]{8,17}$")


def summary(views, weights):
    """What the diff shows of a pool: its capacity, by purchase option, and its instance types."""
    return {
        "capacity": tidy(capacity(views, weights)),
        "on_demand_capacity": tidy(capacity(views, weights, "on-demand")),
        "spot_capacity": tidy(capacity(views, weights, "spot")),
        "instance_types": type_counts(views),
    }


class PoolManager:
    """Reconciles one pool: reads its instances, then launches or terminates the difference."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.name = self.params["name"]
        self.weights = Weights(self.params["capacity_unit"], self.params["weights"])
        self.identity = identity_tags(self.name, self.params["tags"])
        self.tags = instance_tags(self.name, self.params["tags"])
        self.client = module.client("ec2")
        self.result = {"fleet_request": {}, "fleet_id": "", "terminated": [], "deleted_fleets": [], "errors": []}

    def read(self, states):
        return [instance_view(instance) for instance in describe_pool_instances(self.client, self.identity, states)]

    # present -------------------------------------------------------------------------------
    def ensure_present(self):
        views = self.read(LIVE_STATES)
        target = self.params["target_capacity"]
        before = summary(views, self.weights)
        fulfilled = capacity(views, self.weights)
        if fulfilled < target - EPSILON:
            return self.scale_up(views, target, before)
        if fulfilled > target + EPSILON:
            victims = choose_victims(views, target, self.weights, self.params["instance_types"], self.params["subnet_ids"])
            if victims:
                return self.scale_down(views, victims, before)
        return False, before, before, views

    def request_for(self, views, target):
        fulfilled = capacity(views, self.weights)
        on_demand_missing = self.params["on_demand_base_capacity"] - capacity(views, self.weights, "on-demand")
        total, on_demand = split_capacity(target - fulfilled, on_demand_missing, self.params["capacity_type"])[:2]
        strategy = self.params["spot_allocation_strategy"]
        overrides = build_overrides(self.params["instance_types"], self.params["subnet_ids"], self.weights, self.params["max_price"],
                                    prioritized=strategy == "capacity-optimized-prioritized")
        template = launch_template_specification(self.params["launch_template_id"], self.params["launch_template_name"],
                                                 self.params["launch_template_version"])
        return build_fleet_request(total, on_demand, self.params["capacity_type"], strategy, template, overrides, self.tags)

    def scale_up(self, views, target, before):
        request = self.request_for(views, target)
        if self.module.check_mode:
            self.result["fleet_request"] = request
            after = dict(before)
            asked = request["TargetCapacitySpecification"]
            after["launch"] = {
                "capacity": asked["TotalTargetCapacity"],
                "on_demand_capacity": asked["OnDemandTargetCapacity"],
                "spot_capacity": asked["SpotTargetCapacity"],
                "instance_types": list(self.params["instance_types"]),
                "subnet_ids": list(self.params["subnet_ids"]),
            }
            return True, before, after, views
        request["ClientToken"] = str(uuid.uuid4())
        self.result["fleet_request"] = request
        response = create_instant_fleet(self.client, request, self.name)
        self.result["fleet_id"] = response.get("FleetId", "")
        self.result["errors"] = fleet_errors(response)
        new_ids = [item[0] for item in launched(response)]
        new_views = self.describe_new(new_ids)
        added = capacity(new_views, self.weights)
        asked = request["TargetCapacitySpecification"]["TotalTargetCapacity"]
        if added < EPSILON:
            self.module.fail_json(msg=self.shortfall_message(0, asked), fleet_request=request, errors=self.result["errors"],
                                  fleet_id=self.result["fleet_id"], instances=[public_view(v) for v in sort_views(views)])
        if added < asked - EPSILON:
            self.module.warn(self.shortfall_message(added, asked))
        after_views = views + new_views
        return True, before, summary(after_views, self.weights), after_views

    def describe_new(self, instance_ids):
        if not instance_ids:
            return []
        if self.params["wait"]:
            instances = wait_for_instances(self.client, instance_ids, lambda state: state != "pending", self.params["wait_timeout"])
        else:
            instances = describe_instances_by_id(self.client, instance_ids)
        # A spot instance can be reclaimed before it ever runs: it is no capacity.
        return [instance_view(instance) for instance in instances if instance["State"]["Name"] in LIVE_STATES]

    def shortfall_message(self, added, asked):
        unit = "vCPUs" if self.params["capacity_unit"] == "vcpu" else "units"
        missing = asked - added
        biggest = max((catalog_vcpus(t) or 0) for t in self.params["instance_types"])
        vcpus = int(missing) if self.params["capacity_unit"] == "vcpu" else int(round(missing * (biggest or 1)))
        advice = explain_fleet_errors(self.result["errors"], vcpus_needed=vcpus, max_price=self.params["max_price"])
        if not advice:
            advice = ["EC2 gave no reason; check the launch template (its image must suit the instance types' architecture) and retry"]
        return (f"Pool {self.name}: EC2 launched {tidy(added)} of the {tidy(asked)} {unit} asked for. "
                + " ".join(f"({index}) {line}." for index, line in enumerate(advice, 1)))

    def scale_down(self, views, victims, before):
        victim_ids = [view["id"] for view in victims]
        survivors = [view for view in views if view["id"] not in victim_ids]
        self.remove(victim_ids, [view["id"] for view in views], delete_stale=False)
        return True, before, summary(survivors, self.weights), survivors

    def remove(self, victim_ids, live_ids, delete_stale):
        """Delete the fleets whose live instances are all victims (terminating them), terminate the other victims, wait."""
        fleets = describe_pool_fleets(self.client, self.identity)
        doomed_fleets, terminate_ids = plan_termination(victim_ids, fleets, live_ids, delete_stale)
        self.result["terminated"] = list(victim_ids)
        self.result["deleted_fleets"] = doomed_fleets
        if self.module.check_mode:
            return
        failed = delete_fleets(self.client, doomed_fleets) if doomed_fleets else []
        if failed:
            self.module.warn(f"Pool {self.name}: EC2 could not delete fleets {', '.join(failed)}; their instances are terminated one by one.")
            terminate_ids = list(victim_ids)
        if terminate_ids:
            terminate_instances(self.client, terminate_ids)
        if self.params["wait"] and victim_ids:
            wait_for_instances(self.client, victim_ids, lambda state: state == "terminated", self.params["wait_timeout"])

    # absent --------------------------------------------------------------------------------
    def ensure_absent(self):
        views = self.read(EXISTING_STATES)
        before = summary(views, self.weights)
        ids = [view["id"] for view in views]
        self.remove(ids, ids, delete_stale=True)
        if not (ids or self.result["deleted_fleets"]):
            return False, before, before, []
        return True, before, summary([], self.weights), views if self.module.check_mode else []

    def run(self):
        present = self.params["state"] == "present"
        changed, before, after, views = self.ensure_present() if present else self.ensure_absent()
        self.result.update({
            "changed": changed,
            "instances": [public_view(view) for view in sort_views(views)],
            "target_capacity": self.params["target_capacity"] if present else 0,
            "fulfilled_capacity": tidy(capacity(views, self.weights)),
            "on_demand_capacity": tidy(capacity(views, self.weights, "on-demand")),
            "spot_capacity": tidy(capacity(views, self.weights, "spot")),
            "capacity_unit": self.params["capacity_unit"],
        })
        if self.module._diff:
            self.result["diff"] = {"before": before, "after": after}
        return self.result


# --- checks made before any AWS request -----------------------------------------------------------


def _duplicates(items):
    return sorted({item for item in items if items.count(item) > 1})


def _type_problems(instance_types):
    problems = []
    unknown = [name for name in instance_types if lookup(name) is None]
    for name in unknown:
        close = difflib.get_close_matches(name, list(CATALOG), n=3)
        hint = f"did you mean {' or '.join(close)}?" if close else "use a type of the catalog"
        problems.append(f"instance_types: {name!r} is not a known instance type ({hint}; the catalog is plugins/module_utils/instance_types.py)")
    duplicates = _duplicates(instance_types)
    if duplicates:
        problems.append(f"instance_types: {', '.join(duplicates)} listed more than once; list each type once")
    by_arch = {}
    for name in instance_types:
        if name not in unknown:
            by_arch.setdefault(lookup(name)["arch"], []).append(name)
    if len(by_arch) > 1:
        detail = "; ".join(f"{arch}: {', '.join(names)}" for arch, names in sorted(by_arch.items()))
        problems.append(f"instance_types: mixes CPU architectures ({detail}); the launch template's image has one, so list types of one architecture")
    return problems


def _capacity_problems(params):
    problems = []
    target, base = params["target_capacity"], params["on_demand_base_capacity"]
    low, high = params["min_capacity"], params["max_capacity"]
    for key in ("target_capacity", "on_demand_base_capacity", "min_capacity", "max_capacity"):
        if params[key] is not None and params[key] < 0:
            problems.append(f"{key}: {params[key]} is negative; capacities are 0 or more")
    if low is not None and high is not None and low > high:
        problems.append(f"min_capacity: {low} is more than max_capacity ({high}); keep min_capacity <= max_capacity")
    if target is not None and target >= 0:
        if base > target:
            problems.append(f"on_demand_base_capacity: {base} is more than target_capacity ({target}); lower the base or raise the target")
        if low is not None and target < low:
            problems.append(f"target_capacity: {target} is below min_capacity ({low}); ask for {low} or more")
        if high is not None and target > high:
            problems.append(f"target_capacity: {target} is above max_capacity ({high}); ask for {high} or less, or raise the pool's max")
    return problems


def problems_of(params):
    """Every problem of the options of a present pool, as 'option: problem; fix' (empty when none)."""
    problems = []
    if not params["name"] or not params["name"].strip():
        problems.append("name: is empty; name the pool, e.g. spark")
    if params["state"] != "present":
        return problems
    if params["target_capacity"] is None:
        problems.append("target_capacity: is required with state=present; give the capacity the pool should have, e.g. 0")
    problems.extend(_capacity_problems(params))
    instance_types = params["instance_types"] or []
    if not instance_types:
        problems.append("instance_types: is empty; list one or more instance types of one CPU architecture, e.g. [m7i.2xlarge, m6i.2xlarge]")
    problems.extend(_type_problems(instance_types))
    subnet_ids = params["subnet_ids"] or []
    if not subnet_ids:
        problems.append("subnet_ids: is empty; list the pool's subnets, one per Availability Zone (more zones, better spot odds)")
    for subnet_id in subnet_ids:
        if not SUBNET_ID_RE.match(subnet_id or ""):
            problems.append(f"subnet_ids: {subnet_id!r} is not a subnet ID; write IDs such as subnet-0123456789abcdef0")
    if _duplicates(subnet_ids):
        problems.append(f"subnet_ids: {', '.join(_duplicates(subnet_ids))} listed more than once; list each subnet once")
    if not (params["launch_template_id"] or params["launch_template_name"]):
        problems.append("launch_template_id or launch_template_name: one is required with state=present; name the pool's launch template")
    weights = params["weights"] or {}
    if weights and params["capacity_unit"] == "vcpu":
        problems.append("weights: are only for capacity_unit=units; with capacity_unit=vcpu each type weighs its vCPUs")
    for key, value in weights.items():
        if key not in instance_types:
            problems.append(f"weights: {key!r} is not in instance_types; weigh only listed types")
        try:
            if float(value) <= 0:
                raise ValueError
        except (TypeError, ValueError):
            problems.append(f"weights.{key}: {value!r} is not a positive number; write the capacity units one instance provides, e.g. 2")
    if params["max_price"] is not None and params["max_price"] <= 0:
        problems.append(f"max_price: {params['max_price']} is not a positive price; write USD per unit-hour such as 0.25, or leave it unset")
    if params["wait_timeout"] < 0:
        problems.append(f"wait_timeout: {params['wait_timeout']} is negative; write seconds, e.g. 600")
    return problems


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        target_capacity=dict(type="int", aliases=["capacity"]),
        capacity_unit=dict(type="str", choices=list(CAPACITY_UNITS), default="units"),
        weights=dict(type="dict"),
        min_capacity=dict(type="int"),
        max_capacity=dict(type="int"),
        capacity_type=dict(type="str", choices=list(LIFECYCLES), default="spot"),
        on_demand_base_capacity=dict(type="int", default=0),
        spot_allocation_strategy=dict(type="str", choices=list(ALLOCATION_STRATEGIES), default="price-capacity-optimized"),
        instance_types=dict(type="list", elements="str"),
        subnet_ids=dict(type="list", elements="str"),
        max_price=dict(type="float"),
        launch_template_id=dict(type="str"),
        launch_template_name=dict(type="str"),
        launch_template_version=dict(type="str", default="$Latest"),
        tags=dict(type="dict", aliases=["resource_tags"]),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        mutually_exclusive=[("launch_template_id", "launch_template_name")],
        supports_check_mode=True,
    )
    problems = problems_of(module.params)
    if problems:
        module.fail_json(msg=f"spot_fleet {module.params['name']}: " + " | ".join(problems), problems=problems)
    try:
        result = PoolManager(module).run()
    except AnsibleAWSError as e:
        module.fail_json_aws_error(e)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
