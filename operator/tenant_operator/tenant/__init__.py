"""The Tenant kind: model (schema and validation), pure rendering, and kopf handlers."""
