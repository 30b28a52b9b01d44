"""The collection builds into an installable artifact whose docs cover every module and role option."""

import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

from conftest import REPO

BIN = Path(sys.executable).parent
MODULES = sorted(p.stem for p in (REPO / "plugins/modules").glob("*.py") if p.stem != "__init__")
ROLES = sorted(p.name for p in (REPO / "roles").iterdir() if (p / "meta/argument_specs.yml").is_file())


def run(*args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, check=True, **kwargs)


def test_build_install_and_document(tmp_path):
    run(str(BIN / "ansible-galaxy"), "collection", "build", str(REPO), "--output-path", str(tmp_path))
    (artifact,) = tmp_path.glob("kdsw-workbench-*.tar.gz")
    names = tarfile.open(artifact).getnames()
    assert "galaxy.yml" not in names and "MANIFEST.json" in names
    assert not [n for n in names if n.split("/")[0] in (".venv", ".rehearsal", ".collections", ".git", "harness")]

    installed = tmp_path / "collections"
    run(str(BIN / "ansible-galaxy"), "collection", "install", str(artifact), "--no-deps", "-p", str(installed))
    bundled = Path(__import__("ansible_collections").__path__[0]).parent
    env = {"ANSIBLE_COLLECTIONS_PATH": f"{installed}:{bundled}", "PATH": str(BIN), "HOME": str(tmp_path)}

    for module in MODULES:
        doc = run(str(BIN / "ansible-doc"), "--json", f"kdsw.workbench.{module}", env=env, cwd=tmp_path).stdout
        assert f"kdsw.workbench.{module}" in doc and '"examples"' in doc and '"return"' in doc
    for role in ROLES:
        doc = run(str(BIN / "ansible-doc"), "-t", "role", "--json", f"kdsw.workbench.{role}", env=env, cwd=tmp_path).stdout
        spec = yaml.safe_load((REPO / "roles" / role / "meta/argument_specs.yml").read_text())["argument_specs"]
        for option in spec["main"]["options"]:
            assert f'"{option}"' in doc, f"{role}: {option} missing from ansible-doc"
    assert MODULES and ROLES
