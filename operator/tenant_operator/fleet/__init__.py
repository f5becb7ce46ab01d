"""The FleetUpdate kind: one product updated across many tenants (or one tenant's endpoints) in staged waves."""
