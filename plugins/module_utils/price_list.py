# -*- coding: utf-8 -*-
# Copyright: kdsw.workbench maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Current instance prices from AWS: the Price List API (on-demand) and the spot price history.

Every function takes a boto3 client (plain, or from AnsibleAWSModule.client); the parsers are pure and
return exact decimals. The result has the layout of `workbench.prices`, as strings:
{"on_demand": {type: "0.0168"}, "spot": {type: "0.0061"}}.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
from decimal import Decimal, InvalidOperation

PRICING_REGION = "us-east-1"
LINUX_SPOT_PRODUCTS = ("Linux/UNIX", "Linux/UNIX (Amazon VPC)")


def on_demand_filters(region, instance_type):
    """The GetProducts filters of the Linux, shared-tenancy, on-demand price of instance_type in region."""
    fields = {
        "instanceType": instance_type,
        "regionCode": region,
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
        "operation": "RunInstances",
    }
    return [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in fields.items()]


def _decimal(text):
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        return None
    return value.normalize() if value.is_finite() and value > 0 else None


def parse_on_demand(price_list):
    """The hourly USD on-demand price in a GetProducts PriceList (JSON strings or dicts), or None.

    Reads terms.OnDemand.*.priceDimensions.* with unit Hrs; several products give the highest price.
    """
    found = []
    for item in price_list:
        document = json.loads(item) if isinstance(item, str) else item
        for term in ((document.get("terms") or {}).get("OnDemand") or {}).values():
            for dimension in (term.get("priceDimensions") or {}).values():
                if dimension.get("unit") == "Hrs":
                    value = _decimal((dimension.get("pricePerUnit") or {}).get("USD"))
                    if value is not None:
                        found.append(value)
    return max(found) if found else None


def parse_spot(history, zones=None):
    """{type: Decimal} from DescribeSpotPriceHistory entries: the latest Linux price of each zone, the highest over zones.

    zones limits the zones considered (the workbench's own); empty or None takes every zone.
    """
    latest = {}
    for entry in history:
        if entry.get("ProductDescription") not in LINUX_SPOT_PRODUCTS:
            continue
        zone = entry.get("AvailabilityZone")
        if zones and zone not in zones:
            continue
        value = _decimal(entry.get("SpotPrice"))
        if value is None:
            continue
        key = (entry["InstanceType"], zone)
        stamp = str(entry.get("Timestamp", ""))
        if key not in latest or stamp > latest[key][0]:
            latest[key] = (stamp, value)
    result = {}
    for (instance_type, _zone), (_stamp, value) in latest.items():
        result[instance_type] = max(value, result.get(instance_type, value))
    return result


def on_demand_prices(client, region, instance_types):
    """({type: Decimal}, [types without a price]) from the Price List API (client of the 'pricing' service)."""
    found, missing = {}, []
    for instance_type in instance_types:
        price_list = []
        paginator = client.get_paginator("get_products")
        for page in paginator.paginate(ServiceCode="AmazonEC2", Filters=on_demand_filters(region, instance_type), FormatVersion="aws_v1"):
            price_list.extend(page.get("PriceList", []))
        value = parse_on_demand(price_list)
        if value is None:
            missing.append(instance_type)
        else:
            found[instance_type] = value
    return found, missing


def spot_prices(client, instance_types, zones=None, now=None):
    """({type: Decimal}, [types without a price]) from the spot price history in effect now (client of 'ec2')."""
    kwargs = {"InstanceTypes": list(instance_types), "ProductDescriptions": ["Linux/UNIX"]}
    if now is not None:
        kwargs["StartTime"] = now
    history = []
    for page in client.get_paginator("describe_spot_price_history").paginate(**kwargs):
        history.extend(page.get("SpotPriceHistory", []))
    found = parse_spot(history, zones)
    return {t: found[t] for t in instance_types if t in found}, [t for t in instance_types if t not in found]


def as_overrides(on_demand=None, spot=None):
    """The layout of workbench.prices, prices as strings (exact when read back as decimals)."""
    result = {}
    if on_demand:
        result["on_demand"] = {name: format(value, "f") for name, value in sorted(on_demand.items())}
    if spot:
        result["spot"] = {name: format(value, "f") for name, value in sorted(spot.items())}
    return result
