"""The cost_estimate module run as Ansible runs it: a real process fed ANSIBLE_MODULE_ARGS."""

from pathlib import Path

import pytest
import yaml

from ansible_collections.kdsw.workbench.plugins.module_utils.cluster_definition import merge, normalize

REPO = Path(__file__).resolve().parents[4]


def _load(relative, variable):
    return yaml.safe_load((REPO / relative).read_text(encoding="utf-8"))[variable]


@pytest.fixture(scope="module")
def cluster():
    return normalize(merge(_load("group_vars/all/workbench_defaults.yml", "workbench_defaults"),
                           _load("inventories/personal/group_vars/all/workbench.yml", "workbench")))


def test_estimate_of_the_personal_definition(run_module, cluster):
    result = run_module("cost_estimate", {"cluster": cluster}, check_mode=True)
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert (result["monthly_base"], result["annual_total"], result["over_budget"]) == (43.37, 684.26, False)
    estimate = result["estimate"]
    assert estimate["monthly_base"] == 43.37 and estimate["budget"] == {"monthly_usd": 50, "over": False}
    assert sum(line["total"] * 100 for line in estimate["lines"] if line["section"] == "base") == 4337
    assert "monthly base" in result["table"] and "43.37" in result["table"]


def test_over_budget_and_extra_prices(run_module, cluster):
    tight = dict(cluster, budget={"monthly_usd": 40})
    result = run_module("cost_estimate", {"cluster": tight, "prices": {"on_demand": {"t4g.small": "0.0100"}}})
    # 2 x 730 x 0.01 = 14.60 instead of 24.52: 43.37 - 24.52 + 14.60 = 33.45, within 40
    assert (result["monthly_base"], result["over_budget"]) == (33.45, False), result
    result = run_module("cost_estimate", {"cluster": tight})
    assert result["over_budget"] is True and "OVER BUDGET" in result["table"]


def test_missing_price_fails_naming_the_key(run_module, cluster):
    result = run_module("cost_estimate", {"cluster": dict(cluster, region="eu-west-1")})
    assert result.get("failed"), result
    assert "workbench.prices.on_demand.t4g.small" in result["msg"] and "no price table for eu-west-1" in result["msg"]
