"""The SSH public key check of module_utils/ssh_keys: keys made by ssh-keygen pass, damaged ones fail with the reason."""

import base64
import shutil
import subprocess

import pytest

from ansible_collections.kdsw.workbench.plugins.module_utils.ssh_keys import normalize_ssh_key, ssh_key_problem

pytestmark = pytest.mark.skipif(not shutil.which("ssh-keygen"), reason="ssh-keygen is not installed")


def keygen(tmp_path, kind, bits=None):
    path = tmp_path / f"{kind}{bits or ''}"
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "someone@laptop", "-f", str(path)]
                   + (["-b", str(bits)] if bits else []), check=True)
    return path.with_suffix(".pub").read_text().strip()


@pytest.mark.parametrize("kind,bits", [("ed25519", None), ("rsa", 3072), ("ecdsa", 256), ("ecdsa", 384), ("ecdsa", 521)])
def test_keys_made_by_ssh_keygen_pass(tmp_path, kind, bits):
    key = keygen(tmp_path, kind, bits)
    assert ssh_key_problem(key) is None
    assert ssh_key_problem("  " + key.replace(" ", "   ") + "\n") is None
    assert normalize_ssh_key("  " + key.replace(" ", "   ")) == key


def test_damaged_keys_fail_with_the_reason(tmp_path):
    key = keygen(tmp_path, "ed25519")
    kind, data, comment = key.split()
    blob = base64.b64decode(data)
    assert "truncated" in ssh_key_problem(f"{kind} {base64.b64encode(blob[:-5]).decode()} {comment}")
    assert "extra bytes" in ssh_key_problem(f"{kind} {base64.b64encode(blob + b'xxxx').decode()} {comment}")
    assert "not valid base64" in ssh_key_problem(f"{kind} {data[:-3]}!!! {comment}")
    assert "not ssh-rsa as declared" in ssh_key_problem(f"ssh-rsa {data} {comment}")
    assert "not supported" in ssh_key_problem(f"ssh-dss {data}")
    assert "private key" in ssh_key_problem((tmp_path / "ed25519").read_text())
    assert "whole line" in ssh_key_problem(data)
    assert "empty" in ssh_key_problem("  ")
    assert "several lines" in ssh_key_problem(key + "\n" + key)


def test_short_rsa_keys_fail(tmp_path):
    assert "fewer than 2048 bits" in ssh_key_problem(keygen(tmp_path, "rsa", 1024))
