"""The gpu_image_ssm_parameter key of the cluster definition: defaulted, kept by normalize, checked as a string."""

from pathlib import Path

import pytest
import yaml

from ansible_collections.kdsw.workbench.plugins.module_utils.cluster_definition import merge, normalize, validate

REPO = Path(__file__).resolve().parents[4]
DLAMI = "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id"


def _load(relative, variable):
    return yaml.safe_load((REPO / relative).read_text(encoding="utf-8"))[variable]


@pytest.fixture(scope="module")
def merged():
    defaults = _load("group_vars/all/workbench_defaults.yml", "workbench_defaults")
    return merge(defaults, _load("inventories/personal/group_vars/all/workbench.yml", "workbench"))


def test_defaults_to_the_deep_learning_base_gpu_ami(merged):
    assert validate(merged, {}) == []
    assert normalize(merged)["gpu_image_ssm_parameter"] == DLAMI


@pytest.mark.parametrize("value", ["", 42, None, ["a"]])
def test_a_wrong_value_is_named_by_its_key(merged, value):
    problems = validate(dict(merged, gpu_image_ssm_parameter=value), {})
    assert len(problems) == 1 and problems[0].startswith("workbench.gpu_image_ssm_parameter: "), problems
