#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kdsw.workbench maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: cost_estimate
short_description: Estimate what a workbench costs - its always-on monthly base and its usage scenarios
version_added: 0.1.0
author:
  - kdsw.workbench maintainers (@kdsw)
description:
  - Computes the bill of materials of a validated cluster definition, line by line, each with its
    quantity, unit, unit price and total.
  - The always-on monthly base counts the control plane and the admin nodes (on-demand), the desired
    nodes of every pool, the gp3 root volume and the public IPv4 address of every node (there is no
    NAT gateway), EFS and S3 at their expected sizes (all in the Standard class, an upper bound) and
    the Advanced-tier SSM parameter of the kubeconfig. A month is 730 hours.
  - Each usage scenario of the definition (C(workbench.scenarios)) adds the hours of its pools at spot
    or on-demand prices, with their root volumes and public IPv4 addresses while they run, and the
    data it sends out to the internet.
  - Money is computed in exact decimals; each line total is rounded half-up to the cent and every sum
    adds the rounded line totals. The annual total is 12 x (monthly base + monthly scenarios) plus
    the yearly scenarios.
  - Prices come from the table in C(plugins/module_utils/price_table.py), overridden by O(prices),
    overridden in turn by the definition's own C(workbench.prices).
  - Runs on the controller and makes no network call.
options:
  cluster:
    description:
      - The validated, normalized cluster definition, usually C("{{ cluster }}") as published by
        C(playbooks/definition.yml).
    type: dict
    required: true
  prices:
    description:
      - Extra price overrides with the layout of C(workbench.prices), for example the current prices
        M(kdsw.workbench.aws_prices) read from AWS. The definition's own C(workbench.prices) win.
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
  - The prices' date and source are returned in the C(prices) entry of RV(estimate).
seealso:
  - module: kdsw.workbench.aws_prices
  - module: kdsw.workbench.cluster_definition
"""

EXAMPLES = r"""
- name: Estimate the cost of the workbench
  kdsw.workbench.cost_estimate:
    cluster: "{{ cluster }}"
  register: estimate

- name: Show the breakdown
  ansible.builtin.debug:
    msg: "{{ estimate.table }}"

- name: Stop when the always-on base is over the budget
  ansible.builtin.fail:
    msg: "{{ estimate.table }}"
  when: estimate.over_budget
"""

RETURN = r"""
estimate:
  description:
    - The whole estimate. Money is in US dollars; line totals and sums are rounded to the cent,
      unit prices are exact and quantities are rounded to 4 decimal places.
    - Each line has C(section) (C(base) or the scenario's name), C(item), C(quantity), C(unit),
      C(unit_price), C(total) and C(resource), which says what the line pays for (C(kind) among
      C(instance), C(volume), C(public_ipv4), C(efs), C(s3_bucket), C(ssm_advanced_parameter),
      C(transfer), with C(count) and, by kind, C(instance_type), C(lifecycle), C(size_gb) and C(component)).
  returned: success
  type: dict
  sample:
    workbench: kdsw
    region: us-east-1
    hours_per_month: 730
    prices: {date: "2025 list prices ...", as_of: "2025", source: "AWS public price pages ...", overridden: []}
    lines:
      - section: base
        item: "control plane: 1 x t4g.small, on-demand"
        quantity: 730
        unit: instance-hour
        unit_price: 0.0168
        total: 12.26
        resource: {kind: instance, component: control-plane, instance_type: t4g.small, lifecycle: on-demand, count: 1}
    monthly_base: 43.37
    scenarios: [{name: a year of bursts, period: year, total: 163.82, annual: 163.82}]
    monthly_total: 43.37
    annual_total: 684.26
    budget: {monthly_usd: 50, over: false}
    assumptions: ["a month is 730 hours; ..."]
table:
  description: The estimate as a fixed-width text table, ready to print.
  returned: success
  type: str
monthly_base:
  description: The always-on monthly base in US dollars.
  returned: success
  type: float
  sample: 43.37
annual_total:
  description: 12 x (monthly base + monthly scenarios) + yearly scenarios, in US dollars.
  returned: success
  type: float
  sample: 684.26
over_budget:
  description: Whether the monthly base exceeds C(budget.monthly_usd) of the definition (false without a budget).
  returned: success
  type: bool
  sample: false
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kdsw.workbench.plugins.module_utils.cost import CostError, estimate, jsonable, render


def main():
    module = AnsibleModule(
        argument_spec=dict(
            cluster=dict(type="dict", required=True),
            prices=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    try:
        report = estimate(module.params["cluster"], module.params["prices"] or {})
    except CostError as error:
        module.fail_json(msg=f"Cannot estimate the cost: {error}")
    result = jsonable(report)
    module.exit_json(changed=False, estimate=result, table=render(report), monthly_base=float(report["monthly_base"]),
                     annual_total=float(report["annual_total"]), over_budget=bool(report.get("budget", {}).get("over", False)))


if __name__ == "__main__":
    main()
