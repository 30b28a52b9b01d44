"""The definition files of the repository, as the unit tests read them."""

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def load_definition(relative, variable):
    return yaml.safe_load((REPO / relative).read_text(encoding="utf-8"))[variable]


@pytest.fixture(scope="module")
def defaults():
    return load_definition("group_vars/all/workbench_defaults.yml", "workbench_defaults")


@pytest.fixture(scope="module")
def personal():
    return load_definition("inventories/personal/group_vars/all/workbench.yml", "workbench")


@pytest.fixture(scope="module")
def local():
    return load_definition("inventories/local/group_vars/all/workbench.yml", "workbench")
