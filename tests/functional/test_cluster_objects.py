"""Every object the roles put in the cluster, rendered from the rehearsal's definition: it validates
against the Kubernetes version k3s runs, custom objects against their schema, and the whole set
keeps the workbench's security policy."""

import json

import jsonschema
import kubernetes_validate
import pytest
import yaml

from conftest import REPO

DEFAULTS = yaml.safe_load((REPO / "group_vars/all/workbench_defaults.yml").read_text())["workbench_defaults"]
# v1.33.5+k3s1 -> 1.33.0: the schemas of the Kubernetes minor version k3s runs.
KUBERNETES = ".".join(DEFAULTS["versions"]["k3s"].lstrip("v").split(".")[:2]) + ".0"
SCHEMAS = REPO / "tests/schemas"
CUSTOM = {("helm.cattle.io/v1", "HelmChart"): SCHEMAS / "helm.cattle.io_v1_helmchart.yaml"}
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")
# Containers that need root, and why: sshd switches to each user it lets in; the device plugin puts
# its socket in the kubelet's root-owned device-plugins directory.
ROOT_ALLOWED = {("bastion", "bastion"), ("kube-system", "nvidia-device-plugin")}
# hostPort: the bastion is reached on its node's port, which the security group opens to the admin networks.
HOST_PORT_ALLOWED = {("bastion", "bastion")}
PRIVILEGED_ALLOWED = {("kube-system", "nvidia-device-plugin")}


@pytest.fixture(scope="module")
def objects(moto_server, playbook, tmp_path_factory):
    target = tmp_path_factory.mktemp("objects") / "objects.json"
    env = dict(moto_server.state()["env"])
    run = playbook("tests/functional/playbooks/cluster_objects.yml", "-e", f"objects_file={target}", env=env)
    assert run.rc == 0, run.output[-4000:]
    return json.loads(target.read_text())


def name_of(obj):
    return f"{obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"


def pod_specs(objects):
    """(namespace, workload name, pod spec) of every workload, and of Spark's executor pod template."""
    for obj in objects:
        spec = obj.get("spec", {})
        namespace = obj["metadata"].get("namespace", "")
        if obj["kind"] == "CronJob":
            yield namespace, obj["metadata"]["name"], spec["jobTemplate"]["spec"]["template"]["spec"]
        elif obj["kind"] == "Pod":
            yield namespace, obj["metadata"]["name"], spec
        elif obj["kind"] in WORKLOADS:
            yield namespace, obj["metadata"]["name"], spec["template"]["spec"]
        elif obj["kind"] == "ConfigMap" and "executor-pod-template.yaml" in obj.get("data", {}):
            yield "spark", "spark-executor", yaml.safe_load(obj["data"]["executor-pod-template.yaml"])["spec"]


def containers(spec):
    return spec.get("initContainers", []) + spec.get("containers", [])


def chart(objects, name):
    helm_chart = next(o for o in objects if o["kind"] == "HelmChart" and o["metadata"]["name"] == name)
    return helm_chart, yaml.safe_load(helm_chart["spec"]["valuesContent"])


def test_the_roles_render_every_component(objects):
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert {("Namespace", n) for n in ("ldap", "bastion", "jupyterhub", "spark")} <= kinds
    assert {("HelmChart", "jupyterhub"), ("HelmChart", "aws-efs-csi-driver"), ("StatefulSet", "ldap"), ("Deployment", "bastion"),
            ("Deployment", "spark-history"), ("DaemonSet", "nvidia-device-plugin"), ("DaemonSet", "aws-node-termination-handler"),
            ("CronJob", "ldap-backup")} <= kinds


def test_every_object_validates_against_the_kubernetes_schema(objects):
    problems = []
    for obj in objects:
        if (obj["apiVersion"], obj["kind"]) in CUSTOM:
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{name_of(obj)}: {error.message} at {'/'.join(map(str, error.path))}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{name_of(obj)}: no schema of {obj['apiVersion']} {obj['kind']} in Kubernetes {KUBERNETES}")
    assert problems == []


def test_spark_executor_pod_template_validates(objects):
    spec = next(s for ns, name, s in pod_specs(objects) if name == "spark-executor")
    kubernetes_validate.validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "executor"}, "spec": spec}, KUBERNETES, strict=True)


def test_custom_objects_validate_against_their_schema(objects):
    custom = [o for o in objects if (o["apiVersion"], o["kind"]) in CUSTOM]
    assert custom
    for obj in custom:
        schema = yaml.safe_load(CUSTOM[(obj["apiVersion"], obj["kind"])].read_text())
        jsonschema.validate(obj, schema, cls=jsonschema.Draft202012Validator)


def test_a_misspelt_chart_field_is_refused(objects):
    helm_chart, _values = chart(objects, "jupyterhub")
    wrong = json.loads(json.dumps(helm_chart))
    wrong["spec"]["valueContent"] = wrong["spec"].pop("valuesContent")
    schema = yaml.safe_load(CUSTOM[("helm.cattle.io/v1", "HelmChart")].read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, schema, cls=jsonschema.Draft202012Validator)


def test_charts_are_pinned_to_the_definition(objects):
    versions = DEFAULTS["versions"]
    assert chart(objects, "jupyterhub")[0]["spec"]["version"] == versions["jupyterhub_chart"]
    assert chart(objects, "aws-efs-csi-driver")[0]["spec"]["version"] == versions["efs_csi_driver_chart"]
    for obj in objects:
        if obj["kind"] == "HelmChart":
            assert obj["metadata"]["namespace"] == "kube-system" and obj["spec"]["repo"].startswith("https://")


def test_every_object_carries_the_workbench_label(objects):
    """Teardown finds what to delete by this label."""
    unlabelled = [name_of(o) for o in objects if o["metadata"].get("labels", {}).get("app.kubernetes.io/part-of") != "kdsw-workbench"]
    assert unlabelled == []


def test_no_container_is_privileged_except_the_device_plugin(objects):
    privileged = [(ns, name, c["name"]) for ns, name, spec in pod_specs(objects) for c in containers(spec)
                  if c.get("securityContext", {}).get("privileged") and (ns, name) not in PRIVILEGED_ALLOWED]
    assert privileged == []
    escalating = [(ns, name, c["name"]) for ns, name, spec in pod_specs(objects) for c in containers(spec)
                  if c.get("securityContext", {}).get("allowPrivilegeEscalation", True) and (ns, name) not in ROOT_ALLOWED]
    assert escalating == []


def spark_defaults(objects):
    config_map = next(o for o in objects if o["kind"] == "ConfigMap" and "spark-defaults.conf" in o.get("data", {}))
    lines = (line.split(None, 1) for line in config_map["data"]["spark-defaults.conf"].splitlines() if line.strip() and not line.startswith("#"))
    return {key: value.strip() for key, value in lines}


def test_every_container_requests_resources(objects):
    missing = []
    for ns, name, spec in pod_specs(objects):
        if name == "spark-executor":
            # Spark writes the executor container's requests and limit from its configuration.
            conf = spark_defaults(objects)
            assert {"spark.kubernetes.executor.request.cores", "spark.executor.memory", "spark.executor.cores"} <= set(conf)
            continue
        for container in containers(spec):
            resources = container.get("resources", {})
            if not {"cpu", "memory"} <= set(resources.get("requests", {})) or "memory" not in resources.get("limits", {}):
                missing.append((ns, name, container["name"]))
    assert missing == []


def test_containers_run_as_non_root(objects):
    root = []
    for ns, name, spec in pod_specs(objects):
        pod_non_root = spec.get("securityContext", {}).get("runAsNonRoot")
        for container in containers(spec):
            context = container.get("securityContext", {})
            non_root = context.get("runAsNonRoot", pod_non_root) and context.get("runAsUser", spec.get("securityContext", {}).get("runAsUser", 1)) != 0
            if not non_root and (ns, name) not in ROOT_ALLOWED:
                root.append((ns, name, container["name"]))
    assert root == []


def pinned(image):
    return ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest")


def test_images_are_pinned(objects):
    # Spark names the executors' image in its configuration, not in the pod template.
    images = [(ns, name, c.get("image") or spark_defaults(objects)["spark.kubernetes.container.image"])
              for ns, name, spec in pod_specs(objects) for c in containers(spec)]
    assert [image for image in images if not pinned(image[2])] == []
    _chart, values = chart(objects, "jupyterhub")
    notebook = values["singleuser"]["image"]
    assert notebook["tag"] and notebook["tag"] != "latest"
    gpu = next(p for p in values["singleuser"]["profileList"] if p["slug"] == "gpu")["kubespawner_override"]["image"]
    assert pinned(gpu)


def test_nothing_is_exposed_outside_the_cluster_but_the_bastion(objects):
    services = {name_of(o): o["spec"].get("type", "ClusterIP") for o in objects if o["kind"] == "Service"}
    assert services and set(services.values()) == {"ClusterIP"}
    assert [name_of(o) for o in objects if o["kind"] == "Ingress"] == []
    host_network = [(ns, name) for ns, name, spec in pod_specs(objects) if spec.get("hostNetwork")]
    host_ports = {(ns, name) for ns, name, spec in pod_specs(objects) for c in containers(spec) for p in c.get("ports", []) if "hostPort" in p}
    assert host_network == [(ns, name) for ns, name, spec in pod_specs(objects) if (ns, name) == ("kube-system", "aws-node-termination-handler")
                            and spec.get("hostNetwork")]
    assert host_ports <= HOST_PORT_ALLOWED


def test_jupyterhub_values_keep_the_policy(objects):
    _chart, values = chart(objects, "jupyterhub")
    assert values["proxy"]["service"]["type"] == "ClusterIP"
    assert values["ingress"]["enabled"] is False
    assert {"cpu", "memory"} <= set(values["hub"]["resources"]["requests"])
    assert {"cpu", "memory"} <= set(values["proxy"]["chp"]["resources"]["requests"])
    assert values["cull"]["enabled"] is True and values["cull"]["timeout"] > 0
    assert values["hub"]["db"]["type"] == "sqlite-pvc"
    profiles = {p["slug"]: p for p in values["singleuser"]["profileList"]}
    assert set(profiles) == {"small", "large", "gpu"}
    for profile in profiles.values():
        override = profile["kubespawner_override"]
        assert override["cpu_guarantee"] > 0 and override["mem_guarantee"]
    assert profiles["small"]["kubespawner_override"]["node_selector"] == {"kdsw.io/pool": "admin"}
    assert profiles["large"]["kubespawner_override"]["node_selector"] == {"kdsw.io/pool": "spark"}
    gpu = profiles["gpu"]["kubespawner_override"]
    assert gpu["node_selector"] == {"kdsw.io/pool": "gpu"}
    assert gpu["extra_resource_limits"] == {"nvidia.com/gpu": "1"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in gpu["tolerations"]
    assert all("two minutes' notice" in profiles[slug]["description"] for slug in ("large", "gpu"))
    assert "two minutes" not in profiles["small"]["description"]
    spawner = values["hub"]["config"]["KubeSpawner"]
    assert spawner["pod_security_context"]["runAsNonRoot"] is True


def test_the_hub_secret_is_not_in_the_chart_values(objects):
    helm_chart, _values = chart(objects, "jupyterhub")
    assert "stand-in-reader-password" not in json.dumps(helm_chart)


def test_efs_csi_driver_values(objects):
    _chart, values = chart(objects, "aws-efs-csi-driver")
    assert values["controller"]["create"] is False
    assert {"cpu", "memory"} <= set(values["node"]["resources"]["requests"])


def test_spark_runs_executors_on_the_spot_pool_in_client_mode(objects):
    conf = spark_defaults(objects)
    assert conf["spark.submit.deployMode"] == "client"
    assert conf["spark.kubernetes.namespace"] == "spark"
    assert conf["spark.dynamicAllocation.enabled"] == "true" and conf["spark.dynamicAllocation.shuffleTracking.enabled"] == "true"
    assert conf["spark.eventLog.dir"].startswith("s3a://kdsw-rehearsal-data-")
    assert not any("secret.key" in key or "access.key" in key for key in conf)
    selector = {k: v for k, v in conf.items() if k.startswith("spark.kubernetes.executor.node.selector.")}
    assert selector == {"spark.kubernetes.executor.node.selector.kdsw.io/pool": "spark"}


# The values we give each chart, against a schema of that chart version's documented options
# (tests/schemas/values/<chart>-<version>.yaml, written from the chart's documentation): no chart
# archive can be had at test time, and Helm would only refuse a wrong key on the cluster, if at all.
VALUES_SCHEMAS = SCHEMAS / "values"
CHARTS = ("jupyterhub", "aws-efs-csi-driver")


def values_validator(helm_chart):
    spec = helm_chart["spec"]
    path = VALUES_SCHEMAS / f"{spec['chart']}-{spec['version']}.yaml"
    assert path.is_file(), (f"no schema of the values of chart {spec['chart']} {spec['version']}: write {path.relative_to(REPO)} "
                            "from that version's documented options")
    schema = yaml.safe_load(path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def values_problems(validator, values):
    return sorted(f"{'.'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}" for error in validator.iter_errors(values))


@pytest.mark.parametrize("name", CHARTS)
def test_chart_values_are_documented_options_of_the_chart_version(objects, name):
    helm_chart, values = chart(objects, name)
    assert values_problems(values_validator(helm_chart), values) == []


def test_a_chart_version_without_a_values_schema_fails_clearly(objects):
    helm_chart, _values = chart(objects, "jupyterhub")
    bumped = json.loads(json.dumps(helm_chart))
    bumped["spec"]["version"] = "0.0.0-unknown"
    with pytest.raises(AssertionError, match="no schema of the values of chart jupyterhub 0.0.0-unknown"):
        values_validator(bumped)


def moved(values, path, new_key):
    """A copy of values with the key at path (dotted, list indexes as numbers) renamed to new_key."""
    wrong = json.loads(json.dumps(values))
    *parents, key = path.split(".")
    node = wrong
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[new_key] = node.pop(key)
    return wrong


@pytest.mark.parametrize(("name", "path", "misspelt"), [
    ("jupyterhub", "singleuser.profileList", "profilelist"),
    ("jupyterhub", "cull.timeout", "timout"),
    ("jupyterhub", "hub.extraConfig", "extraconfig"),
    ("jupyterhub", "singleuser.networkPolicy.egressAllowRules.cloudMetadataServer", "cloudMetadataServers"),
    ("jupyterhub", "singleuser.profileList.0.kubespawner_override", "kubespawner_overrides"),
    ("jupyterhub", "scheduling.userScheduler", "userscheduler"),
    ("aws-efs-csi-driver", "controller.create", "enabled"),
    ("aws-efs-csi-driver", "sidecars.nodeDriverRegistrar", "nodeDriverRegister"),
    ("aws-efs-csi-driver", "node.resources", "resource"),
])
def test_a_misspelt_chart_value_is_refused(objects, name, path, misspelt):
    helm_chart, values = chart(objects, name)
    problems = values_problems(values_validator(helm_chart), moved(values, path, misspelt))
    assert any(f"'{misspelt}'" in problem and "unexpected" in problem for problem in problems), problems


@pytest.mark.parametrize(("path", "value"), [
    ("cull.timeout", "3600"),
    ("hub.db.type", "sqlite"),
    ("proxy.service.type", "Internal"),
    ("scheduling.userPods.nodeAffinity.matchNodePurpose", "ignored"),
    ("singleuser.storage.type", "static-pvc"),
    # Documented: the metadata server cannot be both let through by the policy and blocked by iptables.
    ("singleuser.cloudMetadata.blockWithIptables", True),
])
def test_a_jupyterhub_value_of_the_wrong_type_is_refused(objects, path, value):
    helm_chart, values = chart(objects, "jupyterhub")
    wrong = json.loads(json.dumps(values))
    *parents, key = path.split(".")
    node = wrong
    for part in parents:
        node = node[part]
    node[key] = value
    problems = values_problems(values_validator(helm_chart), wrong)
    assert any(problem.startswith(f"{path}: ") for problem in problems), problems


def test_spot_interruption_handler_watches_spot_nodes(objects):
    handler = [o for o in objects if o["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "aws-node-termination-handler"]
    assert {o["kind"] for o in handler} == {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "DaemonSet"}
    spec = next(o for o in handler if o["kind"] == "DaemonSet")["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux", "kdsw.io/lifecycle": "spot"}
    assert {"operator": "Exists"} in spec["tolerations"]
    (container,) = spec["containers"]
    assert container["image"].startswith("public.ecr.aws/aws-ec2/aws-node-termination-handler:v1.")
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["ENABLE_SPOT_INTERRUPTION_DRAINING"] == "true" and env["ENABLE_SQS_TERMINATION_DRAINING"] == "false"


def test_device_plugin_runs_only_on_gpu_nodes(objects):
    daemonset = next(o for o in objects if o["kind"] == "DaemonSet" and o["metadata"]["name"] == "nvidia-device-plugin")
    spec = daemonset["spec"]["template"]["spec"]
    assert spec["nodeSelector"]["kdsw.io/gpu"] == "true"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert spec["runtimeClassName"] == "nvidia"
    assert spec["containers"][0]["image"].startswith("nvcr.io/nvidia/k8s-device-plugin:v0.")
    assert next(o for o in objects if o["kind"] == "RuntimeClass")["handler"] == "nvidia"
    # Nothing else tolerates the GPU taint but the GPU server profile (in the chart values) and the
    # interruption handler, which tolerates everything to drain any spot node.
    tolerating = {name for ns, name, spec in pod_specs(objects)
                  if any(t.get("key") == "nvidia.com/gpu" for t in spec.get("tolerations", []))}
    assert tolerating == {"nvidia-device-plugin"}
