"""Cluster reader of BackendSync: the Nodes and a Service's EndpointSlices, read with the official client.

Choices (FACTS section 4, checked against kubernetes 37.0.2 and a fake API server, tests/kubeserver.py):
- Lists are read as API JSON (`_preload_content=False`), not as the client's models: the wire format is the
  Kubernetes API contract, while model attribute names change between client versions (`var_continue`), the
  strict models reject a whole page for one odd object, and older clients raised ValueError on the
  placeholder slice. (Version 37's models accept it: `endpoints` and `ports` come back as None.)
- The placeholder slice of a Service without endpoints (`endpoints`/`ports` null) reads as no backends; a
  missing Service is an error, so a typo cannot read as "no backends" and drain a load balancer.
- Conditions: null `ready` is true (API docs), null `terminating` false, null `serving` takes `ready`'s value.
- No retry loop here: urllib3 already retries 429/503 answers that carry Retry-After three times. The
  client from `load_api_client` caps the wait at RETRY_AFTER_MAX; every call has REQUEST_TIMEOUT.
- Instance ids: label `alibabacloud.com/ens-instance-id` (ENS nodes; ACK Edge leaves their providerID empty),
  else spec.providerID in the forms Alibaba's cloud-controller-manager parses (NodeFromProviderID in
  kubernetes/cloud-provider-alibaba-cloud pkg/controller/helper/node_utils.go): `<region>.<instance>`
  (`cn-hangzhou.i-bp1abc`) and `alicloud://<region>.<instance>`. `ack-hybrid://...` (hybrid nodes, which the
  CCM excludes), other schemes and malformed ids give None: a guessed id would register a wrong backend.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional

import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from cloud.credentials import KUBE_CONTEXT_CONFIG, KUBECONFIG_CONFIG

POOL_LABEL = "apps.openyurt.io/nodepool"
ENS_INSTANCE_LABEL = "alibabacloud.com/ens-instance-id"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
PAGE_LIMIT = 500
MAX_PAGES = 2000  # a million objects: beyond that the server is handing out continue tokens in a loop
REQUEST_TIMEOUT = (10.0, 60.0)  # connect, read (s): the client's default is to wait forever
RETRY_AFTER_MAX = 30  # urllib3 would honour a Retry-After of up to 6 hours, three times over
DEFAULT_KUBECONFIG = "~/.kube/config"


class KubeconfigError(Exception):
    """The client configuration could not be loaded; the message names the source, never its content."""


class ClusterReadError(Exception):
    def __init__(self, message: str, status: Optional[int] = None, reason: Optional[str] = None):
        super().__init__(message)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class NodeInfo:
    name: str
    pool: Optional[str]
    ready: bool
    schedulable: bool
    instance_id: Optional[str]
    internal_ip: Optional[str]


@dataclass(frozen=True)
class EndpointInfo:
    ip: str
    node: Optional[str]
    ready: bool
    serving: bool
    terminating: bool
    port: Optional[int]


@dataclass(frozen=True)
class ClusterView:
    nodes: tuple[NodeInfo, ...]
    endpoints: tuple[EndpointInfo, ...]


# --- client configuration ---------------------------------------------------------------------------

def load_api_client(config: Optional[Mapping[str, Any]] = None) -> k8s.ApiClient:
    """A Kubernetes client for the cluster pulumi-kubernetes would use, from the provider configuration.

    `config` is a dynamic provider's configuration (`credentials.provider_config(..., kubernetes=True)`):
    - `kubernetes:kubeconfig`: a path when a file exists there (`~` expanded), else kubeconfig content (YAML or
      JSON text, or a mapping), as pulumi-kubernetes decides (provider/pkg/provider/util.go
      `parseKubeconfigString`, used by provider.go `Configure`);
    - `kubernetes:context`: the context to use instead of the kubeconfig's current-context.
    Without `kubernetes:kubeconfig`: $KUBECONFIG (a list of paths, as kubectl reads it), else ~/.kube/config,
    else the in-cluster service account. A KubeconfigError names where the configuration came from, never
    its content. The client retries as urllib3 does, with a bounded Retry-After wait.
    """
    config = config or {}
    setting, context = config.get(KUBECONFIG_CONFIG), config.get(KUBE_CONTEXT_CONFIG) or None
    configuration = k8s.Configuration()
    # Same three retries as urllib3's default, with a bounded Retry-After wait.
    configuration.retries = urllib3.Retry(total=3, retry_after_max=RETRY_AFTER_MAX)
    # The loader's KUBE_CONFIG_DEFAULT_LOCATION is read from the environment at import: read it now instead.
    paths = os.environ.get("KUBECONFIG") or ""
    path = _kubeconfig_path(setting)
    source = (f"{KUBECONFIG_CONFIG} (the file {path})" if path else
              f"{KUBECONFIG_CONFIG} (kubeconfig content)" if setting not in (None, "") else
              f"KUBECONFIG={paths}" if paths else DEFAULT_KUBECONFIG)
    source += f" with {KUBE_CONTEXT_CONFIG} {context!r}" if context else ""
    # persist_config=False: a token refresh must not write anything anywhere.
    options = {"context": context, "persist_config": False, "client_configuration": configuration}
    try:
        if path or (not setting and (paths or os.path.exists(os.path.expanduser(DEFAULT_KUBECONFIG)))):
            return k8s_config.new_client_from_config(path or paths or DEFAULT_KUBECONFIG, **options)
        if setting not in (None, ""):
            document = yaml.safe_load(setting) if isinstance(setting, str) else setting
            if not isinstance(document, dict):
                raise KubeconfigError(f"{KUBECONFIG_CONFIG} is neither the path of an existing file nor kubeconfig "
                                      f"content (a YAML mapping, here a {type(document).__name__})")
            return k8s_config.new_client_from_config_dict(document, **options)
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            source = "the in-cluster service account"
            k8s_config.load_incluster_config(client_configuration=configuration)
            return k8s.ApiClient(configuration)
    except KubeconfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - yaml, ConfigException, OSError, ...: all become one clear error
        raise KubeconfigError(f"cannot load the Kubernetes client configuration from {source}: "
                              f"{_describe(exc)}") from None  # the cause could print secrets
    raise KubeconfigError(f"no Kubernetes client configuration: set {KUBECONFIG_CONFIG} (a path or the content, "
                          f"as a secret stack value), set KUBECONFIG, or create {DEFAULT_KUBECONFIG}")


def _kubeconfig_path(setting: Any) -> Optional[str]:
    """The file `kubernetes:kubeconfig` names, or None when it is content (parseKubeconfigString: `~` and `~/...`
    are expanded, then a value that names an existing file is a path)."""
    if not isinstance(setting, str) or not setting or "\n" in setting:
        return None
    candidate = os.path.expanduser(setting) if setting == "~" or setting.startswith("~/") else setting
    return candidate if os.path.exists(candidate) else None


def _describe(exc: BaseException) -> str:
    """The loader's complaint without content: YAML errors quote the offending line, ConfigException
    messages embed whole kubeconfig entries (`{'name': ..., 'user': {'token': ...}}`) for files."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"not valid YAML: {exc.problem} at line {mark.line + 1}, column {mark.column + 1}"
    if isinstance(exc, yaml.YAMLError):
        return "not valid YAML"
    if isinstance(exc, OSError):
        return f"{exc.strerror or type(exc).__name__}: {exc.filename}"
    return f"{type(exc).__name__}: {re.sub(r'{.*}', '{...}', str(exc), flags=re.S)}"


# --- reading ----------------------------------------------------------------------------------------

def read_cluster(api: k8s.ApiClient, namespace: str, service: str, port_name: Optional[str]) -> ClusterView:
    """Every Node, and every IPv4 endpoint address of the Service with its port named `port_name`."""
    core, discovery = k8s.CoreV1Api(api), k8s.DiscoveryV1Api(api)
    what = f"Service {namespace}/{service}"
    svc = _call(what, "read the Service", core.read_namespaced_service, service, namespace)
    wanted = port_name or ""
    names = [p.get("name") or "" for p in (svc.get("spec") or {}).get("ports") or []]
    if wanted not in names:
        raise ClusterReadError(f"{what} has no port named {wanted!r} (its ports: {', '.join(map(repr, names))})")
    nodes = [node_info(n) for n in _pages(what, "list Nodes", core.list_node)]
    slices = _pages(what, "list EndpointSlices", discovery.list_namespaced_endpoint_slice, namespace,
                    label_selector=f"{SERVICE_NAME_LABEL}={service}")
    return view_of(nodes, slices, wanted)


def view_of(nodes: Iterable[NodeInfo], slices: Iterable[dict[str, Any]], port_name: str) -> ClusterView:
    """The view from the nodes as `node_info` reads them and EndpointSlice objects in API JSON (a list's items,
    or a watch cache's objects)."""
    infos = sorted(nodes, key=lambda n: n.name)
    endpoints = sorted((e for s in slices for e in _endpoints(s, port_name)),
                       key=lambda e: (e.ip, e.port or 0, e.node or ""))
    return ClusterView(tuple(infos), tuple(endpoints))


def _call(what: str, action: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        response = method(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **kwargs)
    except ApiException as exc:
        raise _api_error(what, action, exc) from exc
    except urllib3.exceptions.HTTPError as exc:  # refused, reset, timed out (after urllib3's own retries)
        raise ClusterReadError(f"{what}: cannot {action}: {type(exc).__name__}: {exc}") from exc
    try:
        body = json.loads(response.data)
    except ValueError:
        raise ClusterReadError(f"{what}: cannot {action}: the answer is not JSON") from None
    finally:
        response.release_conn()
    if not isinstance(body, dict):
        raise ClusterReadError(f"{what}: cannot {action}: the answer is not a JSON object")
    return body


def _api_error(what: str, action: str, exc: ApiException) -> ClusterReadError:
    """Status, reason and message of the API's Status answer (the HTTP phrase when the body is not one)."""
    try:
        status_obj = json.loads(exc.body or "{}")
    except ValueError:
        status_obj = {}
    status_obj = status_obj if isinstance(status_obj, dict) else {}
    reason = status_obj.get("reason") or exc.reason
    message = status_obj.get("message") or ""
    retried = bool((exc.headers or {}).get("Retry-After"))  # urllib3 retries a 429 only when it says when
    hint = {401: "the kubeconfig's credentials were refused",
            403: "the identity needs get services, list nodes and list endpointslices",
            429: "still throttled after the client's three retries" if retried else None}.get(exc.status or 0)
    text = f"{what}: cannot {action}: HTTP {exc.status} {reason}" + (f": {message}" if message else "")
    return ClusterReadError(text + (f" ({hint})" if hint else ""), exc.status, reason)


def _pages(what: str, action: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Items of a list, page by page, following `continue` until the server gives none."""
    token: Optional[str] = None
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        page = _call(what, action, method, *args, limit=PAGE_LIMIT, _continue=token, **kwargs)
        yield from page.get("items") or []
        token = (page.get("metadata") or {}).get("continue") or None
        if token is None:
            return
        if token in seen:
            raise ClusterReadError(f"{what}: cannot {action}: the API server repeated a continue token")
        seen.add(token)
    raise ClusterReadError(f"{what}: cannot {action}: more than {MAX_PAGES} pages of {PAGE_LIMIT}")


def node_info(node: dict[str, Any]) -> NodeInfo:
    meta, spec, status = (node.get(k) or {} for k in ("metadata", "spec", "status"))
    labels = meta.get("labels") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    internal = [a.get("address") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"]
    # A dual-stack node lists an IPv6 InternalIP too; the load balancers here speak IPv4.
    internal_ip = next((a for a in internal if _ipv4(a)), None)
    instance_id = labels.get(ENS_INSTANCE_LABEL) or instance_id_from_provider_id(spec.get("providerID"))
    return NodeInfo(name=meta.get("name") or "", pool=labels.get(POOL_LABEL) or None, ready=ready,
                    schedulable=not spec.get("unschedulable"), instance_id=instance_id, internal_ip=internal_ip)


def instance_id_from_provider_id(provider_id: Optional[str]) -> Optional[str]:
    """`cn-hangzhou.i-bp1abc` and `alicloud://cn-hangzhou.i-bp1abc` -> `i-bp1abc`; anything else -> None."""
    rest = provider_id or ""
    if "://" in rest:
        scheme, _, rest = rest.partition("://")
        if scheme != "alicloud":
            return None
    region, _, instance = rest.partition(".")
    if not region or not instance or any(c in instance for c in "./:") or "/" in region:
        return None
    return instance


def _endpoints(endpoint_slice: dict[str, Any], port_name: str) -> Iterator[EndpointInfo]:
    # IPv6 slices of a dual-stack Service and (deprecated) FQDN slices carry no address the LB can use.
    if endpoint_slice.get("addressType") != "IPv4":
        return
    # `or []`: the placeholder slice has null ports and endpoints.
    port = next((p.get("port") for p in endpoint_slice.get("ports") or [] if (p.get("name") or "") == port_name),
                None)
    for endpoint in endpoint_slice.get("endpoints") or []:
        conditions = endpoint.get("conditions") or {}
        ready = conditions.get("ready") is not False
        serving = ready if conditions.get("serving") is None else bool(conditions["serving"])
        terminating = conditions.get("terminating") is True
        for address in endpoint.get("addresses") or []:
            if _ipv4(address):
                yield EndpointInfo(ip=address, node=endpoint.get("nodeName") or None, ready=ready,
                                   serving=serving, terminating=terminating, port=port)


def _ipv4(text: Optional[str]) -> bool:
    try:
        ipaddress.IPv4Address(text or "")
        return True
    except ValueError:
        return False
