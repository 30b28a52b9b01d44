#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the kdsw.workbench project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: spot_fleet_info
short_description: List the node pools that kdsw.workbench.spot_fleet manages, with their instances and hourly price
version_added: 0.1.0
description:
  - Reads every running or pending instance that carries a C(kdsw:pool) tag (and all of O(tags)) with one paginated
    C(DescribeInstances), and groups them by pool.
  - For each pool, returns its instances, how many are spot and on-demand, and what they cost per hour, priced with the
    collection's price table (C(plugins/module_utils/prices.py)) or the O(prices) that override it. Spot instances are
    priced at the table's spot price, an estimate unless the table or O(prices) list the type's spot price.
  - Makes no change.
author:
  - kdsw.workbench maintainers (@kdsw)
options:
  tags:
    description:
      - Tags every listed instance must carry besides C(kdsw:pool), for example C(kdsw:cluster=<name>).
    type: dict
    default: {}
  names:
    description:
      - Pools to list even when they have no instance (with zero counts). Pools with instances are always listed.
    type: list
    elements: str
    default: []
  prices:
    description:
      - Prices that override the collection's table, with its layout (C(on_demand) and C(spot) mappings of instance type to
        USD per hour, C(spot_fraction)); the C(prices) mapping of a cluster definition.
    type: dict
    default: {}
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: The pools of the kdsw workbench, also those scaled to zero
  kdsw.workbench.spot_fleet_info:
    tags:
      kdsw:cluster: kdsw
    names: [spark, gpu]
  register: pools

- name: What they cost now
  ansible.builtin.debug:
    msg: "{{ pools.pools | map(attribute='name') | zip(pools.pools | map(attribute='hourly_usd')) | list }}"
"""

RETURN = r"""
pools:
  description: One entry per pool, by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The pool name, the value of the C(kdsw:pool) tag.
      type: str
      sample: spark
    running:
      description: The number of running or pending instances.
      type: int
      sample: 2
    spot:
      description: How many of them are spot instances.
      type: int
      sample: 2
    on_demand:
      description: How many of them are on-demand instances.
      type: int
      sample: 0
    instance_types:
      description: The number of instances of each type.
      type: dict
      sample: {m7i.2xlarge: 2}
    hourly_usd:
      description: What the instances cost per hour, in US dollars (4 decimals); null when a price is missing.
      type: float
      sample: 0.3629
    price_problems:
      description: Why RV(pools[].hourly_usd) is null, naming the price to set.
      type: list
      elements: str
      sample: []
    instances:
      description: The instances, as M(kdsw.workbench.spot_fleet) returns them.
      type: list
      elements: dict
price_source:
  description: Where the prices come from, and as of when.
  returned: always
  type: str
  sample: 2025 list prices
"""

from decimal import Decimal

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import LIVE_STATES
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import POOL_TAG
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import describe_tagged_instances
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import instance_view
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import public_view
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import sort_views
from ansible_collections.kdsw.workbench.plugins.module_utils.ec2_fleet import type_counts
from ansible_collections.kdsw.workbench.plugins.module_utils.prices import DATE
from ansible_collections.kdsw.workbench.plugins.module_utils.prices import PriceError
from ansible_collections.kdsw.workbench.plugins.module_utils.prices import instance_price


def pool_entry(name, views, region, prices):
    total, problems = Decimal(0), []
    for view in views:
        try:
            total += instance_price(region, view["type"], view["lifecycle"], prices)
        except PriceError as error:
            problems.append(str(error))
    problems = sorted(set(problems))
    return {
        "name": name,
        "running": len(views),
        "spot": sum(1 for view in views if view["lifecycle"] == "spot"),
        "on_demand": sum(1 for view in views if view["lifecycle"] == "on-demand"),
        "instance_types": type_counts(views),
        "hourly_usd": None if problems else float(round(total, 4)),
        "price_problems": problems,
        "instances": [public_view(view) for view in sort_views(views)],
    }


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            tags=dict(type="dict", default={}),
            names=dict(type="list", elements="str", default=[]),
            prices=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    tags = {str(key): str(value) for key, value in module.params["tags"].items()}
    try:
        instances = describe_tagged_instances(module.client("ec2"), POOL_TAG, tags, LIVE_STATES)
    except AnsibleAWSError as e:
        module.fail_json_aws_error(e)
    by_pool = {name: [] for name in module.params["names"]}
    for instance in instances:
        name = next(tag["Value"] for tag in instance.get("Tags") or [] if tag["Key"] == POOL_TAG)
        by_pool.setdefault(name, []).append(instance_view(instance))
    pools = [pool_entry(name, by_pool[name], module.region, module.params["prices"]) for name in sorted(by_pool)]
    module.exit_json(changed=False, pools=pools, price_source=DATE)


if __name__ == "__main__":
    main()
