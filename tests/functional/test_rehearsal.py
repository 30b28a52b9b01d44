"""The rehearsal end to end: site.yml against moto, re-run, --check --diff, security, teardown.

The tests share one converged rehearsal and run in file order: converge, inspect, re-run, preview,
then tear down.
"""

import ipaddress
import json
from collections import Counter

import boto3
import pytest
import yaml

from aws_state import live_instances, snapshot, workbench_resources
from bill_of_materials import billable, estimated, unaccounted
from conftest import REPO

DEFINITION = yaml.safe_load((REPO / "inventories/local/group_vars/all/workbench.yml").read_text())["workbench"]
CLUSTER = DEFINITION["name"]
ADMIN_CIDRS = set(DEFINITION["admin_cidrs"])
WORLD = {"0.0.0.0/0", "::/0"}


@pytest.fixture(scope="module")
def endpoint(moto_server, kube_server):
    """Empty AWS and Kubernetes endpoints: moto and the API emulator (harness/kube_api.py)."""
    moto_server.reset()
    kube_server.reset()
    env = {**moto_server.state()["env"], **kube_server.state()["env"]}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        yield moto_server


@pytest.fixture(scope="module")
def cluster(endpoint, kube_server):
    return kube_server


def workbench_objects(cluster):
    """(kind, namespace, name) of every object labelled as the workbench's in the emulated cluster."""
    selector = "?labelSelector=app.kubernetes.io/part-of%3Dkdsw-workbench"
    paths = {"Namespace": "/api/v1/namespaces", "ConfigMap": "/api/v1/configmaps", "Secret": "/api/v1/secrets",
             "ServiceAccount": "/api/v1/serviceaccounts", "Service": "/api/v1/services",
             "PersistentVolume": "/api/v1/persistentvolumes", "Deployment": "/apis/apps/v1/deployments",
             "StatefulSet": "/apis/apps/v1/statefulsets", "DaemonSet": "/apis/apps/v1/daemonsets",
             "CronJob": "/apis/batch/v1/cronjobs", "Role": "/apis/rbac.authorization.k8s.io/v1/roles",
             "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
             "NetworkPolicy": "/apis/networking.k8s.io/v1/networkpolicies", "RuntimeClass": "/apis/node.k8s.io/v1/runtimeclasses",
             "HelmChart": "/apis/helm.cattle.io/v1/helmcharts"}
    return {(kind, item["metadata"].get("namespace", ""), item["metadata"]["name"])
            for kind, path in paths.items() for item in cluster.objects(path + selector)}


@pytest.fixture(scope="module")
def first_run(endpoint, playbook):
    """The first converge, at -vvv so that the secret checks see everything Ansible can print."""
    run = playbook("site.yml", "-vvv")
    assert run.rc == 0, run.output[-4000:]
    return run


@pytest.fixture(scope="module")
def state(first_run):
    return snapshot()


def group_named(state, suffix):
    return next(g for g in state["ec2"]["security_groups"] if g["GroupName"] == f"{CLUSTER}-{suffix}")


def ingress_sources(permission):
    return ([r["CidrIp"] for r in permission.get("IpRanges", [])]
            + [r["CidrIpv6"] for r in permission.get("Ipv6Ranges", [])])


def covers(permission, port):
    if permission["IpProtocol"] == "-1":
        return True
    return permission.get("FromPort", 0) <= port <= permission.get("ToPort", 65535)


def test_preview_of_an_empty_account_changes_nothing(endpoint, cluster, playbook):
    before, mark = snapshot(), cluster.log_offset()
    run = playbook("site.yml", "--check", "--diff")
    assert run.rc == 0, run.output[-4000:]
    assert "Check mode: the VPC does not exist yet" in run.output
    assert snapshot() == before
    assert cluster.writes(mark) == [] and workbench_objects(cluster) == set()


def test_first_run_creates_the_base(first_run, state):
    assert first_run.changed > 0
    ec2 = state["ec2"]
    assert len([v for v in ec2["vpcs"] if not v.get("IsDefault")]) == 1
    subnets = [s for s in ec2["subnets"] if s["VpcId"] == group_named(state, "cluster")["VpcId"]]
    assert sorted(s["AvailabilityZone"] for s in subnets) == sorted(DEFINITION["zones"])
    assert all(s["MapPublicIpOnLaunch"] for s in subnets)
    roles = sorted(tag["Value"] for i in live_instances(state) for tag in i["Tags"] if tag["Key"] == "kdsw:component")
    admin_count = yaml.safe_load((REPO / "group_vars/all/workbench_defaults.yml").read_text())["workbench_defaults"]["admin_nodes"]["count"]
    assert roles == ["admin-node"] * DEFINITION.get("admin_nodes", {}).get("count", admin_count) + ["control-plane"]
    server = next(i for i in live_instances(state) if {"Key": "kdsw:component", "Value": "control-plane"} in i["Tags"])
    assert server["PrivateIpAddress"] == str(ipaddress.ip_network("10.42.0.0/20")[10])
    assert server["IamInstanceProfile"]["Arn"].endswith(f"/{CLUSTER}-server")
    assert len(state["efs"]) == 1 and len(state["efs"][0]["mount_targets"]) == len(DEFINITION["zones"])
    assert f"/kdsw/{CLUSTER}/k3s/token" in state["ssm"]
    assert any(e["ServiceName"].endswith(".s3") and e["VpcEndpointType"] == "Gateway" for e in ec2["vpc_endpoints"])


def test_no_nat_gateway(state):
    assert state["ec2"]["nat_gateways"] == []


def test_ssh_only_to_the_bastion_and_only_from_admin_networks(state):
    bastion_port = 2222
    for group in state["ec2"]["security_groups"]:
        for permission in group["IpPermissions"]:
            if not (covers(permission, 22) or covers(permission, bastion_port)):
                continue
            sources = ingress_sources(permission)
            if group["GroupName"] == f"{CLUSTER}-bastion":
                assert set(sources) == ADMIN_CIDRS
            else:
                assert sources == [], f"{group['GroupName']} admits SSH from {sources}"


def test_nothing_else_open_to_the_world(state):
    for group in state["ec2"]["security_groups"]:
        for permission in group["IpPermissions"]:
            assert not WORLD & set(ingress_sources(permission)), f"{group['GroupName']}: {permission}"


def test_kubernetes_api_not_opened_by_default(state):
    assert not any(g["GroupName"] == f"{CLUSTER}-api" for g in state["ec2"]["security_groups"])
    efs_group = group_named(state, "efs")
    assert [p["UserIdGroupPairs"][0]["GroupId"] for p in efs_group["IpPermissions"]] == [group_named(state, "cluster")["GroupId"]]
    assert [(p["FromPort"], p["ToPort"]) for p in efs_group["IpPermissions"]] == [(2049, 2049)]


def test_imdsv2_required_on_every_instance(state):
    instances = live_instances(state)
    assert instances
    for instance in instances:
        assert instance["MetadataOptions"]["HttpTokens"] == "required", instance["InstanceId"]


def test_storage_encrypted(state):
    attached = {a["InstanceId"] for v in state["ec2"]["volumes"] for a in v["Attachments"]}
    assert {i["InstanceId"] for i in live_instances(state)} <= attached
    for volume in state["ec2"]["volumes"]:
        assert volume["Encrypted"], volume["VolumeId"]
        assert volume["VolumeType"] == "gp3"
    assert all(f["file_system"]["Encrypted"] for f in state["efs"])


def test_data_bucket_private_encrypted_versioned_tiered(state):
    (name, bucket), = state["s3"].items()
    assert name == f"kdsw-{CLUSTER}-data-123456789012"
    assert bucket["encryption"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert bucket["versioning"] == "Enabled"
    assert bucket["public_access"] == {"BlockPublicAcls": True, "IgnorePublicAcls": True,
                                       "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    classes = [t["StorageClass"] for rule in bucket["lifecycle"] for t in rule.get("Transitions", [])]
    assert classes == ["STANDARD_IA", "GLACIER_IR"]
    assert '"aws:SecureTransport": "false"' in bucket["policy"].replace("'", '"')


def test_node_roles_least_privilege(state):
    roles = state["iam"]["roles"]
    for kind in ("server", "agent"):
        role = roles[f"{CLUSTER}-{kind}"]
        assert role["attached"] == []
        actions = {a for s in role["inline"]["workbench-node"]["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
        assert not any(a.endswith("*") for a in actions)
        resources = [s["Resource"] for s in role["inline"]["workbench-node"]["Statement"]]
        assert "*" not in resources
    assert "ssm:PutParameter" not in str(roles[f"{CLUSTER}-agent"]["inline"])


def test_cluster_services_are_applied(first_run, cluster):
    objects = workbench_objects(cluster)
    assert {("Namespace", "", name) for name in ("ldap", "bastion", "jupyterhub", "spark")} <= objects
    assert {("HelmChart", "kube-system", "jupyterhub"), ("HelmChart", "kube-system", "aws-efs-csi-driver"),
            ("StatefulSet", "ldap", "ldap"), ("Deployment", "ldap", "ldap-ui"), ("CronJob", "ldap", "ldap-backup"),
            ("Deployment", "bastion", "bastion"), ("Deployment", "spark", "spark-history"),
            ("ConfigMap", "jupyterhub", "spark-defaults"), ("DaemonSet", "kube-system", "nvidia-device-plugin"),
            ("DaemonSet", "kube-system", "aws-node-termination-handler"), ("RuntimeClass", "", "nvidia")} <= objects
    chart = cluster.call("GET", "/apis/helm.cattle.io/v1/namespaces/kube-system/helmcharts/jupyterhub")
    values = yaml.safe_load(chart["spec"]["valuesContent"])
    assert values["hub"]["config"]["LDAPAuthenticator"]["lookup_dn_search_user"] == f"cn=reader,dc={CLUSTER},dc=kdsw"


def test_directory_and_bastion_secrets_never_logged(first_run, endpoint):
    ssm = boto3.client("ssm", region_name="us-east-1")
    pages = ssm.get_paginator("get_parameters_by_path").paginate(Path=f"/kdsw/{CLUSTER}/", Recursive=True, WithDecryption=True)
    parameters = [parameter for page in pages for parameter in page["Parameters"]]
    secrets = {p["Name"]: p["Value"] for p in parameters if "/ldap/" in p["Name"] or "/bastion/" in p["Name"]}
    assert {f"/kdsw/{CLUSTER}/ldap/admin-password", f"/kdsw/{CLUSTER}/ldap/reader-password"} <= set(secrets)
    assert any("PRIVATE KEY" in value for name, value in secrets.items() if "/bastion/host-keys/" in name)
    for name, value in secrets.items():
        if "password" in name or "key" in name:
            assert value not in first_run.output, name
            for line in value.strip().splitlines()[1:-1]:
                assert line not in first_run.output, name


def test_join_token_never_logged(first_run, endpoint):
    token = boto3.client("ssm", region_name="us-east-1").get_parameter(
        Name=f"/kdsw/{CLUSTER}/k3s/token", WithDecryption=True)["Parameter"]["Value"]
    assert len(token) >= 32
    assert token not in first_run.output
    ec2 = boto3.client("ec2", region_name="us-east-1")
    for instance in live_instances(snapshot()):
        attribute = ec2.describe_instance_attribute(InstanceId=instance["InstanceId"], Attribute="userData")
        assert token not in str(attribute)


def test_second_run_changes_nothing(first_run, cluster, playbook):
    mark = cluster.log_offset()
    run = playbook("site.yml")
    assert run.rc == 0, run.output[-4000:]
    assert run.changed == 0, run.changed_tasks()
    assert first_run.recap and run.recap
    assert cluster.writes(mark) == []


def test_check_diff_changes_nothing(first_run, cluster, playbook):
    before, objects, mark = snapshot(), workbench_objects(cluster), cluster.log_offset()
    run = playbook("site.yml", "--check", "--diff")
    assert run.rc == 0, run.output[-4000:]
    assert run.changed == 0, run.changed_tasks()
    assert snapshot() == before
    assert cluster.writes(mark) == [] and workbench_objects(cluster) == objects


def test_spark_tag_touches_only_spark_objects(first_run, cluster, playbook):
    """With the Spark namespace gone, --tags spark puts back the Spark objects and writes nothing else."""
    cluster.call("DELETE", "/api/v1/namespaces/spark")
    mark = cluster.log_offset()
    run = playbook("site.yml", "--tags", "spark")
    assert run.rc == 0, run.output[-4000:]
    assert run.changed_tasks() == ["kdsw.workbench.k8s_master : Apply the objects of the Spark"]
    writes = cluster.writes(mark)
    assert writes and all(w["namespace"] == "spark" or (w["resource"], w["name"]) == ("namespaces", "spark") for w in writes), writes
    assert ("Deployment", "spark", "spark-history") in workbench_objects(cluster)


def test_single_role_by_tag(first_run, playbook):
    run = playbook("site.yml", "--tags", "efs_homes")
    assert run.rc == 0, run.output[-4000:]
    assert run.changed == 0
    assert "kdsw.workbench.efs_homes : " in run.output
    assert "kdsw.workbench.aws_network : VPC" not in run.output
    assert "kdsw.workbench.k8s_master : Server instance running k3s" not in run.output


def test_estimate_counts_everything_billable_that_was_built(first_run, playbook, tmp_path):
    """Every billable resource read back from the endpoint has its line in the cost estimate's always-on base."""
    run = playbook("cost.yml", "-e", f"cost_report={tmp_path / 'estimate.json'}")
    assert run.rc == 0, run.output[-4000:]
    report = json.loads((tmp_path / "estimate.json").read_text())
    current = snapshot()
    assert {kind for kind, _detail in billable(current)} >= {"instance", "volume", "public_ipv4", "efs", "s3_bucket"}
    assert unaccounted(current, report) == Counter(), (billable(current), estimated(report))
    # The other way round, only the kubeconfig parameter, which the k3s server publishes once it boots.
    assert estimated(report) - billable(current) == Counter({("ssm_advanced_parameter", ""): 1})


def test_teardown_leaves_nothing_but_the_data(first_run, cluster, playbook):
    run = playbook("teardown.yml", "-e", "confirm=yes")
    assert run.rc == 0, run.output[-4000:]
    assert workbench_objects(cluster) == set()
    assert sorted(n["metadata"]["name"] for n in cluster.objects("/api/v1/namespaces")) == ["default", "kube-node-lease", "kube-public", "kube-system"]
    # Kept with the data: the directory's secrets (its backups need them) and the bastion's host keys.
    left = workbench_resources(CLUSTER)
    assert list(left) == ["ssm_parameters"] and all("/ldap/" in name or "/bastion/" in name for name in left["ssm_parameters"])
    assert list(snapshot()["s3"]) == [f"kdsw-{CLUSTER}-data-123456789012"]
    again = playbook("teardown.yml", "-e", "confirm=yes", "-e", "delete_data=yes")
    assert again.rc == 0, again.output[-4000:]
    assert workbench_resources(CLUSTER) == {}
    assert snapshot()["s3"] == {}
