# -*- coding: utf-8 -*-
# Copyright: kdsw.workbench maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The cost model of a workbench: its always-on monthly base and the usage scenarios of its definition.

Pure Python, no network call:

* estimate(cluster, extra_prices=None)   the bill of materials: lines, monthly base, scenario totals, annual total
* render(report)                         the report as a fixed-width text table
* jsonable(report)                       the report with its Decimals as JSON numbers
* price_problems(cluster)                what the estimate of a definition cannot price, as "<key>: <problem>; <fix>"

The money rule: quantities and unit prices are exact decimals; each line's total is quantity x
unit price rounded half-up to the cent; every sum (the monthly base, a scenario, the monthly and
annual totals) adds the rounded line totals, so a printed table adds up to the cent. The annual
total is 12 x (monthly base + monthly scenarios) + yearly scenarios. A month is 730 hours.

What is counted (everything billable the workbench creates, with its assumption):

* always on: the control plane and the admin nodes (on-demand), the desired nodes of every pool
  (at the pool's lifecycle and the most expensive of its instance types), the gp3 root volume and
  the public IPv4 address of each of them (every node has one: there is no NAT gateway), EFS at
  storage.efs_expected_gb all in Standard (an upper bound: files untouched for
  storage.efs_transition_to_ia move to Infrequent Access), S3 at storage.data_expected_gb all in
  Standard (an upper bound: the lifecycle moves objects to Standard-IA, then Glacier IR), and the
  kubeconfig, an Advanced-tier SSM parameter (the join token is Standard tier: free);
* per scenario: the hours x nodes of each pool (at the pool's lifecycle, or the one the scenario
  names, and the most expensive type of the pool unless the scenario names one), the root volumes
  and public IPv4 addresses of those nodes while they run, and data_gb sent out to the internet;
* free, so not listed: the VPC, subnets, internet gateway, S3 gateway endpoint, security groups,
  IAM, key pair, launch templates and fleets, Standard SSM parameters, AWS-managed encryption
  keys; not modelled: EFS elastic throughput per GB, S3 requests, traffic between zones.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
from decimal import ROUND_HALF_UP, Decimal

from ansible_collections.kdsw.workbench.plugins.module_utils import prices
from ansible_collections.kdsw.workbench.plugins.module_utils.instance_types import CATALOG

HOURS_PER_MONTH = Decimal(730)
MONTHS_PER_YEAR = 12
PERIOD_HOURS = {"month": HOURS_PER_MONTH, "year": HOURS_PER_MONTH * MONTHS_PER_YEAR}
PERIODS = tuple(PERIOD_HOURS)
CENT = Decimal("0.01")
QUANTITY_PLACES = Decimal("0.0001")
BASE = "base"
ASSUMPTIONS = (
    "a month is 730 hours; annual total = 12 x (monthly base + monthly scenarios) + yearly scenarios",
    "each line total is rounded half-up to the cent; every sum adds the rounded line totals",
    "EFS and S3 are priced all in their Standard class at the expected size (an upper bound: "
    "the lifecycle rules move cold data to cheaper classes)",
    "a pool is priced at the most expensive of its instance types (an upper bound), unless a scenario names the type",
    "spot prices are estimates (the table's spot_fraction of on-demand) unless set under workbench.prices.spot",
    "not modelled: EFS elastic throughput per GB, S3 requests, traffic between zones",
)


class CostError(ValueError):
    """The estimate cannot be made: a price is missing or the cluster is not a valid, normalized definition."""


def cents(amount):
    """amount rounded half-up to the cent."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _line(section, item, quantity, unit, unit_price, resource):
    quantity = Decimal(quantity)
    return {"section": section, "item": item, "quantity": quantity, "unit": unit, "unit_price": unit_price,
            "total": cents(quantity * unit_price), "resource": resource}


def _overrides(cluster, extra_prices):
    """extra_prices (e.g. refreshed from AWS) under the definition's own workbench.prices, which win."""
    merged = copy.deepcopy(extra_prices or {})
    for kind, value in (cluster.get("prices") or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(kind), dict):
            merged[kind].update(value)
        else:
            merged[kind] = value
    return merged


class _Pricer:
    """Prices of one region with the overrides; every miss is a CostError naming the key to set."""

    def __init__(self, region, overrides):
        self.region = region
        self.overrides = overrides

    def __call__(self, kind, key):
        try:
            return prices.price(self.region, kind, key, self.overrides)
        except prices.PriceError as error:
            raise CostError(f"{error.key}: {error}") from None

    def instance(self, instance_type, lifecycle):
        return self(prices.LIFECYCLE_KINDS[lifecycle], instance_type)

    def dearest(self, instance_types, lifecycle):
        """(type, hourly price) of the most expensive of instance_types; the first listed among equals."""
        priced = [(self.instance(name, lifecycle), -index, name) for index, name in enumerate(instance_types)]
        hourly, _index, name = max(priced)
        return name, hourly


def _nodes(section, label, count, instance_type, hourly, lifecycle, root_gb, hours, pricer, component):
    """The instance, root volume and public IPv4 lines of count nodes running hours each."""
    node_hours = Decimal(hours) * count
    volume_gb_months = Decimal(root_gb) * node_hours / HOURS_PER_MONTH
    return [
        _line(section, f"{label}: {count} x {instance_type}, {lifecycle}", node_hours, "instance-hour", hourly,
              {"kind": "instance", "component": component, "instance_type": instance_type, "lifecycle": lifecycle,
               "count": count}),
        _line(section, f"{label}: {count} x {root_gb} GB gp3 root volume", volume_gb_months, "GB-month",
              pricer("ebs", "gp3_gb_month"), {"kind": "volume", "component": component, "size_gb": root_gb, "count": count}),
        _line(section, f"{label}: {count} x public IPv4 address", node_hours, "address-hour",
              pricer("vpc", "public_ipv4_hour"), {"kind": "public_ipv4", "component": component, "count": count}),
    ]


def _base_lines(cluster, pricer):
    lines = []
    control = cluster["control_plane"]
    lines += _nodes(BASE, "control plane", 1, control["instance_type"], pricer.instance(control["instance_type"], "on-demand"),
                    "on-demand", control["root_volume_gb"], HOURS_PER_MONTH, pricer, "control-plane")
    admin = cluster["admin_nodes"]
    lines += _nodes(BASE, "admin nodes", admin["count"], admin["instance_type"], pricer.instance(admin["instance_type"], "on-demand"),
                    "on-demand", admin["root_volume_gb"], HOURS_PER_MONTH, pricer, "admin-node")
    for pool in cluster.get("node_pools") or []:
        if pool["desired"] > 0:
            instance_type, hourly = pricer.dearest(pool["instance_types"], pool["lifecycle"])
            lines += _nodes(BASE, f"pool {pool['name']} (desired)", pool["desired"], instance_type, hourly, pool["lifecycle"],
                            pool["root_volume_gb"], HOURS_PER_MONTH, pricer, f"pool:{pool['name']}")
    storage = cluster["storage"]
    lines.append(_line(BASE, "EFS home directories, Standard", prices.as_decimal(storage["efs_expected_gb"]), "GB-month",
                       pricer("efs", "standard_gb_month"), {"kind": "efs", "count": 1}))
    lines.append(_line(BASE, "S3 data bucket, Standard", prices.as_decimal(storage["data_expected_gb"]), "GB-month",
                       pricer("s3", "standard_gb_month"), {"kind": "s3_bucket", "count": 1}))
    lines.append(_line(BASE, "SSM Advanced parameter (kubeconfig)", 1, "parameter-month",
                       pricer("ssm", "advanced_parameter_month"), {"kind": "ssm_advanced_parameter", "count": 1}))
    return lines


def _scenario_lines(scenario, pools, pricer):
    name = scenario["name"]
    lines = []
    for entry in scenario.get("pools") or []:
        pool = pools.get(entry["pool"])
        if pool is None:
            raise CostError(f"scenario {name!r}: pool {entry['pool']!r} is not in workbench.node_pools")
        hours = prices.as_decimal(entry["hours"])
        if hours < 0:
            raise CostError(f"scenario {name!r}: pool {entry['pool']!r} has negative hours ({entry['hours']})")
        lifecycle = entry.get("lifecycle") or pool["lifecycle"]
        if entry.get("instance_type"):
            instance_type = entry["instance_type"]
            hourly = pricer.instance(instance_type, lifecycle)
        else:
            instance_type, hourly = pricer.dearest(pool["instance_types"], lifecycle)
        lines += _nodes(name, f"pool {pool['name']}, {entry['hours']} h", int(entry.get("nodes", 1)), instance_type, hourly,
                        lifecycle, pool["root_volume_gb"], hours, pricer, f"pool:{pool['name']}")
    if scenario.get("data_gb"):
        lines.append(_line(name, "data sent out to the internet", prices.as_decimal(scenario["data_gb"]), "GB",
                           pricer("transfer", "internet_out_gb"), {"kind": "transfer", "count": 1}))
    return lines


def _sum(lines):
    return sum((line["total"] for line in lines), Decimal("0.00"))


def estimate(cluster, extra_prices=None):
    """The cost report of a validated, normalized cluster definition (the `cluster` fact).

    extra_prices has the layout of workbench.prices (e.g. prices refreshed from AWS); the definition's
    own workbench.prices win over it, and both over the shipped table. Raises CostError.
    """
    try:
        region = cluster["region"]
        pricer = _Pricer(region, _overrides(cluster, extra_prices))
        lines = _base_lines(cluster, pricer)
        pools = {pool["name"]: pool for pool in cluster.get("node_pools") or []}
        scenarios = []
        for scenario in cluster.get("scenarios") or []:
            scenario_lines = _scenario_lines(scenario, pools, pricer)
            lines += scenario_lines
            total = _sum(scenario_lines)
            per_year = total * MONTHS_PER_YEAR if scenario["period"] == "month" else total
            scenarios.append({"name": scenario["name"], "period": scenario["period"], "total": total, "annual": per_year})
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, CostError):
            raise
        raise CostError(f"the cluster is not a validated, normalized definition ({type(error).__name__}: {error}); "
                        "pass the `cluster` fact that playbooks/definition.yml publishes") from None
    base = _sum([line for line in lines if line["section"] == BASE])
    monthly_scenarios = sum((s["total"] for s in scenarios if s["period"] == "month"), Decimal("0.00"))
    report = {
        "workbench": cluster.get("name"),
        "region": region,
        "hours_per_month": HOURS_PER_MONTH,
        "prices": {"date": prices.DATE, "as_of": prices.AS_OF, "source": prices.SOURCE,
                   "overridden": sorted(_override_keys(pricer.overrides))},
        "lines": lines,
        "monthly_base": base,
        "scenarios": scenarios,
        "monthly_total": base + monthly_scenarios,
        "annual_total": base * MONTHS_PER_YEAR + sum((s["annual"] for s in scenarios), Decimal("0.00")),
        "assumptions": list(ASSUMPTIONS),
    }
    budget = (cluster.get("budget") or {}).get("monthly_usd")
    if budget is not None:
        limit = prices.as_decimal(budget)
        report["budget"] = {"monthly_usd": limit, "over": base > limit}
    return report


def _override_keys(overrides):
    for kind, value in overrides.items():
        if isinstance(value, dict):
            for key in value:
                yield prices.override_key(kind, key)
        else:
            yield f"{prices.OVERRIDE_ROOT}.{kind}"


# --- what the estimate needs, for the definition's validation ------------------------------------

def _listed(value):
    return value if isinstance(value, (list, tuple)) else []


def _lifecycle_kind(value):
    return prices.LIFECYCLE_KINDS.get(value) if isinstance(value, str) else None


def _instance_needs(cluster):
    """(kind, instance type) pairs the estimate reads, skipping parts that are not well-formed."""
    needs = []
    for section in ("control_plane", "admin_nodes"):
        part = cluster.get(section)
        instance_type = part.get("instance_type") if isinstance(part, dict) else None
        if isinstance(instance_type, str) and instance_type in CATALOG:
            needs.append(("on_demand", instance_type))
    pools = [pool for pool in _listed(cluster.get("node_pools")) if isinstance(pool, dict) and isinstance(pool.get("name"), str)]
    kinds = {pool["name"]: {_lifecycle_kind(pool.get("lifecycle"))} for pool in pools}
    for scenario in _listed(cluster.get("scenarios")):
        for entry in _listed(scenario.get("pools")) if isinstance(scenario, dict) else []:
            if isinstance(entry, dict) and isinstance(entry.get("pool"), str) and entry["pool"] in kinds:
                kinds[entry["pool"]].add(_lifecycle_kind(entry.get("lifecycle")))
    for pool in pools:
        for name in _listed(pool.get("instance_types")):
            if isinstance(name, str) and name in CATALOG:
                needs += [(kind, name) for kind in sorted(kinds[pool["name"]] - {None})]
    return needs


def _unit_needs(cluster):
    needs = [("ebs", "gp3_gb_month"), ("vpc", "public_ipv4_hour"), ("efs", "standard_gb_month"), ("s3", "standard_gb_month"),
             ("ssm", "advanced_parameter_month")]
    scenarios = cluster.get("scenarios") if isinstance(cluster.get("scenarios"), list) else []
    if any(isinstance(s, dict) and s.get("data_gb") for s in scenarios):
        needs.append(("transfer", "internet_out_gb"))
    return needs


def price_problems(cluster, overrides):
    """What the estimate of cluster (merged, maybe invalid) cannot price with overrides, as "<key>: <problem>; <fix>".

    A region without a shipped table gives one problem at workbench.prices listing every key to set.
    """
    region = cluster.get("region")
    if not isinstance(region, str):
        return []
    missing = []
    for kind, key in dict.fromkeys(_instance_needs(cluster) + _unit_needs(cluster)):
        try:
            prices.price(region, kind, key, overrides)
        except prices.PriceError as error:
            missing.append(error)
        except ValueError:
            continue
    if not missing:
        return []
    if region not in prices.regions():
        keys = ", ".join(error.key[len(prices.OVERRIDE_ROOT) + 1:] for error in missing)
        return [f"{prices.OVERRIDE_ROOT}: there is no price table for {region} (the collection ships prices for "
                f"{', '.join(prices.regions())}); set these prices under {prices.OVERRIDE_ROOT}: {keys}"]
    return [f"{error.key}: {error}" for error in missing]


# --- output --------------------------------------------------------------------------------------

def _number(value, places=None):
    if places is not None:
        value = value.quantize(places, rounding=ROUND_HALF_UP)
    return int(value) if value == value.to_integral_value() else float(value)


def jsonable(report):
    """A copy of report whose Decimals are JSON numbers: money as is (cents), quantities to 4 decimal places."""
    def convert(value, key=None):
        if isinstance(value, dict):
            return {k: convert(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        if isinstance(value, Decimal):
            return _number(value, QUANTITY_PLACES if key == "quantity" else None)
        return value
    return convert(report)


def _amount(value):
    return f"{value:,.2f}"


def _plain(value, places, least=0):
    """value with at most places and at least least decimal places, e.g. 0.30 (2, 2), 0.0168 (6, 2), 730 (2)."""
    text = f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):f}"
    if "." in text:
        whole, fraction = text.split(".")
        fraction = fraction.rstrip("0").ljust(least, "0")
        text = f"{whole}.{fraction}" if fraction else whole
    return text


WIDTHS = (54, 12, 16, 11, 11)


def _row(item, quantity, unit, unit_price, total):
    item_width, quantity_width, unit_width, price_width, total_width = WIDTHS
    return (f"{item:<{item_width}} {quantity:>{quantity_width}} {unit:<{unit_width}} {unit_price:>{price_width}} "
            f"{total:>{total_width}}").rstrip()


def _section(title, lines, total_label, total):
    rows = [title, _row("item", "quantity", "unit", "USD/unit", "USD"), "-" * (sum(WIDTHS) + len(WIDTHS) - 1)]
    for line in lines:
        rows.append(_row(line["item"], _plain(line["quantity"], 2), line["unit"], _plain(line["unit_price"], 6, 2),
                         _amount(line["total"])))
    rows.append(_row(total_label, "", "", "", _amount(total)))
    return rows


def render(report):
    """The report as fixed-width text: the base, each scenario, the totals, the budget and the prices' date."""
    base_lines = [line for line in report["lines"] if line["section"] == BASE]
    rows = [f"Cost estimate of workbench {report['workbench']} in {report['region']} (USD, a month = {report['hours_per_month']} hours)", ""]
    rows += _section("Always-on base, per month", base_lines, "monthly base", report["monthly_base"])
    for scenario in report["scenarios"]:
        lines = [line for line in report["lines"] if line["section"] == scenario["name"]]
        rows += [""] + _section(f"Scenario '{scenario['name']}', per {scenario['period']}", lines,
                                f"scenario total per {scenario['period']}", scenario["total"])
    rows += ["", _row("monthly total (base + monthly scenarios)", "", "", "", _amount(report["monthly_total"])),
             _row("annual total (12 x monthly total + yearly scenarios)", "", "", "", _amount(report["annual_total"]))]
    if "budget" in report:
        budget = report["budget"]
        verdict = "OVER BUDGET" if budget["over"] else "within budget"
        rows.append(f"budget: {_amount(budget['monthly_usd'])} a month for the base (workbench.budget.monthly_usd): {verdict}")
    rows.append(f"prices: {report['prices']['date']}")
    if report["prices"]["overridden"]:
        rows.append(f"overridden: {', '.join(report['prices']['overridden'])}")
    return "\n".join(rows)
