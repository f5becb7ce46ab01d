"""tenant-operator: a Kubernetes operator that runs a multi-tenant platform declaratively."""

__version__ = "0.1.0"
