"""The SSH public key check of module_utils/ssh_keys: keys made by ssh-keygen pass, damaged ones fail with the reason."""

import base64
import shutil
import subprocess

import pytest

from ansible_collections.kdsw.workbench.plugins.module_utils.ssh_keys import normalize_ssh_key, ssh_key_problem

pytestmark = pytest.mark.skipif(not shutil.which("ssh-keygen"), reason="ssh-keygen is not installed")


def keygen(tmp_path, kind, bits=None, comment="someone@laptop"):
    path = tmp_path / f"{kind}{bits or ''}"
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", comment, "-f", str(path)]
                   + (["-b", str(bits)] if bits else []), check=True)
    return path.with_suffix(".pub").read_text(encoding="utf-8").strip()


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
    assert "several lines" in ssh_key_problem(f"{kind} {data[:30]}\n{data[30:]} {comment}")


def test_short_rsa_keys_fail(tmp_path):
    assert "fewer than 2048 bits" in ssh_key_problem(keygen(tmp_path, "rsa", 1024))


def test_a_comment_that_is_not_ascii_passes(tmp_path):
    key = keygen(tmp_path, "ed25519", comment="zoë@portátil-de-Zoë")
    assert ssh_key_problem(key) is None
    assert normalize_ssh_key(key + "\n") == key


@pytest.mark.parametrize("separator", [" ", "  ", "\t", "\n", "\r\n"])
def test_two_keys_in_one_string_are_refused_naming_both(tmp_path, separator):
    laptop, desktop = keygen(tmp_path, "ed25519", comment="zoe@laptop"), keygen(tmp_path, "ecdsa", 256, comment="zoe@desktop")
    problem = ssh_key_problem(laptop + separator + desktop)
    assert problem.startswith("holds 2 keys (") and "own item of ssh_keys" in problem
    assert f"'ssh-ed25519 ...{laptop.split()[1][-8:]} zoe@laptop'" in problem
    assert f"'ecdsa-sha2-nistp256 ...{desktop.split()[1][-8:]} zoe@desktop'" in problem
    assert ssh_key_problem(f"{laptop} {desktop} {laptop}").startswith("holds 3 keys")
    # Without a comment between them, too.
    assert ssh_key_problem(" ".join(laptop.split()[:2] + desktop.split()[:2])).startswith("holds 2 keys")


def test_a_comment_that_only_names_a_key_type_passes(tmp_path):
    key = keygen(tmp_path, "ed25519", comment="laptop ssh-rsa AAAAB3NzaC1yc2E ssh-ed25519")
    assert ssh_key_problem(key) is None


@pytest.mark.parametrize("character", ["\x00", "\x1b", "\x7f", "\x85", "\u2028", "\u2029", "\r"])
def test_control_characters_are_refused(tmp_path, character):
    kind, data, comment = keygen(tmp_path, "ed25519").split()
    problem = ssh_key_problem(f"{kind} {data} {comment}{character}x")
    assert problem is not None and ("control character" in problem or "several lines" in problem), problem
    assert ssh_key_problem(f"{kind}\t{data}\t{comment}") is None


def test_an_rfc4716_key_is_refused_with_how_to_convert_it(tmp_path):
    keygen(tmp_path, "ed25519")
    path = tmp_path / "ed25519.pub"
    exported = subprocess.run(["ssh-keygen", "-e", "-f", str(path)], capture_output=True, text=True, check=True).stdout
    assert "ssh-keygen -i -f" in ssh_key_problem(exported)
