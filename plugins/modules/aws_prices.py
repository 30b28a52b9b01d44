#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kdsw.workbench maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: aws_prices
short_description: Read current EC2 instance prices from AWS for the cost estimate
version_added: 0.1.0
author:
  - kdsw.workbench maintainers (@kdsw)
description:
  - Reads the Linux, shared-tenancy on-demand price of each instance type from the AWS Price List API
    (C(pricing:GetProducts), served from O(pricing_region)), and the spot price in effect now from the
    EC2 spot price history (C(ec2:DescribeSpotPriceHistory)) of O(region), the highest over O(zones).
  - Returns them with the layout of C(workbench.prices), ready for the O(kdsw.workbench.cost_estimate#module:prices)
    option of M(kdsw.workbench.cost_estimate).
  - Only reads; storage, address and parameter prices stay those of the collection's table.
options:
  instance_types:
    description: The instance types to price.
    type: list
    elements: str
    required: true
  zones:
    description:
      - The availability zones whose spot prices count; the highest of them is returned.
      - Empty takes every zone of the region.
    type: list
    elements: str
    default: []
  sources:
    description: Which prices to read.
    type: list
    elements: str
    choices: [on_demand, spot]
    default: [on_demand, spot]
  pricing_region:
    description: The region whose endpoint serves the Price List API (us-east-1, eu-central-1 or ap-south-1).
    type: str
    default: us-east-1
attributes:
  check_mode:
    support: full
    description: The module only reads, so check mode runs it as usual.
  diff_mode:
    support: none
    description: The module never changes anything.
notes:
  - Needs C(pricing:GetProducts) and C(ec2:DescribeSpotPriceHistory).
  - moto, the rehearsal's stand-in for AWS, has no Price List API and returns a flat placeholder spot
    price (0.00001) for every type; a rehearsal can only exercise O(sources=[spot]).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
seealso:
  - module: kdsw.workbench.cost_estimate
"""

EXAMPLES = r"""
- name: Read the current prices of the workbench's instance types
  kdsw.workbench.aws_prices:
    region: us-east-1
    instance_types: [t4g.small, m7i.2xlarge]
    zones: [us-east-1a, us-east-1b]
  register: current

- name: Estimate with them
  kdsw.workbench.cost_estimate:
    cluster: "{{ cluster }}"
    prices: "{{ current.prices }}"
"""

RETURN = r"""
prices:
  description: The prices read, in US dollars per instance-hour as strings, with the layout of C(workbench.prices).
  returned: success
  type: dict
  sample: {on_demand: {t4g.small: "0.0168"}, spot: {t4g.small: "0.0052"}}
missing:
  description: The instance types without a price, by source.
  returned: success
  type: dict
  sample: {on_demand: [], spot: [p3.16xlarge]}
retrieved_at:
  description: When the prices were read (UTC, ISO 8601).
  returned: success
  type: str
  sample: "2025-06-01T12:00:00+00:00"
"""

import datetime

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.kdsw.workbench.plugins.module_utils.price_list import as_overrides, on_demand_prices, spot_prices

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            instance_types=dict(type="list", elements="str", required=True),
            zones=dict(type="list", elements="str", default=[]),
            sources=dict(type="list", elements="str", choices=["on_demand", "spot"], default=["on_demand", "spot"]),
            pricing_region=dict(type="str", default="us-east-1"),
        ),
        supports_check_mode=True,
    )
    types = list(dict.fromkeys(module.params["instance_types"]))
    sources = module.params["sources"]
    now = datetime.datetime.now(datetime.timezone.utc)
    on_demand, spot, missing = {}, {}, {"on_demand": [], "spot": []}
    if "on_demand" in sources:
        client = module.client("pricing", region=module.params["pricing_region"], retry_decorator=AWSRetry.jittered_backoff())
        try:
            on_demand, missing["on_demand"] = on_demand_prices(client, module.region, types)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
            module.fail_json_aws(error, msg=f"Could not read on-demand prices from the AWS Price List API in {module.params['pricing_region']} "
                                            "(needs pricing:GetProducts; a rehearsal endpoint has no Price List API: use sources=[spot])")
    if "spot" in sources:
        client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
        try:
            spot, missing["spot"] = spot_prices(client, types, module.params["zones"], now)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
            module.fail_json_aws(error, msg=f"Could not read the spot price history of {module.region} (needs ec2:DescribeSpotPriceHistory)")
    module.exit_json(changed=False, prices=as_overrides(on_demand, spot), missing=missing, retrieved_at=now.isoformat())


if __name__ == "__main__":
    main()
