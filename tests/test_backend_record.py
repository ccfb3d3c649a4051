"""The record client (reconciler/record.py) with the official Kubernetes client against the fake API server,
which serves the BackendGroup CRD from the repository's file (schema validation, status subresource,
resourceVersion preconditions): create and update of the spec, intent before a batch and result after it,
409 conflicts re-read and retried (bounded), nothing written when nothing changes, the CRD installed when
missing, and waiting for another writer's Synced."""

from __future__ import annotations

import threading

import pytest
import yaml
from kubernetes import config as k8s_config

from reconciler.model import Backend, Intent
from reconciler.record import (
    CRD_FILE,
    PLURAL,
    SERVICE_LABEL,
    BackendRecord,
    CrdNotInstalled,
    RecordConflict,
    condition,
    is_synced,
    owned_from,
    record_name,
    spec_for,
    unfinished,
)
from tests.kubeserver import KubeServer
from tests.test_backend_record_crd import validator

NS = "default"
NAME = record_name("cube-svc", "ens", "lb-5abc")
SPEC = spec_for(kind="ens", group_id="lb-5abc", service="cube-svc", mode="cluster", port_name="http",
                pools=["np-hefei"])
A, B, C = Backend("i-a"), Backend("i-b"), Backend("i-c")


@pytest.fixture
def kube():
    with KubeServer(token="t") as server:
        server.register_crd(CRD_FILE)
        yield server


@pytest.fixture
def api(kube):
    client = k8s_config.new_client_from_config_dict(yaml.safe_load(kube.kubeconfig("t")), persist_config=False)
    yield client
    client.close()


def record(api, **options):
    return BackendRecord(api, NS, NAME, sleep=lambda _s: None, **options)


def stored(kube):
    return kube.custom_object(PLURAL, NAME, NS)


def writes(kube, suffix=""):
    return [r for r in kube.requests if r.method != "GET" and PLURAL in r.path and r.path.endswith(suffix)]


def test_ensure_creates_the_record_then_moves_its_generation_only_with_the_spec(kube, api):
    rec = record(api)
    assert rec.read() is None
    assert rec.ensure(SPEC) == 1
    obj = stored(kube)
    assert obj["spec"] == SPEC and obj["metadata"]["labels"][SERVICE_LABEL] == "cube-svc"
    assert rec.ensure(SPEC) == 1 and len(writes(kube)) == 1  # unchanged: no write
    assert record(api).ensure({**SPEC, "pools": ["np-hefei", "np-wuhu"]}) == 2
    assert stored(kube)["spec"]["pools"] == ["np-hefei", "np-wuhu"]
    del_port = {k: v for k, v in SPEC.items() if k != "portName"}
    assert record(api).ensure(del_port) == 3 and "portName" not in stored(kube)["spec"]


def test_intent_before_each_batch_and_the_result_after_it(kube, api):
    rec = record(api)
    rec.ensure(SPEC)
    rec.begin(Intent.start("add", [B, C]), [A])
    obj = stored(kube)
    assert obj["status"]["intent"]["op"] == "add" and obj["status"]["owned"] == [A.as_dict()]
    assert not list(validator().iter_errors(obj))
    # A crash now: the add may have gone through, so its servers count as owned.
    assert set(owned_from(obj["status"])) == {A.key, B.key, C.key}
    assert unfinished(obj).startswith("a add batch of 2 servers")
    rec.finish([A, B, C.with_weight(0)], "hash-1", without_port=2)
    status = stored(kube)["status"]
    assert "intent" not in status and "lastError" not in status
    assert status["counts"] == {"total": 3, "serving": 2, "draining": 1, "withoutPort": 2}
    assert (status["desiredHash"], status["observedGeneration"]) == ("hash-1", 1)
    assert is_synced(stored(kube), 1) and not is_synced(stored(kube), 2) and unfinished(stored(kube)) is None
    assert not list(validator().iter_errors(stored(kube)))


def test_a_spec_changed_during_a_sync_is_not_reported_as_synced(kube, api):
    rec = record(api)
    assert rec.ensure(SPEC) == 1
    rec.begin(Intent.start("add", [A]), [])
    assert record(api).ensure({**SPEC, "mode": "local"}) == 2  # `pulumi up` (or an edit) while the sync runs
    rec.finish([A], "hash-1")
    obj = stored(kube)
    assert obj["status"]["observedGeneration"] == 1 and not is_synced(obj, 2)
    assert unfinished(obj) == "generation 2 not synced yet"


def test_only_an_add_intent_adds_to_what_is_owned():
    for op in ("update", "drain", "remove"):
        status = {"owned": [A.as_dict()], "intent": Intent.start(op, [B]).as_dict()}
        assert set(owned_from(status)) == {A.key}, op
    assert owned_from(None) == {} and owned_from({}) == {}


def test_a_failure_keeps_the_intent_and_says_why(kube, api):
    rec = record(api)
    rec.ensure(SPEC)
    rec.finish([A], "hash-1")
    since = condition(stored(kube))["lastTransitionTime"]
    rec.begin(Intent.start("remove", [A]), [A])
    rec.fail("RemoveBackendServers: InvalidParameter")
    obj = stored(kube)
    synced = condition(obj)
    assert (synced["status"], synced["reason"]) == ("False", "SyncFailed")
    assert obj["status"]["lastError"] == "RemoveBackendServers: InvalidParameter"
    assert obj["status"]["intent"]["op"] == "remove" and unfinished(obj).startswith("the last sync failed")
    assert not list(validator().iter_errors(obj))
    rec.finish([], "hash-2")
    obj = stored(kube)
    assert "lastError" not in obj["status"] and condition(obj)["status"] == "True"
    assert since  # lastTransitionTime is kept while the status stays, set again when it flips


def test_a_sync_with_nothing_to_do_writes_nothing(kube, api):
    rec = record(api)
    rec.ensure(SPEC)
    rec.finish([A, B], "hash-1")
    before = len(writes(kube))
    again = record(api)
    again.ensure(SPEC)
    again.finish([B, A], "hash-1")
    assert len(writes(kube)) == before


def test_a_conflicting_status_write_is_read_again_and_retried(kube, api):
    rec = record(api)
    rec.ensure(SPEC)
    fired = []

    def someone_else_writes_first(call):
        if call.method == "PATCH" and call.parts[-1] == "status" and not fired:
            fired.append(1)
            kube.edit(PLURAL, NAME, {"metadata": {"annotations": {"example.com/touched": "yes"}}}, NS)

    kube.hooks.append(someone_else_writes_first)
    rec.begin(Intent.start("add", [A]), [])
    status_writes = writes(kube, "/status")
    assert len(status_writes) == 2 and fired  # 409, then the re-read object's resourceVersion
    obj = stored(kube)
    assert obj["status"]["intent"]["backends"] == [A.as_dict()]
    assert obj["metadata"]["annotations"] == {"example.com/touched": "yes"}  # the other write stays


def test_a_spec_write_conflict_is_retried_too(kube, api):
    record(api).ensure(SPEC)
    rec = record(api)
    rec.read()
    kube.edit(PLURAL, NAME, {"metadata": {"labels": {"team": "edge"}}}, NS)  # after our read
    fired = []

    def bump_once(call):
        if call.method == "PATCH" and call.parts[-1] == NAME and not fired:
            fired.append(1)
            kube.edit(PLURAL, NAME, {"metadata": {"annotations": {"n": "1"}}}, NS)

    kube.hooks.append(bump_once)
    assert rec.ensure({**SPEC, "mode": "local"}) == 2
    assert stored(kube)["spec"]["mode"] == "local" and stored(kube)["metadata"]["labels"]["team"] == "edge"


def test_conflicts_are_retried_a_bounded_number_of_times(kube, api):
    rec = record(api, attempts=3)
    rec.ensure(SPEC)
    count = []

    def always_first(call):
        if call.method == "PATCH" and call.parts[-1] == "status":
            count.append(1)
            kube.edit(PLURAL, NAME, {"metadata": {"annotations": {"n": str(len(count))}}}, NS)

    kube.hooks.append(always_first)
    with pytest.raises(RecordConflict, match="still conflicted after 3 attempts"):
        rec.finish([A], "hash-1")
    assert len(count) == 3


def test_a_missing_crd_is_installed_from_the_repository_s_file():
    with KubeServer(token="t") as bare:
        client = k8s_config.new_client_from_config_dict(yaml.safe_load(bare.kubeconfig("t")), persist_config=False)
        try:
            rec = BackendRecord(client, NS, NAME)
            with pytest.raises(CrdNotInstalled, match="kubectl apply -f reconciler/crd/backendgroups.yaml"):
                rec.read()
            assert rec.ensure(SPEC) == 1
            assert [r.path for r in bare.requests if r.method == "POST"][0].endswith("customresourcedefinitions")
            assert bare.custom_object(PLURAL, NAME, NS)["spec"] == SPEC
        finally:
            client.close()


def test_waiting_for_another_writer_s_synced_and_timing_out(kube, api):
    rec = record(api)
    generation = rec.ensure(SPEC)
    with pytest.raises(TimeoutError, match=r"Synced=True at generation 1 within 0.2 s \(generation 1, "
                                           r"observedGeneration none, Synced=none\)"):
        BackendRecord(api, NS, NAME).wait_synced(generation, 0.2, 0.05)
    other = record(api)
    timer = threading.Timer(0.3, lambda: other.finish([A], "hash-1", generation=generation))
    timer.start()
    try:
        obj = BackendRecord(api, NS, NAME).wait_synced(generation, 5, 0.05)
    finally:
        timer.join()
    assert obj["status"]["owned"] == [A.as_dict()]
