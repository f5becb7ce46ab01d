"""A PostgreSQL database per tenant: naming, SQL and migrations (pure), provisioning (I/O)."""
