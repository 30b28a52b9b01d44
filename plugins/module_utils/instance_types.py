# -*- coding: utf-8 -*-
# Copyright: kdsw.workbench maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Catalog of the EC2 instance types a workbench may use: vCPUs, memory, GPUs and CPU architecture.

The figures are the published ones of the EC2 instance type pages. Regular families are generated
from their size ladder (vCPUs per size) and their GiB of memory per vCPU; burstable and GPU
families, whose figures do not follow a ratio, are listed type by type.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

AMD64 = "amd64"
ARM64 = "arm64"

# vCPUs of each size of a regular (non-burstable, non-GPU) family.
SIZE_VCPUS = {
    "medium": 1,
    "large": 2,
    "xlarge": 4,
    "2xlarge": 8,
    "4xlarge": 16,
    "8xlarge": 32,
    "9xlarge": 36,
    "12xlarge": 48,
    "16xlarge": 64,
    "18xlarge": 72,
    "24xlarge": 96,
}

_LARGE_TO_24XLARGE = ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge")
_MEDIUM_TO_16XLARGE = ("medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")
_C5_SIZES = ("large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "12xlarge", "18xlarge", "24xlarge")

# family: (architecture, GiB of memory per vCPU, sizes)
REGULAR_FAMILIES = {
    # General purpose: 4 GiB per vCPU.
    "m5": (AMD64, 4, _LARGE_TO_24XLARGE),
    "m5a": (AMD64, 4, _LARGE_TO_24XLARGE),
    "m6i": (AMD64, 4, _LARGE_TO_24XLARGE),
    "m6a": (AMD64, 4, _LARGE_TO_24XLARGE),
    "m7i": (AMD64, 4, _LARGE_TO_24XLARGE),
    "m7a": (AMD64, 4, ("medium",) + _LARGE_TO_24XLARGE),
    "m6g": (ARM64, 4, _MEDIUM_TO_16XLARGE),
    "m7g": (ARM64, 4, _MEDIUM_TO_16XLARGE),
    # Compute optimized: 2 GiB per vCPU.
    "c5": (AMD64, 2, _C5_SIZES),
    "c6i": (AMD64, 2, _LARGE_TO_24XLARGE),
    "c6a": (AMD64, 2, _LARGE_TO_24XLARGE),
    "c7i": (AMD64, 2, _LARGE_TO_24XLARGE),
    "c7a": (AMD64, 2, ("medium",) + _LARGE_TO_24XLARGE),
    "c6g": (ARM64, 2, _MEDIUM_TO_16XLARGE),
    "c7g": (ARM64, 2, _MEDIUM_TO_16XLARGE),
    # Memory optimized: 8 GiB per vCPU.
    "r5": (AMD64, 8, _LARGE_TO_24XLARGE),
    "r6i": (AMD64, 8, _LARGE_TO_24XLARGE),
    "r6a": (AMD64, 8, _LARGE_TO_24XLARGE),
    "r7i": (AMD64, 8, _LARGE_TO_24XLARGE),
    "r6g": (ARM64, 8, _MEDIUM_TO_16XLARGE),
    "r7g": (ARM64, 8, _MEDIUM_TO_16XLARGE),
}

# Burstable sizes: (vCPUs, GiB of memory); identical for t3, t3a and t4g.
BURSTABLE_SIZES = {
    "nano": (2, 0.5),
    "micro": (2, 1),
    "small": (2, 2),
    "medium": (2, 4),
    "large": (2, 8),
    "xlarge": (4, 16),
    "2xlarge": (8, 32),
}

BURSTABLE_FAMILIES = {"t3": AMD64, "t3a": AMD64, "t4g": ARM64}

# GPU types: (vCPUs, GiB of memory, GPUs). All of them are x86_64.
GPU_TYPES = {
    # NVIDIA T4
    "g4dn.xlarge": (4, 16, 1),
    "g4dn.2xlarge": (8, 32, 1),
    "g4dn.4xlarge": (16, 64, 1),
    "g4dn.8xlarge": (32, 128, 1),
    "g4dn.12xlarge": (48, 192, 4),
    "g4dn.16xlarge": (64, 256, 1),
    # NVIDIA A10G
    "g5.xlarge": (4, 16, 1),
    "g5.2xlarge": (8, 32, 1),
    "g5.4xlarge": (16, 64, 1),
    "g5.8xlarge": (32, 128, 1),
    "g5.12xlarge": (48, 192, 4),
    "g5.16xlarge": (64, 256, 1),
    "g5.24xlarge": (96, 384, 4),
    "g5.48xlarge": (192, 768, 8),
    # NVIDIA L4
    "g6.xlarge": (4, 16, 1),
    "g6.2xlarge": (8, 32, 1),
    "g6.4xlarge": (16, 64, 1),
    "g6.8xlarge": (32, 128, 1),
    "g6.12xlarge": (48, 192, 4),
    "g6.16xlarge": (64, 256, 1),
    "g6.24xlarge": (96, 384, 4),
    "g6.48xlarge": (192, 768, 8),
    # NVIDIA L40S
    "g6e.xlarge": (4, 32, 1),
    "g6e.2xlarge": (8, 64, 1),
    "g6e.4xlarge": (16, 128, 1),
    "g6e.8xlarge": (32, 256, 1),
    "g6e.12xlarge": (48, 384, 4),
    "g6e.16xlarge": (64, 512, 1),
    "g6e.24xlarge": (96, 768, 4),
    "g6e.48xlarge": (192, 1536, 8),
    # NVIDIA V100
    "p3.2xlarge": (8, 61, 1),
    "p3.8xlarge": (32, 244, 4),
    "p3.16xlarge": (64, 488, 8),
}


def _entry(vcpus, memory_gib, gpus, arch):
    return {"vcpus": vcpus, "memory_gib": memory_gib, "gpus": gpus, "arch": arch}


def _build_catalog():
    catalog = {}
    for family, (arch, gib_per_vcpu, sizes) in REGULAR_FAMILIES.items():
        for size in sizes:
            vcpus = SIZE_VCPUS[size]
            catalog[f"{family}.{size}"] = _entry(vcpus, vcpus * gib_per_vcpu, 0, arch)
    for family, arch in BURSTABLE_FAMILIES.items():
        for size, (vcpus, memory_gib) in BURSTABLE_SIZES.items():
            catalog[f"{family}.{size}"] = _entry(vcpus, memory_gib, 0, arch)
    for name, (vcpus, memory_gib, gpus) in GPU_TYPES.items():
        catalog[name] = _entry(vcpus, memory_gib, gpus, AMD64)
    return catalog


CATALOG = _build_catalog()


def lookup(instance_type):
    """Return a copy of the catalog entry of an instance type ({vcpus, memory_gib, gpus, arch}), or None if unknown."""
    if not isinstance(instance_type, str):
        return None
    entry = CATALOG.get(instance_type)
    return dict(entry) if entry else None
