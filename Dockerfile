# syntax=docker/dockerfile:1
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir .

FROM python:3.11-slim-bookworm
# pg_dump, for spec.database.deletionPolicy: Archive
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client=15+248+deb12u1 \
    && rm -rf /var/lib/apt/lists/*
LABEL org.opencontainers.image.title="tenant-operator" \
      org.opencontainers.image.description="A Kubernetes operator that runs a multi-tenant platform declaratively."
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["tenant-operator"]
CMD ["run", "--json-logs"]
