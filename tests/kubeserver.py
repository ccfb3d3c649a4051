"""The fake Kubernetes API server, kept importable as `from tests.kubeserver import KubeServer`.

It lives in the package tests/kube/ (one module per part); see its docstring.
"""

from tests.kube import (  # noqa: F401 - re-exported
    ENS_INSTANCE_LABEL,
    NODE_POOLS,
    POOL_LABEL,
    POOL_SERVICES,
    SERVICE_NAME_LABEL,
    ApiError,
    CustomResource,
    Fault,
    KubeServer,
    Outage,
    Request,
)
