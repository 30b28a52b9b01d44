# -*- coding: utf-8 -*-
# Copyright: kdsw.workbench maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Prices of the workbench's AWS resources, as exact decimals: the shipped table and its overrides.

Pure Python, no network call. The API other plugins use:

* price(region, kind, key, overrides=None)   Decimal USD; raises PriceError naming the key to set
* lookup(region, kind, key, overrides=None)  the same, or None when there is no price
* instance_price(region, instance_type, lifecycle, overrides=None)   lifecycle 'on-demand' or 'spot'
* regions()                                  regions with a shipped table
* as_decimal(value)                          an exact Decimal of a str, int or float price

kind is one of KINDS: 'on_demand' and 'spot' take an instance type as key; the other kinds take
the keys of UNIT_KEYS, e.g. price('us-east-1', 'ebs', 'gp3_gb_month'). A spot price that is not
listed is the on-demand price times the region's spot_fraction. overrides has the layout of a
region of price_table.TABLE (the `workbench.prices` mapping of a cluster definition) and wins over
the table; with overrides, a region without a table can be priced completely.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from decimal import Decimal, InvalidOperation

from ansible_collections.kdsw.workbench.plugins.module_utils.price_table import AS_OF, DATE, SOURCE, TABLE

INSTANCE_KINDS = ("on_demand", "spot")
UNIT_KEYS = {
    "ebs": ("gp3_gb_month",),
    "efs": ("standard_gb_month", "ia_gb_month", "ia_read_gb", "elastic_read_gb", "elastic_write_gb"),
    "s3": ("standard_gb_month", "standard_ia_gb_month", "glacier_ir_gb_month"),
    "vpc": ("public_ipv4_hour",),
    "ssm": ("advanced_parameter_month",),
    "transfer": ("internet_out_gb",),
}
KINDS = INSTANCE_KINDS + tuple(UNIT_KEYS)
SPOT_FRACTION = "spot_fraction"
# The keys of `workbench.prices` (and of a region of the table).
OVERRIDE_KEYS = INSTANCE_KINDS + (SPOT_FRACTION,) + tuple(UNIT_KEYS)
LIFECYCLE_KINDS = {"on-demand": "on_demand", "spot": "spot"}
OVERRIDE_ROOT = "workbench.prices"

__all__ = ["AS_OF", "DATE", "SOURCE", "PriceError", "as_decimal", "instance_price", "lookup", "override_key", "price", "regions"]


class PriceError(LookupError):
    """No price for a (region, kind, key); .key is the dotted key of the definition that would supply it."""

    def __init__(self, message, key):
        super().__init__(message)
        self.key = key


def regions():
    """The regions the shipped table covers."""
    return sorted(TABLE)


def as_decimal(value):
    """value (a str, int or float price) as an exact Decimal; a float is read from its shortest repr (0.1 -> 0.1)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ValueError(f"{value!r} is not a price")
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a price") from None
    if not result.is_finite() or result < 0:
        raise ValueError(f"{value!r} is not a price")
    return result


def override_key(kind, key):
    """The dotted key of the definition that sets a price, e.g. workbench.prices.on_demand.t4g.small."""
    return f"{OVERRIDE_ROOT}.{kind}.{key}"


def _value(region, kind, key, overrides):
    """The raw value from the overrides, else from the table, else None."""
    for source in (overrides or {}, TABLE.get(region, {})):
        section = source.get(kind)
        if key is None:
            if section is not None:
                return section
        elif isinstance(section, dict) and section.get(key) is not None:
            return section[key]
    return None


def _missing(region, kind, key):
    where = override_key(kind, key)
    if region not in TABLE:
        return PriceError(f"there is no price table for {region} (the collection ships prices for {', '.join(regions())}); "
                          f"set {where}, or every price the estimate needs under {OVERRIDE_ROOT}", where)
    return PriceError(f"the price table of {region} has no {kind} price for {key}; set {where}", where)


def lookup(region, kind, key, overrides=None):
    """The price of key in region as a Decimal (USD), or None when neither overrides nor the table have it."""
    try:
        return price(region, kind, key, overrides)
    except PriceError:
        return None


def price(region, kind, key, overrides=None):
    """The price of key in region as a Decimal (USD); PriceError (naming the key to set) when there is none.

    'spot' falls back to the on-demand price times the spot_fraction of the overrides or the table.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind of price {kind!r}; use one of {', '.join(KINDS)}")
    value = _value(region, kind, key, overrides)
    if value is not None:
        return as_decimal(value)
    if kind == "spot":
        fraction = _value(region, SPOT_FRACTION, None, overrides)
        on_demand = lookup(region, "on_demand", key, overrides)
        if fraction is not None and on_demand is not None:
            return on_demand * as_decimal(fraction)
        if on_demand is None:
            raise _missing(region, "on_demand", key)
        raise _missing(region, "spot", key)
    raise _missing(region, kind, key)


def instance_price(region, instance_type, lifecycle, overrides=None):
    """USD per instance-hour of instance_type at lifecycle ('on-demand' or 'spot')."""
    return price(region, LIFECYCLE_KINDS[lifecycle], instance_type, overrides)
