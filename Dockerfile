# The in-cluster controller, `python -m reconciler.controller` (README, "The in-cluster controller"): the reconciler
# and its cloud adapters, without Pulumi. Pushed by .github/workflows/image.yml; deployed by the program
# (components/controller.py), which sets the command, the probes and a read-only root file system.
# An exact tag of the official image (3.11.14 on Debian trixie); pin its digest as well where the registry can
# be asked for it (FROM python:3.11.14-slim-trixie@sha256:...).
FROM python:3.11.14-slim-trixie

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app

# Dependencies first, so a change of the code alone reuses this layer. The file pins every distribution,
# those pulled in too, so nothing unpinned is installed.
COPY requirements-controller.txt .
RUN pip install --no-cache-dir --no-deps -r requirements-controller.txt

COPY cloud/ cloud/
COPY reconciler/ reconciler/

# A numeric user, so that the pod's `runAsNonRoot` can verify it (components/controller.py RUN_AS).
RUN groupadd --system --gid 10001 controller \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin controller
USER 10001:10001

# Prometheus metrics, and the probes of the Deployment.
EXPOSE 9102
ENTRYPOINT ["python", "-m", "reconciler.controller"]
