#!/usr/bin/env python3
"""Wall time of the rehearsal: first converge, no-op re-run, and a single `--tags aws_network` run.

Starts its own moto endpoint in a temporary state directory, so it never touches a running
rehearsal; prints each figure, its AWS request count and its ratio to the first converge.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "harness"))

from endpoints import Harness  # noqa: E402  pylint: disable=wrong-import-position

PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


def run(env, *args):
    started = time.monotonic()
    proc = subprocess.run([PLAYBOOK, "-i", "inventories/local", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"ansible-playbook {' '.join(args)} failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    return elapsed


def main():
    with tempfile.TemporaryDirectory() as state_dir:
        harness = Harness(state_dir)
        try:
            env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), **harness.start(["moto"]))
            moto = harness.endpoint("moto")
            rows = []
            for label, args in (("first converge", ["site.yml"]),
                                ("no-op re-run", ["site.yml"]),
                                ("--tags aws_network", ["site.yml", "--tags", "aws_network"]),
                                ("teardown", ["teardown.yml", "-e", "confirm=yes", "-e", "delete_data=yes"])):
                mark = moto.log_offset()
                seconds = run(env, *args)
                rows.append((label, seconds, moto.request_count(since=mark)))
        finally:
            harness.stop()
    first = rows[0][1]
    print(f"{'run':<22}{'seconds':>10}{'AWS requests':>15}{'vs first converge':>20}")
    for label, seconds, requests in rows:
        print(f"{label:<22}{seconds:>10.1f}{requests:>15}{seconds / first:>19.2f}x")


if __name__ == "__main__":
    main()
