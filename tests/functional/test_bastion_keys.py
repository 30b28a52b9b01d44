"""The bastion's AuthorizedKeysCommand against a real slapd: every key the directory holds for a user
reaches sshd, one per line, whatever its comment; nothing else does.

Users are written by kdsw.workbench.ldap_user_sync (as site.yml and add_user.yml write them), the
scripts are rendered by the bastion role (tests/functional/playbooks/render_access.yml) and run the
way sshd runs them; one test logs in through a real sshd with the role's configuration. The scripts
run under the machine's /bin/sh and coreutils, and under BusyBox (the shell and tools of the
bastion's Alpine image) when it is installed.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ldap as pyldap
import pytest

from conftest import REPO, _run_module

pytestmark = pytest.mark.skipif(not shutil.which("ldapsearch"), reason="needs OpenLDAP's ldapsearch (ldap-utils)")

SSHD = shutil.which("sshd", path="/usr/sbin:/usr/bin")
BUSYBOX = shutil.which("busybox")
# Not ASCII, so the directory returns the key base64-encoded (sshPublicKey:: ...).
NON_ASCII_COMMENT = "zoë@portátil-de-Zoë"


def keygen(directory, name, comment):
    path = directory / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    directory = tmp_path_factory.mktemp("keys")
    return {"laptop": keygen(directory, "laptop", NON_ASCII_COMMENT), "desktop": keygen(directory, "desktop", "zoe@desktop"),
            "bob": keygen(directory, "bob", "bob@laptop")}


def public(key):
    return key.with_suffix(".pub").read_text(encoding="utf-8").strip()


def sync(env, users):
    args = {"server_uri": env["KDSW_LDAP_URI"], "bind_dn": env["KDSW_LDAP_BIND_DN"], "bind_pw": env["KDSW_LDAP_BIND_PW"],
            "base_dn": env["KDSW_LDAP_BASE_DN"], "ca_file": env["KDSW_LDAP_CA"], "password_hash_rounds": 5000,
            "groups": [{"name": "users"}], "users": users}
    return _run_module("ldap_user_sync", args)


def zoe_and_bob(keys):
    return [{"name": "zoe", "full_name": "Zoë Ångström", "groups": ["users"], "ssh_keys": [public(keys["laptop"]), public(keys["desktop"])]},
            {"name": "bob", "groups": ["users"], "ssh_keys": [public(keys["bob"])]}]


@pytest.fixture(scope="module")
def directory(ldap_server, keys):
    """A fresh slapd holding zoe (two keys, one with a non-ASCII comment, and a non-ASCII name) and bob."""
    ldap_server.reset()
    env = ldap_server.state()["env"]
    result = sync(env, zoe_and_bob(keys))
    assert not result.get("failed") and result["changed"], result
    return {"env": env, "server": ldap_server}


def admin(env):
    conn = pyldap.initialize(env["KDSW_LDAP_URI"])
    conn.set_option(pyldap.OPT_X_TLS_CACERTFILE, env["KDSW_LDAP_CA"])
    conn.set_option(pyldap.OPT_X_TLS_REQUIRE_CERT, pyldap.OPT_X_TLS_DEMAND)
    conn.set_option(pyldap.OPT_X_TLS_NEWCTX, 0)
    conn.start_tls_s()
    conn.simple_bind_s(env["KDSW_LDAP_BIND_DN"], env["KDSW_LDAP_BIND_PW"])
    return conn


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def render(render_dir, env, aws_env):
    """Renders the bastion role's files for the slapd of env into render_dir; returns sshd's port."""
    os.chmod(render_dir, 0o755)
    # The AuthorizedKeysCommand runs as nobody: its CA and bind password must be readable by it.
    shutil.copy(env["KDSW_LDAP_CA"], render_dir / "ca.crt")
    (render_dir / "bind-pw").write_text(env["KDSW_LDAP_BIND_PW"])
    for name in ("ca.crt", "bind-pw"):
        (render_dir / name).chmod(0o644)
    host_keys = render_dir / "host-keys"
    host_keys.mkdir(mode=0o700)
    for key_type in ("ed25519", "rsa"):
        subprocess.run(["ssh-keygen", "-q", "-t", key_type, "-N", "", "-f", str(host_keys / f"ssh_host_{key_type}_key")], check=True)
    ssh_port = free_port()
    extra = {
        "render_dir": str(render_dir),
        "bastion_port": ssh_port, "bastion_listen_address": "127.0.0.1",
        "bastion_host_keys_dir": str(host_keys), "bastion_pid_file": str(render_dir / "sshd.pid"),
        "bastion_keys_command": str(render_dir / "kdsw-ldap-keys"),
        "bastion_ldap_uri": env["KDSW_LDAP_URI"], "bastion_ldap_ca_file": str(render_dir / "ca.crt"),
        "bastion_ldap_bind_dn": env["KDSW_LDAP_BIND_DN"], "bastion_ldap_bind_pw_file": str(render_dir / "bind-pw"),
        "bastion_ldap_people_dn": f"ou=people,{env['KDSW_LDAP_BASE_DN']}",
        "bastion_ldap_groups_dn": f"ou=groups,{env['KDSW_LDAP_BASE_DN']}",
        "bastion_per_source_penalties": False,
    }
    run = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                          "tests/functional/playbooks/render_access.yml", "-e", json.dumps(extra)],
                         cwd=REPO, capture_output=True, text=True, check=False,
                         env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), **aws_env))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return ssh_port


@pytest.fixture(scope="module")
def rendered(directory, moto_server):
    """The bastion role's sshd_config and scripts for this slapd, in a root-owned directory when run as root
    (sshd runs an AuthorizedKeysCommand only from such a path). The role keeps its host keys in SSM: moto's."""
    moto_server.reset()
    render_dir = Path(tempfile.mkdtemp(prefix="kdsw-bastion-keys-", dir="/run" if os.geteuid() == 0 else None))
    try:
        ssh_port = render(render_dir, directory["env"], moto_server.state()["env"])
        yield {"dir": render_dir, "ssh_port": ssh_port, "env": directory["env"], "server": directory["server"]}
    finally:
        shutil.rmtree(render_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def busybox_path(tmp_path_factory):
    """A PATH on which the tools the scripts use are BusyBox's applets, as in the Alpine image (ldapsearch
    is openldap-clients' there too)."""
    if not BUSYBOX:
        return None
    path = tmp_path_factory.mktemp("busybox")
    for applet in ("sh", "base64", "sed", "awk", "cat", "chmod", "mv", "printf"):
        (path / applet).symlink_to(BUSYBOX)
    (path / "ldapsearch").symlink_to(shutil.which("ldapsearch"))
    return str(path)


@pytest.fixture(params=["sh", "busybox"])
def shell(request, busybox_path):
    """How a script is run: the machine's /bin/sh and tools, or BusyBox's."""
    if request.param == "sh":
        return lambda script, *args: ["/bin/sh", str(script), *args], os.environ.get("PATH", "")
    if not busybox_path:
        pytest.skip("BusyBox is not installed (bindep.txt lists it)")
    return lambda script, *args: [f"{busybox_path}/sh", str(script), *args], busybox_path


def authorized_keys(rendered, shell, user):
    """What the AuthorizedKeysCommand prints for user, as text."""
    command, path = shell
    proc = subprocess.run(command(rendered["dir"] / "kdsw-ldap-keys", user), capture_output=True, timeout=30, check=False,
                          env={"PATH": path})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.decode("utf-8")


def test_the_directory_returns_a_non_ascii_key_base64_encoded(rendered):
    """Why the script must decode: LDIF gives a value that is not ASCII as `attribute:: base64`."""
    env = rendered["env"]
    proc = subprocess.run(["ldapsearch", "-x", "-ZZ", "-LLL", "-o", "ldif-wrap=no", "-H", env["KDSW_LDAP_URI"],
                           "-D", env["KDSW_LDAP_BIND_DN"], "-w", env["KDSW_LDAP_BIND_PW"],
                           "-b", f"ou=people,{env['KDSW_LDAP_BASE_DN']}", "(uid=zoe)", "sshPublicKey"],
                          capture_output=True, text=True, check=True, env=dict(os.environ, LDAPTLS_CACERT=env["KDSW_LDAP_CA"]))
    assert "sshPublicKey:: " in proc.stdout and "sshPublicKey: ssh-ed25519 " in proc.stdout, proc.stdout


def test_every_key_is_printed_on_its_own_line_whatever_its_comment(rendered, keys, shell):
    lines = authorized_keys(rendered, shell, "zoe").splitlines()
    assert sorted(lines) == sorted([public(keys["laptop"]), public(keys["desktop"])])
    assert authorized_keys(rendered, shell, "bob").splitlines() == [public(keys["bob"])]
    # Each line is one key OpenSSH reads (ssh-keygen parses authorized_keys lines as sshd does).
    for line in lines:
        listed = subprocess.run(["ssh-keygen", "-l", "-f", "/dev/stdin"], input=line + "\n", capture_output=True, text=True, check=False)
        assert listed.returncode == 0 and listed.stdout.count("\n") == 1, (line, listed.stderr)
    assert NON_ASCII_COMMENT in "\n".join(lines)


def test_nobody_else_gets_keys(rendered, shell):
    assert authorized_keys(rendered, shell, "nosuchuser") == ""
    assert authorized_keys(rendered, shell, "*") == ""


def test_the_accounts_script_lists_a_user_whose_name_is_not_ascii(rendered, shell, tmp_path):
    """The accounts script reads uid, uidNumber and gidNumber only, never cn: a non-ASCII name cannot hide an account."""
    command, path = shell
    (tmp_path / "passwd.base").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (tmp_path / "group.base").write_text("root:x:0:\n")
    files = [str(tmp_path / name) for name in ("passwd.base", "group.base", "passwd", "group")]
    proc = subprocess.run(command(rendered["dir"] / "kdsw-ldap-accounts", *files), capture_output=True, text=True, timeout=30, check=False,
                          env={"PATH": path})
    assert proc.returncode == 0, proc.stderr
    names = [line.split(":")[0] for line in (tmp_path / "passwd").read_text().splitlines()]
    assert names[0] == "root" and sorted(names[1:]) == ["bob", "zoe"], names
    assert any(line.startswith("users:x:") and set(line.split(":")[3].split(",")) == {"zoe", "bob"}
               for line in (tmp_path / "group").read_text().splitlines())


def test_stored_values_that_are_not_one_key_line_are_not_printed(rendered, keys, shell):
    """Values written past ldap_user_sync's checks (by hand or a directory UI) never become authorized_keys
    lines with options, or several lines."""
    env = rendered["env"]
    key = public(keys["bob"])
    conn = admin(env)
    dn = f"uid=bob,ou=people,{env['KDSW_LDAP_BASE_DN']}"
    smuggled = [f'command="/bin/sh" {public(keys["desktop"])}', f"{public(keys['desktop'])}\n{public(keys['laptop'])}",
                f"restrict {public(keys['laptop'])}", "ssh-ed25519"]
    conn.modify_s(dn, [(pyldap.MOD_ADD, "sshPublicKey", [value.encode("utf-8") for value in smuggled])])
    try:
        assert authorized_keys(rendered, shell, "bob").splitlines() == [key]
    finally:
        conn.modify_s(dn, [(pyldap.MOD_DELETE, "sshPublicKey", [value.encode("utf-8") for value in smuggled])])
        conn.unbind_s()


def test_a_non_ascii_comment_is_stored_as_given_and_synced_once(rendered, keys):
    env = rendered["env"]
    conn = admin(env)
    ((_dn, attrs),) = conn.search_s(f"ou=people,{env['KDSW_LDAP_BASE_DN']}", pyldap.SCOPE_ONELEVEL, "(uid=zoe)", ["sshPublicKey", "cn"])
    conn.unbind_s()
    assert public(keys["laptop"]).encode("utf-8") in attrs["sshPublicKey"]
    assert attrs["cn"] == ["Zoë Ångström".encode("utf-8")]
    again = sync(env, zoe_and_bob(keys))
    assert not again.get("failed") and not again["changed"], again


def test_two_keys_in_one_string_are_refused_before_anything_is_written(rendered, keys):
    pasted = f"{public(keys['laptop'])} {public(keys['desktop'])}"
    mark = rendered["server"].log_offset()
    result = sync(rendered["env"], [{"name": "yann", "groups": ["users"], "ssh_keys": [public(keys["bob"]), pasted]}])
    assert result.get("failed"), result
    assert "yann" in result["msg"] and "ssh_keys[1]" in result["msg"], result["msg"]
    assert "holds 2 keys" in result["msg"] and "own item of ssh_keys" in result["msg"], result["msg"]
    assert rendered["server"].writes(mark) == []


@pytest.fixture(scope="module")
def sshd(rendered):
    """The role's sshd, with passwd and group written by the role's accounts script, in its own mount namespace."""
    if os.geteuid() != 0 or not SSHD:
        pytest.skip("needs root (an sshd with its own passwd in a mount namespace) and OpenSSH's sshd")
    render_dir = rendered["dir"]
    Path("/run/sshd").mkdir(exist_ok=True)
    script = (f"{render_dir}/kdsw-ldap-accounts /etc/passwd /etc/group {render_dir}/passwd {render_dir}/group"
              f" && mount --bind {render_dir}/passwd /etc/passwd && mount --bind {render_dir}/group /etc/group"
              f" && exec {SSHD} -D -e -f {render_dir}/sshd_config")
    with open(render_dir / "sshd.log", "wb") as log:
        proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],  # pylint: disable=consider-using-with
                                stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while socket.socket().connect_ex(("127.0.0.1", rendered["ssh_port"])) != 0:
        assert proc.poll() is None and time.monotonic() < deadline, (render_dir / "sshd.log").read_text()
        time.sleep(0.1)
    yield {**rendered, "log": render_dir / "sshd.log"}
    proc.terminate()
    proc.wait(10)


def login(sshd, key, user):
    return subprocess.run(["ssh", "-i", str(key), "-p", str(sshd["ssh_port"]), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10",
                           f"{user}@127.0.0.1"], capture_output=True, text=True, timeout=30, check=False, stdin=subprocess.DEVNULL)


def fingerprint(key):
    return subprocess.run(["ssh-keygen", "-l", "-f", str(key.with_suffix(".pub"))], capture_output=True, text=True, check=True).stdout.split()[1]


def test_sshd_takes_the_key_with_the_non_ascii_comment(sshd, keys):
    # zoe's account exists although her name is not ASCII (the accounts script reads uid and numbers only).
    assert any(line.startswith("zoe:*:") for line in (sshd["dir"] / "passwd").read_text().splitlines())
    for key in ("laptop", "desktop"):
        session = login(sshd, keys[key], "zoe")
        # Authenticated; what runs then is the ForceCommand under the shell nologin, which exits 1.
        assert session.returncode != 255 and "Permission denied" not in session.stderr, (key, session.stderr)
        accepted = [line for line in sshd["log"].read_text().splitlines() if "Accepted publickey for zoe from 127.0.0.1" in line]
        assert any(fingerprint(keys[key]) in line for line in accepted), sshd["log"].read_text()[-2000:]
    refused = login(sshd, keys["bob"], "zoe")
    assert refused.returncode == 255 and "Permission denied" in refused.stderr, refused.stderr
