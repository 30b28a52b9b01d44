"""Unit tests of the cost model: hand-computed estimates to the cent, the price table and its overrides, and the
definition's validation of scenarios and prices."""

import copy
from decimal import Decimal

import pytest

from ansible_collections.kdsw.workbench.plugins.module_utils import cost, price_list, price_table, prices
from ansible_collections.kdsw.workbench.plugins.module_utils.cluster_definition import merge, normalize, validate
from ansible_collections.kdsw.workbench.plugins.module_utils.instance_types import CATALOG


def lines_of(report, section):
    return [(line["item"], line["quantity"], line["unit_price"], line["total"]) for line in report["lines"] if line["section"] == section]


# --- a hand-computed estimate from given prices ---------------------------------------------------

# Every price the estimate reads, given here: the region has no table, so nothing comes from it.
GIVEN_PRICES = {
    "on_demand": {"t4g.small": 0.02, "t4g.medium": 0.04, "m7i.xlarge": 0.2, "m6i.xlarge": 0.19},
    "spot": {"m6i.xlarge": 0.15},
    "spot_fraction": 0.5,
    "ebs": {"gp3_gb_month": 0.1},
    "vpc": {"public_ipv4_hour": 0.005},
    "efs": {"standard_gb_month": 0.3},
    "s3": {"standard_gb_month": 0.025},
    "ssm": {"advanced_parameter_month": 0.05},
    "transfer": {"internet_out_gb": 0.09},
}

HAND_CLUSTER = {
    "name": "hand",
    "region": "eu-west-1",
    "control_plane": {"instance_type": "t4g.small", "root_volume_gb": 10},
    "admin_nodes": {"count": 2, "instance_type": "t4g.medium", "root_volume_gb": 15},
    "node_pools": [{"name": "cpu", "instance_types": ["m7i.xlarge", "m6i.xlarge"], "lifecycle": "spot", "min": 1, "max": 4, "desired": 1,
                    "root_volume_gb": 30}],
    "storage": {"efs_expected_gb": 12.5, "data_expected_gb": 40},
    "budget": {"monthly_usd": 200},
    "scenarios": [
        {"name": "weekly", "period": "month",
         "pools": [{"pool": "cpu", "hours": 10, "nodes": 3, "lifecycle": "on-demand", "instance_type": "m7i.xlarge"}]},
        {"name": "bursts", "period": "year", "pools": [{"pool": "cpu", "hours": 100, "nodes": 2}], "data_gb": 15},
    ],
    "prices": GIVEN_PRICES,
}


def test_hand_computed_base():
    report = cost.estimate(HAND_CLUSTER)
    D = Decimal
    assert lines_of(report, "base") == [
        ("control plane: 1 x t4g.small, on-demand", D(730), D("0.02"), D("14.60")),       # 730 x 0.02
        ("control plane: 1 x 10 GB gp3 root volume", D(10), D("0.1"), D("1.00")),
        ("control plane: 1 x public IPv4 address", D(730), D("0.005"), D("3.65")),
        ("admin nodes: 2 x t4g.medium, on-demand", D(1460), D("0.04"), D("58.40")),       # 2 x 730 x 0.04
        ("admin nodes: 2 x 15 GB gp3 root volume", D(30), D("0.1"), D("3.00")),
        ("admin nodes: 2 x public IPv4 address", D(1460), D("0.005"), D("7.30")),
        # spot: m6i.xlarge at its given 0.15 is dearer than m7i.xlarge at 0.5 x 0.2 = 0.10
        ("pool cpu (desired): 1 x m6i.xlarge, spot", D(730), D("0.15"), D("109.50")),
        ("pool cpu (desired): 1 x 30 GB gp3 root volume", D(30), D("0.1"), D("3.00")),
        ("pool cpu (desired): 1 x public IPv4 address", D(730), D("0.005"), D("3.65")),
        ("EFS home directories, Standard", D("12.5"), D("0.3"), D("3.75")),
        ("S3 data bucket, Standard", D(40), D("0.025"), D("1.00")),
        ("SSM Advanced parameter (kubeconfig)", D(1), D("0.05"), D("0.05")),
    ]
    assert report["monthly_base"] == D("208.90")
    assert report["budget"] == {"monthly_usd": D(200), "over": True}


def test_hand_computed_scenarios_and_totals():
    report = cost.estimate(HAND_CLUSTER)
    weekly = lines_of(report, "weekly")
    assert [line[3] for line in weekly] == [
        Decimal("6.00"),   # 10 h x 3 nodes x 0.2 (on-demand, the type named)
        Decimal("0.12"),   # 30 GB x 30 node-hours / 730 = 1.2329 GB-month x 0.1 = 0.1233
        Decimal("0.15"),   # 30 address-hours x 0.005
    ]
    bursts = lines_of(report, "bursts")
    assert [line[3] for line in bursts] == [
        Decimal("30.00"),  # 100 h x 2 nodes x 0.15 (spot, the dearest type)
        Decimal("0.82"),   # 30 GB x 200 / 730 = 8.2192 GB-month x 0.1 = 0.8219
        Decimal("1.00"),   # 200 x 0.005
        Decimal("1.35"),   # 15 GB out x 0.09
    ]
    assert bursts[1][1] == Decimal(30) * 200 / 730
    assert [(s["name"], s["total"], s["annual"]) for s in report["scenarios"]] == [
        ("weekly", Decimal("6.27"), Decimal("75.24")), ("bursts", Decimal("33.17"), Decimal("33.17"))]
    assert report["monthly_total"] == Decimal("215.17")              # 208.90 + 6.27
    assert report["annual_total"] == Decimal("2615.21")              # 12 x 208.90 + 12 x 6.27 + 33.17


def test_each_line_is_rounded_half_up_and_sums_add_rounded_lines():
    cluster = copy.deepcopy(HAND_CLUSTER)
    cluster["scenarios"] = [{"name": "one hour", "period": "month", "pools": [{"pool": "cpu", "hours": 1, "instance_type": "m7i.xlarge"}],
                             "data_gb": 1}]
    cluster["prices"] = dict(GIVEN_PRICES, spot={"m7i.xlarge": 0.0149}, vpc={"public_ipv4_hour": 0.0049}, transfer={"internet_out_gb": 0.005})
    report = cost.estimate(cluster)
    # 0.0149 -> 0.01; 30 GB x 1 h / 730 x 0.1 = 0.00411 -> 0.00; 0.0049 -> 0.00; 1 GB x 0.005 -> 0.01 (half-up, not half-even)
    assert [line[3] for line in lines_of(report, "one hour")] == [Decimal("0.01"), Decimal("0.00"), Decimal("0.00"), Decimal("0.01")]
    # The scenario adds its rounded lines: 0.02, although the exact sum, 0.02891, would round to 0.03.
    assert report["scenarios"][0]["total"] == Decimal("0.02")
    assert report["monthly_total"] == report["monthly_base"] + Decimal("0.02")


def test_the_table_adds_up_and_keeps_its_columns():
    report = cost.estimate(HAND_CLUSTER)
    table = cost.render(report)
    rows = table.splitlines()
    width = sum(cost.WIDTHS) + len(cost.WIDTHS) - 1
    assert all(len(row) <= width for row in rows if not row.startswith(("prices:", "overridden:", "budget:", "Cost estimate")))
    assert "monthly base" in table and "208.90" in table and "2,615.21" in table and "OVER BUDGET" in table
    assert "overridden: workbench.prices.ebs.gp3_gb_month" in table


def test_jsonable_report_has_numbers():
    report = cost.jsonable(cost.estimate(HAND_CLUSTER))
    assert report["monthly_base"] == 208.9 and report["annual_total"] == 2615.21
    bursts = [line for line in report["lines"] if line["section"] == "bursts"]
    assert bursts[1]["quantity"] == 8.2192 and bursts[1]["total"] == 0.82


# --- the shipped definition and table ------------------------------------------------------------

def test_default_personal_base_is_at_most_50_usd(defaults, personal):
    report = cost.estimate(normalize(merge(defaults, personal)))
    assert report["monthly_base"] == Decimal("43.37") <= 50
    assert report["budget"]["over"] is False
    # The figures of the README's Cost section.
    assert [s["total"] for s in report["scenarios"]] == [Decimal("163.82")]
    assert report["annual_total"] == Decimal("684.26")


def test_default_personal_base_counts_every_always_on_resource(defaults, personal):
    report = cost.estimate(normalize(merge(defaults, personal)))
    kinds = {}
    for line in report["lines"]:
        if line["section"] == "base":
            kinds[line["resource"]["kind"]] = kinds.get(line["resource"]["kind"], 0) + line["resource"]["count"]
    # 1 server + 1 admin node, each with a root volume and a public IPv4 address; EFS, S3, the kubeconfig parameter
    assert kinds == {"instance": 2, "volume": 2, "public_ipv4": 2, "efs": 1, "s3_bucket": 1, "ssm_advanced_parameter": 1}


def test_table_prices_every_catalog_type_in_us_east_1():
    for name in CATALOG:
        on_demand = prices.price("us-east-1", "on_demand", name)
        assert on_demand > 0, name
        assert prices.instance_price("us-east-1", name, "spot") == on_demand * Decimal(price_table.TABLE["us-east-1"]["spot_fraction"])
    for kind, keys in prices.UNIT_KEYS.items():
        for key in keys:
            assert prices.price("us-east-1", kind, key) > 0
    assert prices.price("us-east-1", "vpc", "public_ipv4_hour") == Decimal("0.005")
    assert prices.price("us-east-1", "ssm", "advanced_parameter_month") == Decimal("0.05")
    assert price_table.AS_OF and "aws.amazon.com" in price_table.SOURCE


def test_price_api_overrides_and_errors():
    assert prices.price("us-east-1", "on_demand", "t4g.small") == Decimal("0.0168")
    assert prices.price("us-east-1", "on_demand", "t4g.small", {"on_demand": {"t4g.small": 0.02}}) == Decimal("0.02")
    assert prices.price("us-east-1", "spot", "t4g.small", {"spot_fraction": 0.5}) == Decimal("0.0084")
    assert prices.lookup("eu-west-1", "ebs", "gp3_gb_month") is None
    with pytest.raises(prices.PriceError) as missing_region:
        prices.price("eu-west-1", "ebs", "gp3_gb_month")
    assert missing_region.value.key == "workbench.prices.ebs.gp3_gb_month"
    assert "no price table for eu-west-1" in str(missing_region.value)
    with pytest.raises(prices.PriceError) as missing_spot:
        prices.price("eu-west-1", "spot", "m7i.xlarge", {"spot_fraction": 0.4})
    assert missing_spot.value.key == "workbench.prices.on_demand.m7i.xlarge"
    with pytest.raises(ValueError):
        prices.price("us-east-1", "nat_gateway", "hour")
    with pytest.raises(ValueError):
        prices.as_decimal(-1)


def test_estimate_without_a_price_names_the_key_to_set():
    cluster = copy.deepcopy(HAND_CLUSTER)
    del cluster["prices"]["on_demand"]["t4g.medium"]
    with pytest.raises(cost.CostError, match=r"workbench\.prices\.on_demand\.t4g\.medium: there is no price table for eu-west-1"):
        cost.estimate(cluster)


def test_estimate_refuses_an_unvalidated_definition():
    with pytest.raises(cost.CostError, match="validated, normalized definition"):
        cost.estimate({"region": "us-east-1"})


def test_extra_prices_lose_to_the_definitions_own():
    cluster = copy.deepcopy(HAND_CLUSTER)
    report = cost.estimate(cluster, {"on_demand": {"t4g.small": 1, "t4g.medium": 0.01}, "spot_fraction": 0.9})
    control, admin = lines_of(report, "base")[0], lines_of(report, "base")[3]
    assert control[2] == Decimal("0.02") and admin[2] == Decimal("0.04")  # the definition's prices win


# --- validation of scenarios and prices in the definition ------------------------------------------

def problems_with(defaults, personal, **changes):
    definition = copy.deepcopy(personal)
    definition.update(changes)
    return validate(merge(defaults, definition), {})


SPARK = {"pool": "spark", "hours": 100, "nodes": 4}


@pytest.mark.parametrize("scenarios, key, text", [
    ([{"name": "x", "period": "year", "pools": [dict(SPARK, hours=-5)]}], "workbench.scenarios[0].pools[0].hours", "-5 is too small"),
    ([{"name": "x", "period": "year", "pools": [dict(SPARK, pool="sprak")]}], "workbench.scenarios[0].pools[0].pool",
     "pool 'sprak' is not defined in workbench.node_pools; did you mean spark?"),
    ([{"name": "x", "period": "month", "pools": [dict(SPARK, hours=800)]}], "workbench.scenarios[0].pools[0].hours",
     "more than a month has (730)"),
    ([{"name": "x", "period": "year", "pools": [dict(SPARK, nodes=9)]}], "workbench.scenarios[0].pools[0].nodes", "from 1 to 8"),
    ([{"name": "x", "period": "week", "pools": [SPARK]}], "workbench.scenarios[0].period", "not one of month, year"),
    ([{"name": "x", "period": "year", "pools": [dict(SPARK, lifecycle="reserved")]}], "workbench.scenarios[0].pools[0].lifecycle",
     "not one of spot, on-demand"),
    ([{"name": "x", "period": "year", "pools": [dict(SPARK, instance_type="g5.xlarge")]}], "workbench.scenarios[0].pools[0].instance_type",
     "not one of the pool's instance types"),
    ([{"name": "x", "period": "year", "pools": [dict(SPARK, hours="100")]}], "workbench.scenarios[0].pools[0].hours", "(remove the quotes)"),
    ([{"name": "x", "period": "year", "pools": [SPARK], "data_gb": -1}], "workbench.scenarios[0].data_gb", "too small"),
    ([{"name": "x", "period": "year", "pools": [SPARK]}, {"name": "x", "period": "year", "pools": []}], "workbench.scenarios[1].name",
     "duplicate scenario"),
    ([{"name": "x", "period": "year", "pools": [SPARK], "gpus": 1}], "workbench.scenarios[0].gpus", "unknown key"),
    ("bursts", "workbench.scenarios", "not a list"),
])
def test_bad_scenarios_are_reported_under_their_key(defaults, personal, scenarios, key, text):
    problems = problems_with(defaults, personal, scenarios=scenarios)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{key}: ") and text in problems[0], problems


@pytest.mark.parametrize("overrides, key, text", [
    ({"ebs": {"gp3_gb_month": -0.08}}, "workbench.prices.ebs.gp3_gb_month", "too small"),
    ({"ebs": {"gp2_gb_month": 0.1}}, "workbench.prices.ebs.gp2_gb_month", "unknown key; did you mean gp3_gb_month?"),
    ({"on_demand": {"t4g.smal": 0.02}}, "workbench.prices.on_demand.t4g.smal", "not a known instance type"),
    ({"on_demand": {"t4g.small": "cheap"}}, "workbench.prices.on_demand.t4g.small", "not a number"),
    ({"spot_fraction": 1.5}, "workbench.prices.spot_fraction", "more than 1"),
    ({"nat": {"hour": 0.045}}, "workbench.prices.nat", "unknown key"),
])
def test_bad_prices_are_reported_under_their_key(defaults, personal, overrides, key, text):
    problems = problems_with(defaults, personal, prices=overrides)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{key}: ") and text in problems[0], problems


def test_a_region_without_a_table_names_every_price_to_set(defaults, personal):
    problems = problems_with(defaults, personal, region="eu-west-1", zones=["eu-west-1a", "eu-west-1b"])
    assert len(problems) == 1, problems
    problem = problems[0]
    assert problem.startswith("workbench.prices: there is no price table for eu-west-1 (the collection ships prices for us-east-1)")
    for key in ("on_demand.t4g.small", "on_demand.m7i.2xlarge", "on_demand.g5.xlarge", "ebs.gp3_gb_month", "vpc.public_ipv4_hour",
                "efs.standard_gb_month", "s3.standard_gb_month", "ssm.advanced_parameter_month", "transfer.internet_out_gb"):
        assert key in problem


def test_a_region_without_a_table_is_valid_with_every_price_given(defaults, personal):
    types = ["t4g.small", "m7i.2xlarge", "m6i.2xlarge", "m6a.2xlarge", "m5.2xlarge", "g6.xlarge", "g5.xlarge", "g4dn.xlarge"]
    given = dict(GIVEN_PRICES, on_demand={name: 1 for name in types})
    cluster = merge(defaults, dict(personal, region="eu-west-1", zones=["eu-west-1a", "eu-west-1b"], prices=given))
    assert validate(cluster, {}) == []
    assert cost.estimate(normalize(cluster))["region"] == "eu-west-1"


def test_a_catalog_type_without_a_price_names_the_key_to_set(defaults, personal, monkeypatch):
    table = copy.deepcopy(price_table.TABLE)
    del table["us-east-1"]["on_demand"]["g6.xlarge"]
    monkeypatch.setattr(prices, "TABLE", table)
    problems = problems_with(defaults, personal)
    assert problems == ["workbench.prices.on_demand.g6.xlarge: the price table of us-east-1 has no on_demand price for g6.xlarge; "
                        "set workbench.prices.on_demand.g6.xlarge"]
    assert problems_with(defaults, personal, prices={"spot": {"g6.xlarge": 0.4}}) == []


# --- prices from AWS: the parsers --------------------------------------------------------------------

def test_price_list_document_is_parsed_to_the_hourly_on_demand_price():
    document = {
        "product": {"attributes": {"instanceType": "t4g.small", "regionCode": "us-east-1", "operatingSystem": "Linux"}},
        "terms": {"OnDemand": {"ABC.JRTCKXETXF": {"priceDimensions": {"ABC.JRTCKXETXF.6YS6EN2CT7": {
            "unit": "Hrs", "pricePerUnit": {"USD": "0.0168000000"}, "description": "$0.0168 per On Demand Linux t4g.small Instance Hour"}}}},
            "Reserved": {"ABC.X": {"priceDimensions": {"ABC.X.Y": {"unit": "Quantity", "pricePerUnit": {"USD": "100"}}}}}},
    }
    import json
    assert price_list.parse_on_demand([json.dumps(document)]) == Decimal("0.0168")
    assert price_list.parse_on_demand([]) is None
    assert {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-1"} in price_list.on_demand_filters("us-east-1", "t4g.small")


def test_spot_history_takes_the_latest_price_of_each_zone_and_the_highest_zone():
    history = [
        {"InstanceType": "m7i.2xlarge", "ProductDescription": "Linux/UNIX", "SpotPrice": "0.2100", "AvailabilityZone": "us-east-1a",
         "Timestamp": "2025-01-01T00:00:00"},
        {"InstanceType": "m7i.2xlarge", "ProductDescription": "Linux/UNIX", "SpotPrice": "0.1800", "AvailabilityZone": "us-east-1a",
         "Timestamp": "2025-01-02T00:00:00"},
        {"InstanceType": "m7i.2xlarge", "ProductDescription": "Linux/UNIX", "SpotPrice": "0.1900", "AvailabilityZone": "us-east-1b",
         "Timestamp": "2025-01-02T00:00:00"},
        {"InstanceType": "m7i.2xlarge", "ProductDescription": "Linux/UNIX", "SpotPrice": "0.5000", "AvailabilityZone": "us-east-1f",
         "Timestamp": "2025-01-02T00:00:00"},
        {"InstanceType": "m7i.2xlarge", "ProductDescription": "Windows", "SpotPrice": "0.9000", "AvailabilityZone": "us-east-1a",
         "Timestamp": "2025-01-03T00:00:00"},
    ]
    assert price_list.parse_spot(history, ["us-east-1a", "us-east-1b"]) == {"m7i.2xlarge": Decimal("0.19")}
    assert price_list.parse_spot(history) == {"m7i.2xlarge": Decimal("0.5")}
    assert price_list.as_overrides(spot={"m7i.2xlarge": Decimal("0.19")}) == {"spot": {"m7i.2xlarge": "0.19"}}
