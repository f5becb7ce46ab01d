# syntax=docker/dockerfile:1

# Build stage: the operator's wheel, built with a pinned setuptools and no build isolation (so nothing unpinned
# is fetched), then a virtualenv with the wheel and its dependencies at the versions in constraints.txt.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY constraints.txt ./
RUN python -m venv /opt/build-tools \
    && /opt/build-tools/bin/pip install --no-cache-dir --constraint constraints.txt setuptools==84.2.1
COPY pyproject.toml README.md ./
COPY operator ./operator
# The runtime virtualenv gets no pip or setuptools of its own: the build tools' pip installs into it.
RUN /opt/build-tools/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels . \
    && python -m venv --without-pip /opt/venv \
    && /opt/build-tools/bin/pip --python /opt/venv/bin/python install --no-cache-dir \
        --constraint constraints.txt /wheels/tenant_operator-*.whl

# Final stage: the slim runtime, the virtualenv and pg_dump; no compilers, no build tools, not root.
FROM python:3.11-slim-bookworm
# pg_dump, for spec.database.deletionPolicy: Archive
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client=15+248+deb12u2 \
    && rm -rf /var/lib/apt/lists/*
LABEL org.opencontainers.image.title="tenant-operator" \
      org.opencontainers.image.description="A Kubernetes operator that runs a multi-tenant platform declaratively."
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["tenant-operator"]
CMD ["run", "--json-logs"]
