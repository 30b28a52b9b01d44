"""cost.yml without AWS, the budget guard of site.yml (no AWS request before it lets a run through), and prices
refreshed from the endpoint.

The guard's cases run site.yml with a copy of the rehearsal inventory whose budget is below its base, and prove
from moto's access log that a stopped run made no request at all.
"""

import json
import os
import shutil

import pytest
import yaml

from conftest import REPO

LOCAL = REPO / "inventories/local"
DEFINITION = yaml.safe_load((LOCAL / "group_vars/all/workbench.yml").read_text())["workbench"]
AWS_VARIABLES = ("AWS_URL", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


@pytest.fixture
def tight_inventory(tmp_path):
    """The rehearsal inventory with a budget of 10 USD a month, below its always-on base."""
    inventory = tmp_path / "inventory"
    shutil.copytree(LOCAL, inventory)
    definition = dict(DEFINITION, budget={"monthly_usd": 10})
    (inventory / "group_vars/all/workbench.yml").write_text(yaml.safe_dump({"workbench": definition}))
    return str(inventory)


def test_cost_yml_needs_no_aws(playbook, tmp_path, monkeypatch):
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    report_path = tmp_path / "estimate.json"
    # No credentials, no endpoint, no ~/.aws: only the definition.
    run = playbook("cost.yml", "-e", f"cost_report={report_path}", inventory="inventories/personal",
                   env={"HOME": str(home), "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull})
    assert run.rc == 0, run.output[-4000:]
    assert "Always-on base, per month" in run.output and "Scenario 'a year of bursts', per year" in run.output
    report = json.loads(report_path.read_text())
    assert (report["monthly_base"], report["annual_total"]) == (43.37, 684.26)
    assert report["prices"]["as_of"] and report["lines"]
    assert round(sum(line["total"] for line in report["lines"] if line["section"] == "base"), 2) == report["monthly_base"]


def test_budget_guard_stops_site_before_any_aws_call(aws, playbook, tight_inventory):
    mark = aws.log_offset()
    run = playbook("site.yml", inventory=tight_inventory)
    assert run.rc != 0
    assert aws.requests(since=mark) == []
    assert "costs 43.37 USD a month, over its budget of 10.00 USD\n(workbench.budget.monthly_usd)" in run.output, run.output[-3000:]
    assert "-e budget_override=yes" in run.output
    # The breakdown is in the message.
    for text in ("control plane: 1 x t4g.small, on-demand", "public IPv4 address", "EFS home directories", "monthly base"):
        assert text in run.output
    assert "kdsw.workbench.aws_network" not in run.output


def test_budget_override_lets_site_proceed(aws, playbook, tight_inventory):
    mark = aws.log_offset()
    run = playbook("site.yml", "--check", "-e", "budget_override=yes", inventory=tight_inventory)
    assert run.rc == 0, run.output[-4000:]
    assert "OVER BUDGET" in run.output  # the estimate is still shown
    assert "Check mode: the VPC does not exist yet" in run.output
    assert aws.requests(since=mark) != []


def test_prices_refreshed_from_the_endpoint(aws, playbook, tmp_path):
    """moto has no Price List API and answers the spot price history with a flat 0.00001: only spot is refreshed here."""
    report_path = tmp_path / "estimate.json"
    run = playbook("cost.yml", "-e", "refresh_prices=yes", "-e", '{"refresh_price_sources": ["spot"]}', "-e", f"cost_report={report_path}")
    assert run.rc == 0, run.output[-4000:]
    report = json.loads(report_path.read_text())
    assert "workbench.prices.spot.m7i.2xlarge" in report["prices"]["overridden"]
    assert "workbench.prices.spot.t4g.small" in report["prices"]["overridden"]
    assert report["monthly_base"] == 43.37  # the base is on-demand only


def test_on_demand_refresh_says_the_endpoint_has_no_price_list(aws, run_module):
    result = run_module("aws_prices", {"region": "us-east-1", "instance_types": ["t4g.small"], "sources": ["on_demand"]})
    assert result.get("failed"), result
    assert "AWS Price List API" in result["msg"]
    result = run_module("aws_prices", {"region": "us-east-1", "instance_types": ["t4g.small"], "zones": ["us-east-1a"], "sources": ["spot"]})
    assert not result.get("failed"), result
    assert result["prices"] == {"spot": {"t4g.small": "0.00001"}} and result["missing"] == {"on_demand": [], "spot": []}
