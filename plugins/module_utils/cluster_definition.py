# -*- coding: utf-8 -*-
# Copyright: kdsw.workbench maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Merge, validation and normalization of the workbench cluster definition (the `workbench` variable).

Pure Python, no Ansible import, no network call:

* merge(defaults, definition)   the user's definition over the shared defaults (lists replace lists)
* validate(cluster, env, ...)   every problem at once, each "<dotted key>: <problem>; <fix>"
* normalize(cluster, ...)       a copy with the derived values the roles need (only for a valid cluster)

Users come from two lists: the definition's own (workbench.users) and the users that add_user.yml recorded in the
inventory's group_vars/all/users.yml (workbench_users). Problems of the user named on the command line of add_user.yml
or remove_user.yml are reported under the option that was typed (-e user=root), not an index of a list.

The comments of inventories/personal/group_vars/all/workbench.yml are the specification of every key.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import difflib
import ipaddress
import itertools
import math
import re
from urllib.parse import urlsplit

from ansible_collections.kdsw.workbench.plugins.module_utils.instance_types import CATALOG, lookup
from ansible_collections.kdsw.workbench.plugins.module_utils import cost, prices
from ansible_collections.kdsw.workbench.plugins.module_utils.reserved_names import reserved_reason
from ansible_collections.kdsw.workbench.plugins.module_utils.ssh_keys import ssh_key_problem

ROOT = "workbench"
# The variable of the inventory's group_vars/all/users.yml, where add_user.yml records the users it adds.
RECORDED = "workbench_users"
SPEC_FILE = "inventories/personal/group_vars/all/workbench.yml"

# Known keys of every mapping of the definition, in the order of the specification.
TOP_KEYS = (
    "name", "region", "zones", "admin_cidrs", "ssh_public_key", "rehearsal", "network", "control_plane", "admin_nodes",
    "node_pools", "storage", "versions", "image_ssm_parameter", "gpu_image_ssm_parameter", "groups", "users", "budget", "scenarios", "prices",
)
NETWORK_KEYS = ("vpc_cidr", "subnet_prefix", "bastion_port", "kubernetes_api_access", "pod_cidr", "service_cidr")
CONTROL_PLANE_KEYS = ("instance_type", "root_volume_gb")
ADMIN_NODES_KEYS = ("count", "instance_type", "root_volume_gb")
POOL_KEYS = ("name", "instance_types", "lifecycle", "min", "max", "desired", "root_volume_gb", "gpu")
STORAGE_KEYS = (
    "efs_transition_to_ia", "efs_expected_gb", "data_bucket", "data_expected_gb", "data_transition_ia_days",
    "data_transition_glacier_ir_days", "data_noncurrent_version_days",
)
VERSIONS_KEYS = ("k3s", "k3s_sha256", "jupyterhub_chart", "efs_csi_driver_chart", "spark")
# Pinned releases of the cluster services: the Helm charts that k3s installs, and Spark.
SERVICE_VERSIONS = {
    "jupyterhub_chart": "Zero to JupyterHub chart release such as 4.4.0 (https://hub.jupyter.org/helm-chart/)",
    "efs_csi_driver_chart": "aws-efs-csi-driver chart release such as 3.2.1",
    "spark": "Apache Spark release such as 3.5.3",
}
ARCH_KEYS = ("amd64", "arm64")
GROUP_KEYS = ("name", "description")
USER_KEYS = ("name", "full_name", "email", "groups", "ssh_keys", "uid", "state")
USER_STATES = ("present", "disabled")
# The options of add_user.yml that set a field of the user: field -> option (-e <option>=...).
COMMAND_LINE_OPTIONS = {"groups": "user_groups", "ssh_keys": "ssh_key", "full_name": "full_name", "email": "email"}
# Members of this group are the workbench's administrators: the bastion lets them forward anywhere (ProxyJump to the
# nodes); it is the bastion role's bastion_admin_group.
ADMIN_GROUP = "admins"
BUDGET_KEYS = ("monthly_usd",)
# The default image of GPU pools: the AWS Deep Learning Base GPU AMI (Amazon Linux 2023, NVIDIA driver and container toolkit).
GPU_IMAGE_EXAMPLE = "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id"
SCENARIO_KEYS = ("name", "period", "pools", "data_gb")
SCENARIO_POOL_KEYS = ("pool", "hours", "nodes", "lifecycle", "instance_type")

AWS_REGIONS = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "ca-west-1", "mx-central-1", "sa-east-1",
    "eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-south-1", "eu-south-2", "eu-north-1",
    "il-central-1", "me-south-1", "me-central-1", "af-south-1",
    "ap-east-1", "ap-east-2", "ap-south-1", "ap-south-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6",
    "ap-southeast-7", "cn-north-1", "cn-northwest-1", "us-gov-east-1", "us-gov-west-1",
)

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{2,19}$")
POOL_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,30}$")
POSIX_NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
K3S_VERSION_RE = re.compile(r"^v\d+\.\d+\.\d+\+k3s\d+$")
SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")
# Cores of one Spark executor: a node of the Spark pool runs vCPUs // this many executors.
SPARK_EXECUTOR_CORES = 4
# The cluster DNS service takes the tenth address of the service range, as k3s does by default.
CLUSTER_DNS_HOST_INDEX = 10
RELEASE_RE = re.compile(r"^\d+\.\d+\.\d+$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
IPV4_FORM_RE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")

PRIVATE_RANGES = tuple(ipaddress.ip_network(block) for block in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
# Special-purpose ranges (RFC 6890) that no administrator connects from: admin_cidrs may not touch them.
SPECIAL_RANGES = tuple((ipaddress.ip_network(block), name) for block, name in (
    ("0.0.0.0/8", '"this network"'), ("127.0.0.0/8", "loopback"), ("169.254.0.0/16", "link-local"), ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved, with the broadcast address"), ("::/128", "the unspecified address"), ("::1/128", "loopback"),
    ("fe80::/10", "link-local"), ("ff00::/8", "multicast"),
))
# The most addresses admin_cidrs may open to, in all (overlaps counted once), per IP version: a /8 of IPv4 and a /32 of
# IPv6 (what a large provider holds). More is not a list of administrators' networks but a large part of the internet.
ADMIN_CIDRS_MAX_PREFIX = {4: 8, 6: 32}
RESERVED_PORTS = {22: "the nodes' own sshd", 6443: "the Kubernetes API", 10250: "the kubelet"}
API_ACCESS = ("bastion", "admin_cidrs")
LIFECYCLES = ("spot", "on-demand")
EFS_TRANSITIONS = (
    "AFTER_1_DAY", "AFTER_7_DAYS", "AFTER_14_DAYS", "AFTER_30_DAYS", "AFTER_60_DAYS", "AFTER_90_DAYS",
    "AFTER_180_DAYS", "AFTER_270_DAYS", "AFTER_365_DAYS",
)
S3_IA_MINIMUM_DAYS = 30
CONTROL_PLANE_MIN_MEMORY_GIB = 2
MIN_ROOT_VOLUME_GB = 8
# The largest max of a node pool: the workbench's single small k3s server and a personal budget are not made for more,
# so a larger number is taken for a typo.
MAX_POOL_NODES = 100
MAX_ROOT_VOLUME_GB = 16384
MIN_UID = 10000
MAX_UID = 4294967294
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
REHEARSAL_ENV = ("AWS_URL", "AWS_ENDPOINT_URL")
START_ENDPOINTS = 'start the local endpoints with `harness/endpoints.py start` and `eval "$(harness/endpoints.py env)"`'
CONTROL_PLANE_HOST_INDEX = 10

MISSING = object()


# --- merge ---------------------------------------------------------------------------------------

def merge(defaults, definition):
    """Merge definition over defaults, recursively: the definition wins, lists replace lists whole.

    Neither argument is modified. When either side is not a mapping, the definition is taken as is.
    """
    if not (isinstance(defaults, dict) and isinstance(definition, dict)):
        return copy.deepcopy(definition)
    merged = copy.deepcopy(defaults)
    for key, value in definition.items():
        merged[key] = merge(defaults[key], value) if key in defaults else copy.deepcopy(value)
    return merged


# --- helpers of the messages ---------------------------------------------------------------------

def _kind(value):
    """How a YAML author would call the type of value."""
    if value is None:
        return "empty"
    for python_type, name in ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"),
                              ((list, tuple), "a list"), (dict, "a mapping")):
        if isinstance(value, python_type):
            return name
    return "a " + type(value).__name__


def _show(value):
    """value as a message shows it: repr, but YAML's spelling of booleans and null, and shortened."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = "null" if value is None else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _quoted_scalar(value, expected):
    """True when value is a string spelling a scalar of the expected kind, e.g. '50' for a number."""
    if not isinstance(value, str):
        return False
    if expected == "a boolean":
        return value.lower() in ("true", "false", "yes", "no")
    try:
        float(value)
    except ValueError:
        return False
    return expected in ("an integer", "a number")


def _did_you_mean(value, choices, otherwise):
    close = difflib.get_close_matches(str(value), list(choices), n=3)
    return f"did you mean {' or '.join(close)}?" if close else otherwise


def _have(names):
    """'a has' or 'a, b have'."""
    return f"{', '.join(names)} {'has' if len(names) == 1 else 'have'}"


def _range_text(low, high):
    return f"an integer from {low} to {high}" if high is not None else f"an integer of at least {low}"


# --- stand-alone checks, reusable by other plugins -----------------------------------------------

def bucket_name_problem(name):
    """Why name is not a valid S3 bucket name, or None when it is."""
    rules = (
        (not 3 <= len(name) <= 63, f"is {len(name)} characters long; S3 bucket names have 3 to 63 characters"),
        (not BUCKET_RE.fullmatch(name), "may only contain lowercase letters, digits, dots and dashes, and must start and end with a letter or digit"),
        (".." in name, "contains '..'; S3 bucket names cannot have two adjacent dots"),
        (IPV4_FORM_RE.fullmatch(name), "is formatted as an IP address, which S3 refuses"),
        (name.startswith(BUCKET_RESERVED_PREFIXES), f"starts with a prefix S3 reserves ({', '.join(BUCKET_RESERVED_PREFIXES)})"),
        (name.endswith(BUCKET_RESERVED_SUFFIXES), f"ends with a suffix S3 reserves ({', '.join(BUCKET_RESERVED_SUFFIXES)})"),
    )
    for failed, reason in rules:
        if failed:
            return f"{_show(name)} {reason}; fix the name, or leave it empty to use kdsw-<name>-data-<account id>"
    return None


def _url_host(url):
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


# --- the checker: typed access that reports instead of raising -----------------------------------

class _Checker:
    """Reads values of the definition: each accessor reports what is wrong and returns None instead of raising."""

    def __init__(self):
        self.problems = []

    def add(self, key, message):
        self.problems.append(f"{key}: {message}")

    def _absent(self, key, value, fix):
        """Report a missing or empty value; True when it was."""
        if value is MISSING or value is None:
            self.add(key, f"is {'missing' if value is MISSING else 'empty'}; {fix}")
            return True
        return False

    def _wrong_type(self, key, value, expected, fix):
        quotes = " (remove the quotes)" if _quoted_scalar(value, expected) else ""
        self.add(key, f"{_show(value)} is {_kind(value)}, not {expected}{quotes}; {fix}")

    def mapping(self, key, value, known):
        """A dict whose unknown keys are reported, or None."""
        fix = f"write the key{'s' if len(known) > 1 else ''} {', '.join(known)} under it (see {SPEC_FILE})"
        if self._absent(key, value, fix):
            return None
        if not isinstance(value, dict):
            self._wrong_type(key, value, "a mapping", fix)
            return None
        for name in value:
            if name not in known:
                hint = _did_you_mean(name, known, "")
                self.add(f"{key}.{name}", f"unknown key; {hint + ' ' if hint else ''}known keys: {', '.join(known)}")
        return value

    def sequence(self, key, value, example):
        """A list, or None."""
        fix = f"write a list, e.g. {example}"
        if self._absent(key, value, fix):
            return None
        if not isinstance(value, (list, tuple)):
            self._wrong_type(key, value, "a list", fix)
            return None
        return value

    def mappings(self, key, value, example, known):
        """(item key, dict) of each valid item of a list of mappings; nothing when the list is invalid."""
        items = self.sequence(key, value, example) or ()
        checked = ((f"{key}[{index}]", self.mapping(f"{key}[{index}]", item, known)) for index, item in enumerate(items))
        return [(item_key, item) for item_key, item in checked if item is not None]

    def string(self, key, value, fix, allow_empty=False):
        """A str (non-empty unless allow_empty), or None. fix says what to write instead."""
        if self._absent(key, value, fix):
            return None
        if not isinstance(value, str):
            self._wrong_type(key, value, "a string", fix)
            return None
        if not value.strip() and not allow_empty:
            self.add(key, f"is empty; {fix}")
            return None
        return value

    def matches(self, key, value, pattern, what, rule):
        text = self.string(key, value, rule)
        if text is not None and not pattern.fullmatch(text):
            self.add(key, f"{_show(text)} is not a valid {what}; {rule}")
            return None
        return text

    def choice(self, key, value, choices):
        fix = f"write one of {', '.join(choices)}"
        text = self.string(key, value, fix)
        if text is not None and text not in choices:
            self.add(key, f"{_show(text)} is not one of {', '.join(choices)}; {_did_you_mean(text, choices, 'write one of them')}")
            return None
        return text

    def boolean(self, key, value):
        fix = "write true or false"
        if self._absent(key, value, fix):
            return None
        if not isinstance(value, bool):
            self._wrong_type(key, value, "a boolean", fix)
            return None
        return value

    def integer(self, key, value, low, high=None, why=""):
        """An int (never a bool) within [low, high], or None."""
        fix = f"write {_range_text(low, high)}{why}"
        if self._absent(key, value, fix):
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self._wrong_type(key, value, "an integer", fix)
            return None
        if value < low or (high is not None and value > high):
            self.add(key, f"{value} is out of range; {fix}")
            return None
        return value

    def number(self, key, value, low, inclusive, example):
        """An int or float (never a bool) above low (or equal, when inclusive), or None."""
        bound = f"{'of at least' if inclusive else 'greater than'} {low}"
        fix = f"write a number {bound}, e.g. {example}"
        if self._absent(key, value, fix):
            return None
        if not _is_number(value):
            self._wrong_type(key, value, "a number", fix)
            return None
        if not math.isfinite(value):
            self.add(key, f"{value} is not a finite number; {fix}")
            return None
        if value < low or (value == low and not inclusive):
            self.add(key, f"{value} is too small; {fix}")
            return None
        return value

    def network(self, key, value, example):
        """An ipaddress network written as a CIDR, or None."""
        text = self.string(key, value, f"write {example}")
        if text is None:
            return None
        try:
            return ipaddress.ip_network(text, strict=True)
        except ValueError as error:
            if "host bits set" in str(error):
                self.add(key, f"{_show(text)} has host bits set; write the network address {ipaddress.ip_network(text, strict=False)}")
            else:
                self.add(key, f"{_show(text)} is not a CIDR; write {example}")
        return None

    def unique(self, key, value, seen, what, fix):
        """Report value when seen (a dict value -> first key) holds it already; remember it otherwise."""
        if value in seen:
            self.add(key, f"duplicate {what} {_show(value)} (also at {seen[value]}); {fix}")
            return False
        seen[value] = key
        return True

    def instance_type(self, key, value):
        """The catalog entry of an instance type, or None."""
        name = self.string(key, value, "write an EC2 instance type such as t4g.small")
        if name is None:
            return None
        entry = lookup(name)
        if entry is None:
            hint = _did_you_mean(name, CATALOG, "use a type of the catalog in plugins/module_utils/instance_types.py, e.g. t4g.small or m7i.large")
            self.add(key, f"{_show(name)} is not a known instance type; {hint}")
        return entry

    def root_volume(self, key, value):
        return self.integer(key, value, MIN_ROOT_VOLUME_GB, MAX_ROOT_VOLUME_GB, " (GiB of the gp3 root volume)")

    def ssh_key(self, key, value):
        text = self.string(key, value, "paste the contents of ~/.ssh/id_ed25519.pub")
        problem = ssh_key_problem(text) if text is not None else None
        if problem:
            self.add(key, problem)


# --- where a problem of a user is reported -------------------------------------------------------

class _UserKeys:
    """The key of each field of one user: its place in its list (workbench.users[0].name), or, for the user named on the
    command line of add_user.yml or remove_user.yml, the option that was typed (-e user=root)."""

    def __init__(self, key, typed=None, recorded=False):
        self.key = key
        self.typed = typed
        self.recorded = recorded

    def __call__(self, field, index=None, value=None):
        if self.typed is not None:
            if field == "name":
                return f"-e user={self.typed['user']}"
            option = COMMAND_LINE_OPTIONS.get(field)
            if option in self.typed:
                if field == "groups":
                    return f"-e {option}={self.typed[option]}"
                # ssh_keys holds the keys recorded before too: only the one typed is named by the option.
                if index is None or value == self.typed[option]:
                    return f"-e {option}"
        return f"{self.key}.{field}" + ("" if index is None else f"[{index}]")

    def new_input(self, command_line):
        """Whether this user is input of this run, whose name must not be reserved: users recorded before it are not, while
        add_user.yml or remove_user.yml works on another user (so that each of them can still be disabled in turn)."""
        return not self.recorded or self.typed is not None or command_line is None

    def reserved_fix(self, name):
        if self.typed is not None:
            return "choose another name for -e user"
        if self.recorded:
            return f"disable the account with remove_user.yml -e user={name} and add the person again under another name"
        return "choose another name"


# --- the validator: one method per section of the definition --------------------------------------

class _Validator(_Checker):
    """Checks a merged cluster definition section by section, collecting every problem."""

    def __init__(self, env, recorded_users, command_line):
        super().__init__()
        self.env = env if isinstance(env, dict) else {}
        self.recorded_users = recorded_users
        self.command_line = command_line if isinstance(command_line, dict) and command_line.get("user") else None

    def run(self, cluster):
        top = self.mapping(ROOT, cluster, TOP_KEYS)
        if top is None:
            return self.problems
        get = top.get
        self.matches(f"{ROOT}.name", get("name", MISSING), NAME_RE, "name",
                     "use 3-20 lowercase letters, digits and dashes, starting with a letter, e.g. kdsw")
        region = self._region(get("region", MISSING))
        zones = self._zones(get("zones", MISSING), region)
        self._admin_cidrs(get("admin_cidrs", MISSING), get("network"))
        self.ssh_key(f"{ROOT}.ssh_public_key", get("ssh_public_key", MISSING))
        self._network(get("network", MISSING), zones)
        self._control_plane(get("control_plane", MISSING))
        self._admin_nodes(get("admin_nodes", MISSING))
        self._node_pools(get("node_pools", MISSING))
        self._storage(get("storage", MISSING))
        self._versions(get("versions", MISSING))
        self._images(get("image_ssm_parameter", MISSING))
        self.string(f"{ROOT}.gpu_image_ssm_parameter", get("gpu_image_ssm_parameter", MISSING), "write the name of the public SSM "
                    "parameter of a GPU-ready AMI, such as " + GPU_IMAGE_EXAMPLE)
        self._users(get("users", MISSING), self._groups(get("groups", MISSING)))
        self._budget(get("budget", MISSING))
        self._scenarios(get("scenarios", []), get("node_pools"))
        self._prices(get("prices", {}), region, top)
        self._rehearsal(get("rehearsal", False))
        return self.problems

    # --- location -------------------------------------------------------------------------------
    def _region(self, value):
        key = f"{ROOT}.region"
        region = self.string(key, value, "write an AWS region such as us-east-1")
        if region is not None and region not in AWS_REGIONS:
            self.add(key, f"{_show(region)} is not an AWS region; {_did_you_mean(region, AWS_REGIONS, 'write a region such as us-east-1')}")
            return None
        return region

    def _zones(self, value, region):
        key = f"{ROOT}.zones"
        zones = self.sequence(key, value, "[us-east-1a, us-east-1b]")
        if zones is None:
            return None
        if len(zones) < 2:
            example = region or "us-east-1"
            self.add(key, f"lists {len(zones)} zone(s); list at least two availability zones of the region, e.g. [{example}a, {example}b]")
        seen = {}
        for index, item in enumerate(zones):
            zone_key = f"{key}[{index}]"
            zone = self.string(zone_key, item, f"write an availability zone such as {region or 'us-east-1'}a")
            if zone is None or not self.unique(zone_key, zone, seen, "zone", "list each zone once"):
                continue
            if region and not re.fullmatch(re.escape(region) + "[a-z]", zone):
                self.add(zone_key, f"{_show(zone)} is not a zone of {region}; write the region name followed by one letter, e.g. {region}a")
        return zones

    def _admin_cidrs(self, value, network_section):
        key = f"{ROOT}.admin_cidrs"
        cidrs = self.sequence(key, value, "[203.0.113.10/32]")
        if cidrs is None:
            return
        if not cidrs:
            self.add(key, "is empty; list the networks allowed to reach the bastion, e.g. your address as a /32 "
                          "(curl -s https://checkip.amazonaws.com)")
        seen, networks = {}, []
        for index, item in enumerate(cidrs):
            item_key = f"{key}[{index}]"
            network = self.network(item_key, item, "an IPv4 network such as 203.0.113.10/32")
            if network is None or not self.unique(item_key, str(network), seen, "network", "list each network once"):
                continue
            if network.prefixlen == 0:
                self.add(item_key, f"{_show(item)} opens the workbench to the whole internet and is refused; "
                                   "write your own address as a /32, e.g. 203.0.113.10/32")
                continue
            networks.append(network)
            special = [f"{block} ({name})" for block, name in SPECIAL_RANGES if block.version == network.version and block.overlaps(network)]
            if special:
                self.add(item_key, f"{_show(item)} is or includes the special-purpose range{'s' if len(special) > 1 else ''} "
                                   f"{', '.join(special)}, which no administrator connects from; write your own public address as a /32, "
                                   "e.g. 203.0.113.10/32")
        api = isinstance(network_section, dict) and network_section.get("kubernetes_api_access") == "admin_cidrs"
        self._admin_cidrs_size(key, networks, "the bastion port and the Kubernetes API" if api else "the bastion port")

    def _admin_cidrs_size(self, key, networks, opened):
        """Refuse admin_cidrs that together open more than ADMIN_CIDRS_MAX_PREFIX allows, overlapping networks counted once."""
        for version, prefix in ADMIN_CIDRS_MAX_PREFIX.items():
            total = sum(block.num_addresses for block in ipaddress.collapse_addresses(n for n in networks if n.version == version))
            limit = 2 ** ((32 if version == 4 else 128) - prefix)
            if total > limit:
                self.add(key, f"together they open {opened} to {total:,} IPv{version} addresses, more than a /{prefix} "
                              f"({limit:,}), and are refused: that is a large part of the internet, not the networks of the "
                              "workbench's administrators; list only those, e.g. your address as a /32 or the address of "
                              "a VPN you connect through")

    # --- network --------------------------------------------------------------------------------
    def _network(self, value, zones):
        key = f"{ROOT}.network"
        network = self.mapping(key, value, NETWORK_KEYS)
        if network is None:
            return
        vpc = self._vpc_cidr(f"{key}.vpc_cidr", network.get("vpc_cidr", MISSING))
        self._subnet_prefix(f"{key}.subnet_prefix", network.get("subnet_prefix", MISSING), vpc, zones)
        port = self.integer(f"{key}.bastion_port", network.get("bastion_port", MISSING), 1, 65535, ", e.g. 2222")
        if port in RESERVED_PORTS:
            self.add(f"{key}.bastion_port", f"port {port} is used by {RESERVED_PORTS[port]}; choose another port, e.g. 2222")
        self.choice(f"{key}.kubernetes_api_access", network.get("kubernetes_api_access", MISSING), API_ACCESS)
        self._cluster_ranges(key, network, vpc)

    def _cluster_ranges(self, key, network, vpc):
        """The pods' and services' ranges of k3s: private, and apart from the VPC and from each other (routes would clash)."""
        ranges = {"vpc_cidr": vpc}
        for name, example in (("pod_cidr", "10.244.0.0/16"), ("service_cidr", "10.96.0.0/16")):
            block = self.network(f"{key}.{name}", network.get(name, MISSING), f"a private IPv4 network such as {example}")
            if block is None:
                continue
            if block.version != 4 or not any(block.subnet_of(private) for private in PRIVATE_RANGES) or not 12 <= block.prefixlen <= 24:
                self.add(f"{key}.{name}", f"{_show(network[name])} is not a private IPv4 range from /12 to /24; write one such as {example}")
                continue
            clash = next((other for other, taken in ranges.items() if taken is not None and block.overlaps(taken)), None)
            if clash:
                self.add(f"{key}.{name}", f"{block} overlaps network.{clash} ({ranges[clash]}); choose a range apart from it, e.g. {example}")
                continue
            ranges[name] = block

    def _vpc_cidr(self, key, value):
        vpc = self.network(key, value, "a private IPv4 network such as 10.42.0.0/16")
        if vpc is None:
            return None
        if vpc.version != 4 or not any(vpc.subnet_of(block) for block in PRIVATE_RANGES):
            self.add(key, f"{_show(value)} is not a private (RFC 1918) range; "
                          "use a range inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16, e.g. 10.42.0.0/16")
            return None
        if not 16 <= vpc.prefixlen <= 24:
            self.add(key, f"{_show(value)} is a /{vpc.prefixlen}; a VPC range must be a /16 to a /24, e.g. 10.42.0.0/16")
            return None
        return vpc

    def _subnet_prefix(self, key, value, vpc, zones):
        prefix = self.integer(key, value, 17, 28, " (AWS subnets are at most /28), e.g. 20")
        if prefix is None or vpc is None:
            return
        if prefix <= vpc.prefixlen:
            self.add(key, f"/{prefix} is not smaller than the VPC range {vpc}; "
                          f"write a prefix longer than {vpc.prefixlen}, e.g. {min(vpc.prefixlen + 4, 28)}")
            return
        room = 2 ** (prefix - vpc.prefixlen)
        if zones and room < len(zones):
            needed = vpc.prefixlen + (len(zones) - 1).bit_length()
            self.add(key, f"{vpc} holds only {room} /{prefix} subnet(s) but {len(zones)} zones are listed; "
                          f"write a subnet_prefix of at least {needed} or use a larger vpc_cidr")

    # --- nodes ----------------------------------------------------------------------------------
    def _control_plane(self, value):
        key = f"{ROOT}.control_plane"
        section = self.mapping(key, value, CONTROL_PLANE_KEYS)
        if section is None:
            return
        entry = self.instance_type(f"{key}.instance_type", section.get("instance_type", MISSING))
        if entry and entry["memory_gib"] < CONTROL_PLANE_MIN_MEMORY_GIB:
            self.add(f"{key}.instance_type", f"{section['instance_type']} has {entry['memory_gib']} GiB of memory; the k3s server needs at least "
                                             f"{CONTROL_PLANE_MIN_MEMORY_GIB} GiB, e.g. t4g.small")
        self.root_volume(f"{key}.root_volume_gb", section.get("root_volume_gb", MISSING))

    def _admin_nodes(self, value):
        key = f"{ROOT}.admin_nodes"
        section = self.mapping(key, value, ADMIN_NODES_KEYS)
        if section is None:
            return
        self.integer(f"{key}.count", section.get("count", MISSING), 1, 5,
                     " (the directory, the bastion, JupyterHub and ingress need at least one admin node)")
        self.instance_type(f"{key}.instance_type", section.get("instance_type", MISSING))
        self.root_volume(f"{key}.root_volume_gb", section.get("root_volume_gb", MISSING))

    def _node_pools(self, value):
        seen = {}
        for key, pool in self.mappings(f"{ROOT}.node_pools", value, "[] or a list of pools", POOL_KEYS):
            name = self.matches(f"{key}.name", pool.get("name", MISSING), POOL_NAME_RE, "pool name",
                                "use 2-31 lowercase letters, digits and dashes, starting with a letter, e.g. spark")
            if name is not None:
                self.unique(f"{key}.name", name, seen, "pool name", "give each pool a unique name")
            entries = self._pool_types(f"{key}.instance_types", pool.get("instance_types", MISSING))
            self.choice(f"{key}.lifecycle", pool.get("lifecycle", MISSING), LIFECYCLES)
            self._pool_sizes(key, pool)
            self.root_volume(f"{key}.root_volume_gb", pool.get("root_volume_gb", MISSING))
            self._pool_gpu(key, pool.get("gpu", MISSING), entries)

    def _pool_types(self, key, value):
        """{type: catalog entry} of the pool's known types, or None when the list itself is invalid."""
        types = self.sequence(key, value, "[m7i.2xlarge, m6i.2xlarge]")
        if types is None:
            return None
        if not types:
            self.add(key, "is empty; list one or more instance types of one CPU architecture, e.g. [m7i.2xlarge, m6i.2xlarge]")
        entries, seen = {}, {}
        for index, item in enumerate(types):
            entry = self.instance_type(f"{key}[{index}]", item)
            if entry and self.unique(f"{key}[{index}]", item, seen, "instance type", "list each type once"):
                entries[item] = entry
        by_arch = {}
        for name, entry in entries.items():
            by_arch.setdefault(entry["arch"], []).append(name)
        if len(by_arch) > 1:
            detail = "; ".join(f"{arch}: {', '.join(names)}" for arch, names in sorted(by_arch.items()))
            self.add(key, f"mixes CPU architectures ({detail}); list types of one architecture per pool, or split the pool in two")
        return entries

    def _pool_sizes(self, key, pool):
        sizes = {field: self.integer(f"{key}.{field}", pool.get(field, MISSING), 0, why=", e.g. 0")
                 for field in ("min", "desired")}
        sizes["max"] = self.integer(f"{key}.max", pool.get("max", MISSING), 0, MAX_POOL_NODES,
                                    f" (nodes; a workbench's pool has at most {MAX_POOL_NODES}), e.g. 8")
        if None in sizes.values():
            return
        rule = "keep 0 <= min <= desired <= max"
        if sizes["max"] < sizes["min"]:
            self.add(f"{key}.max", f"{sizes['max']} is less than min ({sizes['min']}); {rule}")
        elif not sizes["min"] <= sizes["desired"] <= sizes["max"]:
            self.add(f"{key}.desired", f"{sizes['desired']} is not between min ({sizes['min']}) and max ({sizes['max']}); {rule}")

    def _pool_gpu(self, key, value, entries):
        gpu = None if value is MISSING else self.boolean(f"{key}.gpu", value)
        if not entries or (value is not MISSING and gpu is None):
            return
        with_gpu = [name for name, entry in entries.items() if entry["gpus"]]
        without_gpu = [name for name, entry in entries.items() if not entry["gpus"]]
        if gpu is True and without_gpu:
            self.add(f"{key}.gpu", f"is true but {_have(without_gpu)} no GPU; list only GPU types (g4dn, g5, g6, g6e, p3) in a GPU pool")
        elif gpu is False and with_gpu:
            self.add(f"{key}.gpu", f"is false but {_have(with_gpu)} GPUs; set gpu: true, or move the GPU types to a pool of their own")
        elif gpu is None and with_gpu and without_gpu:
            self.add(f"{key}.instance_types", f"mixes GPU types ({', '.join(with_gpu)}) and types without GPU ({', '.join(without_gpu)}); "
                                              "split them into two pools and set gpu: true on the GPU pool")

    # --- storage --------------------------------------------------------------------------------
    def _storage(self, value):
        key = f"{ROOT}.storage"
        storage = self.mapping(key, value, STORAGE_KEYS)
        if storage is None:
            return
        get = storage.get
        self.choice(f"{key}.efs_transition_to_ia", get("efs_transition_to_ia", MISSING), EFS_TRANSITIONS)
        for field, example in (("efs_expected_gb", 20), ("data_expected_gb", 100)):
            self.number(f"{key}.{field}", get(field, MISSING), 0, True, example)
        bucket = self.string(f"{key}.data_bucket", get("data_bucket", MISSING), "write '' or an S3 bucket name", allow_empty=True)
        problem = bucket_name_problem(bucket) if bucket else None
        if problem:
            self.add(f"{key}.data_bucket", problem)
        self._transitions(key, storage)
        self.integer(f"{key}.data_noncurrent_version_days", get("data_noncurrent_version_days", MISSING), 1, why=", e.g. 30")

    def _transitions(self, key, storage):
        ia_days = self.integer(f"{key}.data_transition_ia_days", storage.get("data_transition_ia_days", MISSING), S3_IA_MINIMUM_DAYS,
                               why=" (S3 moves objects to Standard-IA no sooner than 30 days after their creation), e.g. 30")
        glacier_key = f"{key}.data_transition_glacier_ir_days"
        glacier_days = self.integer(glacier_key, storage.get("data_transition_glacier_ir_days", MISSING), 1, why=", e.g. 90")
        if ia_days is not None and glacier_days is not None and glacier_days < ia_days + S3_IA_MINIMUM_DAYS:
            self.add(glacier_key, f"{glacier_days} is too soon after data_transition_ia_days ({ia_days}): S3 keeps objects at least "
                                  f"{S3_IA_MINIMUM_DAYS} days in Standard-IA before Glacier Instant Retrieval; write at least {ia_days + S3_IA_MINIMUM_DAYS}")

    # --- versions and images --------------------------------------------------------------------
    def _versions(self, value):
        key = f"{ROOT}.versions"
        versions = self.mapping(key, value, VERSIONS_KEYS)
        if versions is None:
            return
        self.matches(f"{key}.k3s", versions.get("k3s", MISSING), K3S_VERSION_RE, "k3s release",
                     "write a release tag such as v1.33.5+k3s1 (https://github.com/k3s-io/k3s/releases)")
        digests = self.mapping(f"{key}.k3s_sha256", versions.get("k3s_sha256", MISSING), ARCH_KEYS) or {}
        for arch in ARCH_KEYS:
            if arch in digests:
                self.matches(f"{key}.k3s_sha256.{arch}", digests[arch], SHA256_RE, "SHA-256 digest",
                             f"write the 64 hexadecimal digits of the k3s binary's sha256sum, or remove {arch} to use the published one")
        for name, example in SERVICE_VERSIONS.items():
            self.matches(f"{key}.{name}", versions.get(name, MISSING), RELEASE_RE, "release", f"write a {example}")

    def _images(self, value):
        key = f"{ROOT}.image_ssm_parameter"
        images = self.mapping(key, value, ARCH_KEYS)
        if images is None:
            return
        for arch in ARCH_KEYS:
            self.string(f"{key}.{arch}", images.get(arch, MISSING), "write the name of the public SSM parameter of an AMI, such as "
                                                                    "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64")

    # --- directory ------------------------------------------------------------------------------
    def _groups(self, value):
        """The names the groups declare (valid or not, so that users are not flagged twice), or None when the list is invalid."""
        declared, seen = set(), {}
        for key, group in self.mappings(f"{ROOT}.groups", value, "[{name: users, description: Workbench users}]", GROUP_KEYS):
            if isinstance(group.get("name"), str):
                declared.add(group["name"])
            name = self._posix_name(f"{key}.name", group.get("name", MISSING), "users")
            if name is not None:
                self.unique(f"{key}.name", name, seen, "group", "define each group once")
            if "description" in group:
                self.string(f"{key}.description", group["description"], "write a short description such as Workbench users")
        return declared if isinstance(value, (list, tuple)) else None

    def _posix_name(self, key, value, example):
        return self.matches(key, value, POSIX_NAME_RE, "POSIX name",
                            f"use up to 32 lowercase letters, digits, '_' and '-', starting with a letter or '_', e.g. {example}")

    def _users(self, value, groups):
        seen = {"name": {}, "uid": {}}
        example = "[] or [{name: alice, groups: [users]}]"
        for key, user in self.mappings(f"{ROOT}.users", value, example, USER_KEYS):
            self._user(_UserKeys(key), user, groups, seen)
        typed = self.command_line
        for key, user in self.mappings(RECORDED, self.recorded_users, example, USER_KEYS):
            from_command_line = typed is not None and user.get("name") == typed["user"]
            self._user(_UserKeys(key, typed if from_command_line else None, recorded=True), user, groups, seen)

    def _user(self, keys, user, groups, seen):
        name = self._posix_name(keys("name"), user.get("name", MISSING), "alice")
        if name is not None and self._unique_user(keys, name, seen["name"]) and user.get("state", "present") == "present":
            reason = reserved_reason(name, groups or ()) if keys.new_input(self.command_line) else None
            if reason:
                self.add(keys("name"), f"{_show(name)} is reserved: {reason}; {keys.reserved_fix(name)}")
        if "full_name" in user:
            self.string(keys("full_name"), user["full_name"], "write the user's name, such as Alice Liddell")
        email = self.string(keys("email"), user["email"], "write an address such as alice@example.org") if "email" in user else None
        if email is not None and not EMAIL_RE.fullmatch(email):
            self.add(keys("email"), f"{_show(email)} is not an e-mail address; write one such as alice@example.org")
        self._user_groups(keys, user.get("groups", []), groups)
        ssh_keys = self.sequence(keys("ssh_keys"), user.get("ssh_keys", []), "['ssh-ed25519 AAAA... alice@laptop']") or ()
        for index, ssh_key in enumerate(ssh_keys):
            self.ssh_key(keys("ssh_keys", index, ssh_key), ssh_key)
        uid = self.integer(keys("uid"), user["uid"], MIN_UID, MAX_UID, " (or remove uid to have one assigned)") if "uid" in user else None
        if uid is not None:
            self.unique(keys("uid"), uid, seen["uid"], "uid", "give each user a different uid")
        if user.get("state", "present") not in USER_STATES:
            self.add(keys("state"), f"{_show(user['state'])} is not a user state; write present or disabled")

    def _unique_user(self, keys, name, seen):
        first = seen.get(name)
        if keys.typed is not None and first is not None and first.startswith(f"{ROOT}."):
            self.add(keys("name"), f"{name} is defined in the cluster definition file ({first.rsplit('.', 1)[0]}); "
                                   "change them there and run site.yml --tags ldap")
            return False
        return self.unique(keys("name"), name, seen, "user", "record each user once" if keys.recorded else "define each user once")

    def _user_groups(self, keys, value, groups):
        for index, item in enumerate(self.sequence(keys("groups"), value, "[users]") or ()):
            group = self.string(keys("groups", index), item, "write the name of a group defined in workbench.groups")
            if group is not None and groups is not None and group not in groups:
                known = ", ".join(sorted(groups)) or "none"
                self.add(keys("groups", index), f"group {_show(group)} is not defined; add it to workbench.groups or use a defined group ({known})")

    # --- budget and rehearsal -------------------------------------------------------------------
    def _budget(self, value):
        key = f"{ROOT}.budget"
        budget = self.mapping(key, value, BUDGET_KEYS)
        if budget is not None:
            self.number(f"{key}.monthly_usd", budget.get("monthly_usd", MISSING), 0, False, 50)

    # --- cost: usage scenarios and price overrides (see plugins/module_utils/cost.py) ------------
    def _scenarios(self, value, node_pools):
        # Pools by name; None (no check of the names a scenario uses) while a pool's own name is wrong: that is reported there.
        listed = node_pools if isinstance(node_pools, (list, tuple)) else None
        names = [pool.get("name") if isinstance(pool, dict) else None for pool in listed or ()]
        named = listed is not None and all(isinstance(n, str) and POOL_NAME_RE.fullmatch(n) for n in names) and len(set(names)) == len(names)
        pools = dict(zip(names, listed)) if named else None
        seen = {}
        example = "[] or [{name: bursts, period: year, pools: [{pool: spark, hours: 100, nodes: 4}]}]"
        for key, scenario in self.mappings(f"{ROOT}.scenarios", value, example, SCENARIO_KEYS):
            name = self.string(f"{key}.name", scenario.get("name", MISSING), "write a short name such as 'a year of bursts'")
            if name is not None:
                self.unique(f"{key}.name", name, seen, "scenario", "give each scenario a unique name")
            period = self.choice(f"{key}.period", scenario.get("period", MISSING), cost.PERIODS)
            if "data_gb" in scenario:
                self.number(f"{key}.data_gb", scenario["data_gb"], 0, True, 50)
            for item_key, item in self.mappings(f"{key}.pools", scenario.get("pools", MISSING), "[{pool: spark, hours: 100, nodes: 4}]",
                                                SCENARIO_POOL_KEYS):
                self._scenario_pool(item_key, item, pools, period)

    def _scenario_pool(self, key, item, pools, period):
        name = self.string(f"{key}.pool", item.get("pool", MISSING), "write the name of a pool of workbench.node_pools")
        pool = pools.get(name) if pools is not None and name is not None else None
        if name is not None and pools is not None and pool is None:
            known = ", ".join(str(pool_name) for pool_name in pools) or "none"
            self.add(f"{key}.pool", f"pool {_show(name)} is not defined in workbench.node_pools; "
                                    f"{_did_you_mean(name, [str(n) for n in pools], f'use a defined pool ({known})')}")
        hours = self.number(f"{key}.hours", item.get("hours", MISSING), 0, True, 100)
        if hours is not None and period is not None and hours > cost.PERIOD_HOURS[period]:
            self.add(f"{key}.hours", f"{hours} hours is more than a {period} has ({cost.PERIOD_HOURS[period]}); "
                                     "write the hours each node runs in the period")
        pool_max = pool.get("max") if isinstance(pool, dict) and _is_number(pool.get("max")) and isinstance(pool["max"], int) else None
        if "nodes" in item:
            self.integer(f"{key}.nodes", item["nodes"], 1, pool_max, f" (the pool's max is {pool_max})" if pool_max is not None else "")
        if "lifecycle" in item:
            self.choice(f"{key}.lifecycle", item["lifecycle"], LIFECYCLES)
        if "instance_type" in item:
            entry = self.instance_type(f"{key}.instance_type", item["instance_type"])
            types = pool.get("instance_types") if isinstance(pool, dict) and isinstance(pool.get("instance_types"), list) else None
            if entry and types is not None and item["instance_type"] not in types:
                self.add(f"{key}.instance_type", f"{_show(item['instance_type'])} is not one of the pool's instance types "
                                                 f"({', '.join(map(str, types))}); name one of them or remove the key")

    def _prices(self, value, region, cluster):
        key = f"{ROOT}.prices"
        overrides = self.mapping(key, value, prices.OVERRIDE_KEYS)
        if overrides is None:
            return
        valid = True
        for kind in prices.OVERRIDE_KEYS:
            if kind not in overrides:
                continue
            if kind == prices.SPOT_FRACTION:
                fraction = self.number(f"{key}.{kind}", overrides[kind], 0, False, 0.45)
                if fraction is not None and fraction > 1:
                    self.add(f"{key}.{kind}", f"{fraction} is more than 1; write the spot price as a fraction of on-demand, e.g. 0.45")
                valid = valid and fraction is not None and fraction <= 1
                continue
            if kind in prices.INSTANCE_KINDS:
                names, section = CATALOG, self._instance_prices(f"{key}.{kind}", overrides[kind])
            else:
                names, section = prices.UNIT_KEYS[kind], self.mapping(f"{key}.{kind}", overrides[kind], prices.UNIT_KEYS[kind])
            valid = valid and section is not None and all(name in names for name in section)
            for name, amount in (section or {}).items():
                if name in names:
                    valid = self.number(f"{key}.{kind}.{name}", amount, 0, True, 0.08) is not None and valid
        if valid and region is not None:
            self.problems.extend(cost.price_problems(cluster, overrides))

    def _instance_prices(self, key, value):
        """A mapping of instance type -> price, each type checked against the catalog, or None."""
        if self._absent(key, value, "write a mapping of instance type to USD per hour, e.g. {t4g.small: 0.0168}"):
            return None
        if not isinstance(value, dict):
            self._wrong_type(key, value, "a mapping", "write a mapping of instance type to USD per hour, e.g. {t4g.small: 0.0168}")
            return None
        for name in value:
            self.instance_type(f"{key}.{name}", name)
        return value

    def _rehearsal(self, value):
        if self.boolean(f"{ROOT}.rehearsal", value) is not True:
            return
        for name in REHEARSAL_ENV:
            url = self.env.get(name)
            url = "" if url is None else str(url).strip()
            if not url:
                self.add(f"{ROOT}.rehearsal", f"is true but {name} is not set; {START_ENDPOINTS}")
            elif _url_host(url) not in LOOPBACK_HOSTS:
                self.add(f"{ROOT}.rehearsal", f"is true but {name}={url} does not point at 127.0.0.1, ::1 or localhost; a rehearsal never "
                                              f"talks to AWS: {START_ENDPOINTS}")


def validate(cluster, env, recorded_users=None, command_line=None):
    """Every problem of a merged cluster definition, as "<dotted key>: <problem>; <fix>" strings (empty when valid).

    env holds AWS_URL and AWS_ENDPOINT_URL (either may be empty); they are checked when rehearsal is true.
    recorded_users are the users of the inventory's group_vars/all/users.yml (workbench_users), checked with those of
    the definition and reported as workbench_users[<index>]. command_line holds the options typed for add_user.yml or
    remove_user.yml ({user, ssh_key, user_groups, full_name, email}, each when typed): the problems of the recorded user
    named by command_line["user"] are reported under those options (-e user=root).
    Never raises on a wrongly typed value: the wrong type is reported and the checks that depend on it skipped.
    """
    return _Validator(env, [] if recorded_users is None else recorded_users, command_line).run(cluster)


# --- normalize -----------------------------------------------------------------------------------

def _carve_subnets(vpc_cidr, prefix, zones):
    carved = ipaddress.ip_network(vpc_cidr).subnets(new_prefix=prefix)
    return [{"zone": zone, "cidr": str(cidr)} for zone, cidr in zip(zones, carved)]


def _nth_host(cidr, index):
    """The index-th host address of cidr, counting from 1 (the 10th host of 10.42.0.0/20 is 10.42.0.10)."""
    return str(next(itertools.islice(ipaddress.ip_network(cidr).hosts(), index - 1, None)))


def normalize(cluster, recorded_users=None):
    """A copy of a valid cluster with the derived values the roles need.

    Adds control_plane.arch, control_plane.private_ip, admin_nodes.arch, each pool's arch and gpu (as written, or
    derived from its instance types), rehearsal (false when omitted), subnets ([{zone, cidr}], carved from vpc_cidr
    in zone order), network.cluster_dns, tags ({"kdsw:cluster": name}) and services (the pools of large and GPU notebooks and of Spark
    executors, Spark's executor cores and ceiling). users are the definition's users followed by recorded_users;
    admin_group names the administrators' group and present_users lists, for each user whose state is present,
    {name, admin} (admin: a member of admin_group), what the bastion needs. Call it only when validate() returned no problem.
    """
    result = copy.deepcopy(cluster)
    result["users"] = result["users"] + copy.deepcopy(list(recorded_users or []))
    result["admin_group"] = ADMIN_GROUP
    result["present_users"] = [{"name": user["name"], "admin": ADMIN_GROUP in user.get("groups", [])}
                               for user in result["users"] if user.get("state", "present") == "present"]
    for section in ("control_plane", "admin_nodes"):
        result[section]["arch"] = lookup(result[section]["instance_type"])["arch"]
    for pool in result["node_pools"]:
        entries = [lookup(name) for name in pool["instance_types"]]
        pool["arch"] = entries[0]["arch"]
        pool["gpu"] = bool(pool.get("gpu", entries[0]["gpus"] > 0))
    result["rehearsal"] = bool(result.get("rehearsal", False))
    network = result["network"]
    result["subnets"] = _carve_subnets(network["vpc_cidr"], network["subnet_prefix"], result["zones"])
    result["control_plane"]["private_ip"] = _nth_host(result["subnets"][0]["cidr"], CONTROL_PLANE_HOST_INDEX)
    network["cluster_dns"] = _nth_host(network["service_cidr"], CLUSTER_DNS_HOST_INDEX)
    result["tags"] = {"kdsw:cluster": result["name"]}
    result["services"] = _service_pools(result["node_pools"])
    return result


def _service_pools(pools):
    """Where the services run: large notebooks and Spark executors on the first pool without GPU,
    GPU notebooks on the first GPU pool ("" when there is none), and Spark's executor ceiling."""
    cpu = [pool for pool in pools if not pool["gpu"]]
    gpu = [pool for pool in pools if pool["gpu"]]
    executors = 0
    if cpu:
        vcpus = min(lookup(name)["vcpus"] for name in cpu[0]["instance_types"])
        executors = cpu[0]["max"] * max(1, vcpus // SPARK_EXECUTOR_CORES)
    return {
        "large_pool": cpu[0]["name"] if cpu else "",
        "spark_pool": cpu[0]["name"] if cpu else "",
        "gpu_pool": gpu[0]["name"] if gpu else "",
        "spark_executor_cores": SPARK_EXECUTOR_CORES,
        "spark_max_executors": executors,
    }
