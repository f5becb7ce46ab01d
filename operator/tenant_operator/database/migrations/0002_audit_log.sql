-- The tenant's own security audit log.
CREATE TABLE audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event      text NOT NULL,
    severity   text NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    actor      text,
    details    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX audit_log_created_at ON audit_log (created_at);
