#!/usr/bin/env python3
"""Requests and wall time of one kdsw.workbench.spot_fleet reconcile, for pools of 1, 10 and 50 instances.

Starts its own moto endpoint in a temporary state directory (never touching a running rehearsal),
grows a pool to each size, then times two reconciles as Ansible runs them (a module process):
a no-op (the pool is at its target), a scale-up by one instance and the scale-down back by one. The AWS operations of each run
are recorded by wrapping botocore's BaseClient._make_api_call in the module process, and checked
against moto's access log. The request count must not grow with the pool: DescribeInstances reads
up to 1000 reservations per page, so a pool needs a second page only past 1000 instances. (A
scale-down also reads DescribeFleets, whose pages grow with the region's fleets, not the pool's size.)
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "harness"))

from endpoints import Harness  # noqa: E402  pylint: disable=wrong-import-position

SIZES = (1, 10, 50)
MODULE = "ansible_collections.kdsw.workbench.plugins.modules.spot_fleet"
RUNNER = r'''
import runpy
import sys

import botocore.client

LOG = sys.argv.pop(1)
MODULE = sys.argv.pop(1)
_call = botocore.client.BaseClient._make_api_call


def _recorded(self, operation_name, api_params):
    with open(LOG, "a", encoding="utf-8") as log:
        log.write(operation_name + "\n")
    return _call(self, operation_name, api_params)


botocore.client.BaseClient._make_api_call = _recorded
runpy.run_module(MODULE, run_name="__main__", alter_sys=True)
'''


class Bench:
    def __init__(self, workdir, moto, env):
        self.workdir, self.moto, self.env = Path(workdir), moto, env
        self.runner = self.workdir / "runner.py"
        self.runner.write_text(RUNNER)

    def run(self, args):
        """(seconds, operations, requests moto saw, result) of one module process."""
        args_file = self.workdir / "args.json"
        args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        log = self.workdir / "operations.log"
        log.write_text("")
        mark = self.moto.log_offset()
        started = time.monotonic()
        proc = subprocess.run([sys.executable, str(self.runner), str(log), MODULE, str(args_file)],
                              capture_output=True, text=True, env=self.env, check=False)
        seconds = time.monotonic() - started
        result = json.loads(proc.stdout)
        if result.get("failed"):
            sys.exit(f"spot_fleet failed: {result.get('msg')}")
        operations = log.read_text().split()
        requests = self.moto.request_count(since=mark)
        if requests != len(operations):
            sys.exit(f"moto saw {requests} requests but the module made {operations}")
        return seconds, operations, result


def setup(env):
    import boto3

    session = boto3.session.Session(region_name="us-east-1", aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                    aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    ec2 = session.client("ec2", endpoint_url=env["AWS_ENDPOINT_URL"])
    ssm = session.client("ssm", endpoint_url=env["AWS_ENDPOINT_URL"])
    subnets = {s["AvailabilityZone"]: s["SubnetId"]
               for s in ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]}
    image = ssm.get_parameter(Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")["Parameter"]["Value"]
    ec2.create_launch_template(LaunchTemplateName="bench-pool", LaunchTemplateData={"ImageId": image})
    return [subnets["us-east-1a"], subnets["us-east-1b"], subnets["us-east-1c"]]


def describe(operations):
    counts = {}
    for name in operations:
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{count} {name}" for name, count in counts.items())


def main():
    with tempfile.TemporaryDirectory() as state_dir:
        harness = Harness(Path(state_dir) / "endpoints")
        try:
            env = dict(os.environ, PYTHONPATH=str(REPO / ".collections"), **harness.start(["moto"]))
            bench = Bench(state_dir, harness.endpoint("moto"), env)
            subnets = setup(env)
            rows = []
            for size in SIZES:
                args = {"name": "bench", "target_capacity": size, "instance_types": ["m7i.2xlarge", "m6i.2xlarge", "m6a.2xlarge"],
                        "subnet_ids": subnets, "launch_template_name": "bench-pool", "tags": {"kdsw:cluster": f"bench-{size}"}}
                bench.run(args)  # grow the pool to its size
                noop = bench.run(args)
                assert noop[2]["changed"] is False
                up = bench.run(dict(args, target_capacity=size + 1))
                assert up[2]["changed"] is True and len(up[2]["instances"]) == size + 1
                down = bench.run(args)
                assert down[2]["changed"] is True and len(down[2]["instances"]) == size
                rows.append((size, noop, up, down))
        finally:
            harness.stop()
    columns = ("no-op reconcile", "scale up by one", "scale down by one")
    print(f"{'pool':>5}" + "".join(f" | {title:<31}" for title in columns))
    print(f"{'':>5}" + " | requests  ratio  seconds  ratio " * len(columns))
    for size, *runs in rows:
        cells = []
        for index, (seconds, operations, _result) in enumerate(runs):
            base_seconds, base_operations, _base = rows[0][1 + index]
            cells.append(f" | {len(operations):>8} {len(operations) / len(base_operations):>6.2f} {seconds:>8.2f} {seconds / base_seconds:>6.2f} ")
        print(f"{size:>5}" + "".join(cells))
    print()
    for title, (_seconds, operations, _result) in zip(columns, rows[-1][1:]):
        print(f"{title}: {describe(operations)}")
    print("Ratios are to the pool of 1. Seconds are whole module processes (Python start and imports included, about 0.4 s),")
    print("against moto on 127.0.0.1.")
    if any(len(run[1]) != len(rows[0][1 + index][1]) for _size, *runs in rows for index, run in enumerate(runs)):
        sys.exit("the request count grew with the pool size")


if __name__ == "__main__":
    main()
