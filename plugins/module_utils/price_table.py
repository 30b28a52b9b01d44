# -*- coding: utf-8 -*-
# Copyright: kdsw.workbench maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The price table of the cost estimate: AWS list prices in US dollars, as data.

A Python module rather than a YAML file because Ansible ships a module's module_utils to where it
runs (AnsiballZ) but no data file next to them. Read it through prices.py (price(), lookup()); a
cluster definition overrides any value with the same layout under `workbench.prices`, and
`cost.yml -e refresh_prices=yes` replaces the instance prices with the current ones from AWS.

Layout, per region:
  on_demand      USD per instance-hour, Linux, shared tenancy, every type of instance_types.CATALOG
  spot           USD per instance-hour of types with a known typical spot price (none shipped)
  spot_fraction  a type's spot price, when `spot` does not list it, is its on-demand price times this
  ebs, efs, s3   storage, USD per GB-month (EFS and S3 also per GB of elastic throughput and retrieval)
  vpc            USD per public IPv4 address-hour (in use or idle, since 2024-02-01)
  ssm            USD per Advanced-tier Parameter Store parameter-month (Standard tier is free)
  transfer       USD per GB sent from the region to the internet
Values are strings so that they become exact decimals.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

AS_OF = "2025"
DATE = "2025 list prices (the published rates as known in 2025, not fetched live; check them with cost.yml -e refresh_prices=yes)"
SOURCE = (
    "AWS public price pages: aws.amazon.com/ec2/pricing/on-demand (Linux, shared tenancy), /ebs/pricing, /efs/pricing, "
    "/s3/pricing, /vpc/pricing (public IPv4 addresses), /systems-manager/pricing, /ec2/pricing/on-demand (data transfer); "
    "spot: an estimate of 45 % of the on-demand price (the usual range of the EC2 Spot Instance Advisor for these "
    "families is 30-60 %), not a quote"
)

# Linux on-demand, us-east-1, USD per instance-hour. Regular families scale with their vCPUs (the
# .large price times vCPUs / 2, as AWS prices them); burstable and GPU types are listed as published.
_US_EAST_1_ON_DEMAND = {
    "m5.large": "0.096", "m5.xlarge": "0.192", "m5.2xlarge": "0.384", "m5.4xlarge": "0.768", "m5.8xlarge": "1.536",
    "m5.12xlarge": "2.304", "m5.16xlarge": "3.072", "m5.24xlarge": "4.608",
    "m5a.large": "0.086", "m5a.xlarge": "0.172", "m5a.2xlarge": "0.344", "m5a.4xlarge": "0.688",
    "m5a.8xlarge": "1.376", "m5a.12xlarge": "2.064", "m5a.16xlarge": "2.752", "m5a.24xlarge": "4.128",
    "m6i.large": "0.096", "m6i.xlarge": "0.192", "m6i.2xlarge": "0.384", "m6i.4xlarge": "0.768",
    "m6i.8xlarge": "1.536", "m6i.12xlarge": "2.304", "m6i.16xlarge": "3.072", "m6i.24xlarge": "4.608",
    "m6a.large": "0.0864", "m6a.xlarge": "0.1728", "m6a.2xlarge": "0.3456", "m6a.4xlarge": "0.6912",
    "m6a.8xlarge": "1.3824", "m6a.12xlarge": "2.0736", "m6a.16xlarge": "2.7648", "m6a.24xlarge": "4.1472",
    "m7i.large": "0.1008", "m7i.xlarge": "0.2016", "m7i.2xlarge": "0.4032", "m7i.4xlarge": "0.8064",
    "m7i.8xlarge": "1.6128", "m7i.12xlarge": "2.4192", "m7i.16xlarge": "3.2256", "m7i.24xlarge": "4.8384",
    "m7a.medium": "0.05796", "m7a.large": "0.11592", "m7a.xlarge": "0.23184", "m7a.2xlarge": "0.46368",
    "m7a.4xlarge": "0.92736", "m7a.8xlarge": "1.85472", "m7a.12xlarge": "2.78208", "m7a.16xlarge": "3.70944",
    "m7a.24xlarge": "5.56416",
    "m6g.medium": "0.0385", "m6g.large": "0.077", "m6g.xlarge": "0.154", "m6g.2xlarge": "0.308",
    "m6g.4xlarge": "0.616", "m6g.8xlarge": "1.232", "m6g.12xlarge": "1.848", "m6g.16xlarge": "2.464",
    "m7g.medium": "0.0408", "m7g.large": "0.0816", "m7g.xlarge": "0.1632", "m7g.2xlarge": "0.3264",
    "m7g.4xlarge": "0.6528", "m7g.8xlarge": "1.3056", "m7g.12xlarge": "1.9584", "m7g.16xlarge": "2.6112",
    "c5.large": "0.085", "c5.xlarge": "0.17", "c5.2xlarge": "0.34", "c5.4xlarge": "0.68", "c5.9xlarge": "1.53",
    "c5.12xlarge": "2.04", "c5.18xlarge": "3.06", "c5.24xlarge": "4.08",
    "c6i.large": "0.085", "c6i.xlarge": "0.17", "c6i.2xlarge": "0.34", "c6i.4xlarge": "0.68",
    "c6i.8xlarge": "1.36", "c6i.12xlarge": "2.04", "c6i.16xlarge": "2.72", "c6i.24xlarge": "4.08",
    "c6a.large": "0.0765", "c6a.xlarge": "0.153", "c6a.2xlarge": "0.306", "c6a.4xlarge": "0.612",
    "c6a.8xlarge": "1.224", "c6a.12xlarge": "1.836", "c6a.16xlarge": "2.448", "c6a.24xlarge": "3.672",
    "c7i.large": "0.08925", "c7i.xlarge": "0.1785", "c7i.2xlarge": "0.357", "c7i.4xlarge": "0.714",
    "c7i.8xlarge": "1.428", "c7i.12xlarge": "2.142", "c7i.16xlarge": "2.856", "c7i.24xlarge": "4.284",
    "c7a.medium": "0.05132", "c7a.large": "0.10264", "c7a.xlarge": "0.20528", "c7a.2xlarge": "0.41056",
    "c7a.4xlarge": "0.82112", "c7a.8xlarge": "1.64224", "c7a.12xlarge": "2.46336", "c7a.16xlarge": "3.28448",
    "c7a.24xlarge": "4.92672",
    "c6g.medium": "0.034", "c6g.large": "0.068", "c6g.xlarge": "0.136", "c6g.2xlarge": "0.272",
    "c6g.4xlarge": "0.544", "c6g.8xlarge": "1.088", "c6g.12xlarge": "1.632", "c6g.16xlarge": "2.176",
    "c7g.medium": "0.0363", "c7g.large": "0.0725", "c7g.xlarge": "0.145", "c7g.2xlarge": "0.29",
    "c7g.4xlarge": "0.58", "c7g.8xlarge": "1.16", "c7g.12xlarge": "1.74", "c7g.16xlarge": "2.32",
    "r5.large": "0.126", "r5.xlarge": "0.252", "r5.2xlarge": "0.504", "r5.4xlarge": "1.008", "r5.8xlarge": "2.016",
    "r5.12xlarge": "3.024", "r5.16xlarge": "4.032", "r5.24xlarge": "6.048",
    "r6i.large": "0.126", "r6i.xlarge": "0.252", "r6i.2xlarge": "0.504", "r6i.4xlarge": "1.008",
    "r6i.8xlarge": "2.016", "r6i.12xlarge": "3.024", "r6i.16xlarge": "4.032", "r6i.24xlarge": "6.048",
    "r6a.large": "0.1134", "r6a.xlarge": "0.2268", "r6a.2xlarge": "0.4536", "r6a.4xlarge": "0.9072",
    "r6a.8xlarge": "1.8144", "r6a.12xlarge": "2.7216", "r6a.16xlarge": "3.6288", "r6a.24xlarge": "5.4432",
    "r7i.large": "0.1323", "r7i.xlarge": "0.2646", "r7i.2xlarge": "0.5292", "r7i.4xlarge": "1.0584",
    "r7i.8xlarge": "2.1168", "r7i.12xlarge": "3.1752", "r7i.16xlarge": "4.2336", "r7i.24xlarge": "6.3504",
    "r6g.medium": "0.0504", "r6g.large": "0.1008", "r6g.xlarge": "0.2016", "r6g.2xlarge": "0.4032",
    "r6g.4xlarge": "0.8064", "r6g.8xlarge": "1.6128", "r6g.12xlarge": "2.4192", "r6g.16xlarge": "3.2256",
    "r7g.medium": "0.0536", "r7g.large": "0.1071", "r7g.xlarge": "0.2142", "r7g.2xlarge": "0.4284",
    "r7g.4xlarge": "0.8568", "r7g.8xlarge": "1.7136", "r7g.12xlarge": "2.5704", "r7g.16xlarge": "3.4272",
    "t3.nano": "0.0052", "t3.micro": "0.0104", "t3.small": "0.0208", "t3.medium": "0.0416", "t3.large": "0.0832",
    "t3.xlarge": "0.1664", "t3.2xlarge": "0.3328",
    "t3a.nano": "0.0047", "t3a.micro": "0.0094", "t3a.small": "0.0188", "t3a.medium": "0.0376",
    "t3a.large": "0.0752", "t3a.xlarge": "0.1504", "t3a.2xlarge": "0.3008",
    "t4g.nano": "0.0042", "t4g.micro": "0.0084", "t4g.small": "0.0168", "t4g.medium": "0.0336",
    "t4g.large": "0.0672", "t4g.xlarge": "0.1344", "t4g.2xlarge": "0.2688",
    "g4dn.xlarge": "0.526", "g4dn.2xlarge": "0.752", "g4dn.4xlarge": "1.204", "g4dn.8xlarge": "2.176",
    "g4dn.12xlarge": "3.912", "g4dn.16xlarge": "4.352",
    "g5.xlarge": "1.006", "g5.2xlarge": "1.212", "g5.4xlarge": "1.624", "g5.8xlarge": "2.448",
    "g5.12xlarge": "5.672", "g5.16xlarge": "4.096", "g5.24xlarge": "8.144", "g5.48xlarge": "16.288",
    "g6.xlarge": "0.8048", "g6.2xlarge": "0.9776", "g6.4xlarge": "1.3232", "g6.8xlarge": "2.0144",
    "g6.12xlarge": "4.6016", "g6.16xlarge": "3.3968", "g6.24xlarge": "6.6752", "g6.48xlarge": "13.3504",
    "g6e.xlarge": "1.861", "g6e.2xlarge": "2.24208", "g6e.4xlarge": "3.00424", "g6e.8xlarge": "4.52856",
    "g6e.12xlarge": "10.49264", "g6e.16xlarge": "7.57719", "g6e.24xlarge": "15.06559", "g6e.48xlarge": "30.13118",
    "p3.2xlarge": "3.06", "p3.8xlarge": "12.24", "p3.16xlarge": "24.48",
}

TABLE = {
    "us-east-1": {
        "on_demand": _US_EAST_1_ON_DEMAND,
        "spot": {},
        "spot_fraction": "0.45",
        "ebs": {"gp3_gb_month": "0.08"},
        "efs": {
            "standard_gb_month": "0.30",
            "ia_gb_month": "0.016",
            "ia_read_gb": "0.01",
            "elastic_read_gb": "0.03",
            "elastic_write_gb": "0.06",
        },
        "s3": {
            "standard_gb_month": "0.023",
            "standard_ia_gb_month": "0.0125",
            "glacier_ir_gb_month": "0.004",
        },
        "vpc": {"public_ipv4_hour": "0.005"},
        "ssm": {"advanced_parameter_month": "0.05"},
        "transfer": {"internet_out_gb": "0.09"},
    },
}
