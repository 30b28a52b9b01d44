"""Every command README.md shows is run by a test, and every command this list claims is run is still shown.

The README's commands are every line of its ```sh blocks and every inline `ansible-playbook ...`,
`make ...`, `.venv/bin/...` or `ldappasswd ...` span. They are compared normalised: `.venv/bin/` dropped, comments
dropped, `-i inventories/personal` and `-i inventories/local` alike (the tests run the rehearsal's
inventory), quotes around an extra var's value dropped.
"""

import re
import shlex

from conftest import REPO

README = REPO / "README.md"

# The README's commands, as it shows them, and the tests (or Makefile targets) that run them.
RUN_BY = {
    "make rehearsal": ["tests/functional/test_journey.py"],
    "make test": [".ci/run"],
    'eval "$(.venv/bin/python harness/endpoints.py start)"': ["tests/functional/test_journey.py"],
    ".venv/bin/ansible-playbook site.yml -i inventories/local": [
        "tests/functional/test_journey.py", "tests/functional/test_rehearsal.py", "molecule/rehearsal/converge.yml"],
    ".venv/bin/ansible-playbook site.yml -i inventories/local --check --diff": ["tests/functional/test_rehearsal.py"],
    ".venv/bin/ansible-playbook teardown.yml -i inventories/local -e confirm=yes": ["tests/functional/test_rehearsal.py"],
    ".venv/bin/python harness/endpoints.py stop": ["tests/functional/test_journey.py", "molecule/rehearsal/destroy.yml"],
    "make rehearsal-teardown": ["tests/functional/test_journey.py"],
    "ansible-playbook cost.yml -i inventories/personal": [
        "tests/functional/test_journey.py", "tests/functional/test_cost_playbooks.py"],
    "ansible-playbook site.yml -i inventories/personal --tags efs_homes": ["tests/functional/test_rehearsal.py"],
    "ansible-playbook scale.yml -i inventories/personal -e pool=spark -e capacity=4": ["tests/functional/test_journey.py"],
    "ansible-playbook teardown.yml -i inventories/personal": ["tests/functional/test_journey.py"],
    "ansible-playbook add_user.yml -i inventories/personal -e user=bob -e \"ssh_key='ssh-ed25519 AAAA... bob@laptop'\"": [
        "tests/functional/test_journey.py"],
    ("ansible-playbook add_user.yml -i inventories/personal -e user=carol -e user_groups=users,admins -e \"full_name='Carol C'\""
     " -e \"ssh_key='ssh-ed25519 AAAA... carol@laptop'\""): ["tests/functional/test_journey.py"],
    "ansible-playbook remove_user.yml -i inventories/personal -e user=bob": ["tests/functional/test_journey.py",
                                                                             "tests/functional/test_identity_e2e.py"],
    "ansible-playbook remove_user.yml -i inventories/personal -e user=bob -e purge=yes": ["tests/functional/test_identity_e2e.py"],
    ("LDAPTLS_CACERT=~/.ssh/kdsw/<workbench>.ldap-ca.crt ldappasswd -H ldap://127.0.0.1:1389 -ZZ -x -W -S"
     " -D uid=<user>,ou=people,dc=<workbench>,dc=kdsw"): ["tests/functional/test_journey.py"],
}

# Shown by the README, run by hand, never by the tests: measurements that take minutes and assert nothing.
BY_HAND = {
    "make benchmark": "a full converge, a no-op re-run, a tagged run and teardown of the rehearsal, timed",
    "make benchmark-ldap": "1000 users through ldap_user_sync and through community.general's modules, about 20 minutes",
}

# An inline span is a command when its program (after any VAR=value) is one of these.
COMMAND = re.compile(r"^([A-Z_]+=\S+\s+)*(ansible-playbook|make|ldappasswd|\.venv/bin/)\s?\S")


def normalised(command):
    words = shlex.split(command.replace(".venv/bin/", ""), comments=True)
    for index, word in enumerate(words):
        if index and words[index - 1] == "-i" and word in ("inventories/personal", "inventories/local"):
            words[index] = "<inventory>"
        key, equals, value = word.partition("=")
        if equals and len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
            words[index] = f"{key}={value[1:-1]}"
    return " ".join(words)


def readme_commands(text=None):
    """{normalised command: [line numbers]} of every command README.md (or the Markdown `text`) shows."""
    commands, fence, pending = {}, None, None  # pending: (first line, text so far) of a line continued with \\
    for number, line in enumerate((README.read_text() if text is None else text).splitlines(), 1):
        if line.startswith("```"):
            fence = None if fence is not None else line[3:].strip()
            continue
        if fence == "sh":
            first, joined = pending or (number, "")
            if line.endswith("\\"):
                pending = (first, joined + line[:-1])
                continue
            pending, number, line = None, first, joined + line
            shown = [line] if shlex.split(line, comments=True) else []
        elif fence is None:
            shown = [span for span in re.findall(r"`([^`\n]+)`", line) if COMMAND.match(span)]
        else:
            shown = []
        for command in shown:
            commands.setdefault(normalised(command), []).append(number)
    return commands


def test_the_commands_of_a_readme_are_found_and_normalised():
    text = """Run `.venv/bin/ansible-playbook cost.yml -i inventories/local -e "cost_report='a b.json'"`, not `cost.yml`.

```sh
make rehearsal   # a comment
ansible-playbook add_user.yml -i inventories/personal \\
  -e user=bob

```

```yaml
make: not a command
```
"""
    assert readme_commands(text) == {"ansible-playbook cost.yml -i <inventory> -e cost_report=a b.json": [1], "make rehearsal": [4],
                                     "ansible-playbook add_user.yml -i <inventory> -e user=bob": [5]}


def test_every_readme_command_is_run_by_a_test():
    known = {normalised(command) for command in [*RUN_BY, *BY_HAND]}
    missing = {command: lines for command, lines in readme_commands().items() if command not in known}
    assert not missing, ("README.md shows commands no test runs; run each in a test and add it to RUN_BY:\n"
                         + "\n".join(f"  line {', '.join(map(str, lines))}: {command}" for command, lines in missing.items()))


def test_every_listed_command_is_in_the_readme():
    shown = readme_commands()
    gone = [command for command in [*RUN_BY, *BY_HAND] if normalised(command) not in shown]
    assert not gone, "commands listed here that README.md no longer shows (remove them from the list):\n  " + "\n  ".join(gone)


def test_each_listed_runner_holds_its_command():
    """Each file named as running a command has its parts: the playbook or target and every option with its value."""
    def plain(text):
        return text.replace(".venv/bin/", "").replace("'", "").replace('"', "")

    for command, runners in RUN_BY.items():
        parts = [plain(part) for part in shlex.split(command.replace(".venv/bin/", ""))
                 if part not in ("ansible-playbook", "-i", "inventories/personal", "inventories/local", "-e", "python")]
        for runner in runners:
            text = plain((REPO / runner).read_text())
            absent = [part for part in parts if part not in text]
            assert not absent, f"{runner} is listed as running `{command}` but has no {absent}"
