"""The Kubernetes API emulator behaves like an API server where the apply flows depend on it.

Driven with the official Python client, the same one kubernetes.core uses.
"""

import json

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException


@pytest.fixture
def api(kube):
    return kubernetes.config.new_client_from_config(config_file=str(kube.kubeconfig))


@pytest.fixture
def core(api):
    return kubernetes.client.CoreV1Api(api)


def config_map(name, namespace="work", data=None):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
            "data": data or {"key": "value"}}


def namespace(name):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def test_requests_without_the_token_are_refused(kube):
    unauthenticated = kubernetes.client.ApiClient(kubernetes.client.Configuration(host=kube.url()))
    with pytest.raises(ApiException) as refused:
        kubernetes.client.CoreV1Api(unauthenticated).list_namespace()
    assert refused.value.status == 401


def test_a_fresh_cluster_has_the_k3s_namespaces_only(core):
    assert sorted(n.metadata.name for n in core.list_namespace().items) == ["default", "kube-node-lease", "kube-public", "kube-system"]


def test_objects_need_their_namespace(core):
    with pytest.raises(ApiException) as missing:
        core.create_namespaced_config_map("work", config_map("settings"))
    assert missing.value.status == 404 and json.loads(missing.value.body)["message"] == 'namespaces "work" not found'


def test_create_twice_conflicts_and_get_returns_server_fields(core):
    core.create_namespace(namespace("work"))
    created = core.create_namespaced_config_map("work", config_map("settings"))
    assert created.metadata.uid and created.metadata.resource_version and created.metadata.creation_timestamp
    with pytest.raises(ApiException) as conflict:
        core.create_namespaced_config_map("work", config_map("settings"))
    assert conflict.value.status == 409
    assert core.read_namespaced_config_map("settings", "work").data == {"key": "value"}


def test_dry_run_stores_nothing(core, kube):
    core.create_namespace(namespace("work"))
    mark = kube.log_offset()
    core.create_namespaced_config_map("work", config_map("settings"), dry_run="All")
    with pytest.raises(ApiException) as absent:
        core.read_namespaced_config_map("settings", "work")
    assert absent.value.status == 404
    assert kube.writes(mark) == []


def test_an_unchanged_patch_keeps_the_resource_version_and_is_no_write(core, kube):
    core.create_namespace(namespace("work"))
    first = core.create_namespaced_config_map("work", config_map("settings")).metadata.resource_version
    mark = kube.log_offset()
    same = core.patch_namespaced_config_map("settings", "work", {"data": {"key": "value"}}).metadata.resource_version
    assert same == first and kube.writes(mark) == []
    changed = core.patch_namespaced_config_map("settings", "work", {"data": {"key": "other"}})
    assert changed.metadata.resource_version != first and changed.data == {"key": "other"}
    assert [(w["verb"], w["name"]) for w in kube.writes(mark)] == [("patch", "settings")]


def test_replace_with_a_stale_resource_version_conflicts(core):
    core.create_namespace(namespace("work"))
    stale = core.create_namespaced_config_map("work", config_map("settings"))
    core.patch_namespaced_config_map("settings", "work", {"data": {"key": "newer"}})
    body = config_map("settings", data={"key": "mine"})
    body["metadata"]["resourceVersion"] = stale.metadata.resource_version
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_config_map("settings", "work", body)
    assert conflict.value.status == 409


def test_label_selectors_filter_lists(core):
    core.create_namespace(namespace("work"))
    for name in ("alpha", "beta"):
        core.create_namespaced_config_map("work", config_map(name))
    assert [c.metadata.name for c in core.list_namespaced_config_map("work", label_selector="app=beta").items] == ["beta"]
    assert len(core.list_namespaced_config_map("work", label_selector="app").items) == 2
    assert core.list_namespaced_config_map("work", label_selector="app!=alpha,app!=beta").items == []


def test_secret_string_data_is_stored_as_data(core):
    core.create_namespace(namespace("work"))
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pw", "namespace": "work"}, "stringData": {"password": "s3cret"}}
    stored = core.create_namespaced_secret("work", secret)
    assert stored.data == {"password": "czNjcmV0"} and not stored.string_data


def test_deleting_a_namespace_deletes_its_objects(core, kube):
    core.create_namespace(namespace("work"))
    core.create_namespaced_config_map("work", config_map("settings"))
    core.create_namespaced_config_map("kube-system", config_map("elsewhere", namespace="kube-system"))
    core.delete_namespace("work")
    assert [c.metadata.name for c in core.list_config_map_for_all_namespaces().items] == ["elsewhere"]
    assert [(w["verb"], w["resource"], w["name"]) for w in kube.writes()][-1] == ("delete", "namespaces", "work")


def test_kind_and_url_must_agree(core):
    core.create_namespace(namespace("work"))
    wrong = config_map("settings")
    wrong["kind"] = "Secret"
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_config_map("work", wrong)
    assert refused.value.status == 400
