-- secrets, server-side experiment jobs and their logs, job leases
--
-- Secrets hold an organization's provider credentials, encrypted by the services before they reach
-- the database (AES-GCM under a key derived from PHOENIX_SECRET): the database never sees a key.
CREATE TABLE secrets (
    org_id bigint NOT NULL,
    key text NOT NULL CHECK (length(key) BETWEEN 1 AND 256),
    value bytea NOT NULL,
    user_id bigint REFERENCES users (id) ON DELETE SET NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, key)
);
-- A job runs an experiment on the server; it shares the experiment's id. `task` is the prompt it runs
-- (provider, model, template, invocation parameters, tools), snapshotted when the job was created.
CREATE TABLE experiment_jobs (
    id bigint PRIMARY KEY REFERENCES experiments (id) ON DELETE CASCADE,
    org_id bigint NOT NULL,
    type text NOT NULL DEFAULT 'PROMPT' CHECK (type IN ('PROMPT')),
    status text NOT NULL CHECK (status IN ('RUNNING', 'COMPLETED', 'STOPPED', 'ERROR')),
    max_concurrency integer NOT NULL CHECK (max_concurrency BETWEEN 1 AND 1000),
    task jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_experiment_jobs_org ON experiment_jobs (org_id, id);
CREATE TABLE experiment_logs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id bigint NOT NULL,
    experiment_id bigint NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    category text NOT NULL CHECK (category IN ('TASK', 'EVAL', 'EXPERIMENT')),
    level text NOT NULL CHECK (level IN ('ERROR', 'WARN', 'INFO')),
    message text NOT NULL,
    detail jsonb
);
CREATE INDEX ix_experiment_logs_experiment ON experiment_logs (org_id, experiment_id, id);
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['secrets', 'experiment_jobs', 'experiment_logs'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I USING (org_id = cinder_org()) WITH CHECK (org_id = cinder_org())', t);
    END LOOP;
END $$;
-- The runnable jobs of the whole installation, and which runner holds each: runners look here before
-- they know an organization (row-level security would show them nothing), so the table holds ids and
-- lease times only. A row exists while its job is RUNNING; a runner claims one whose lease is free or
-- expired (FOR UPDATE SKIP LOCKED), renews the lease while it works, and deletes the row when done.
CREATE TABLE job_leases (
    job_id bigint PRIMARY KEY REFERENCES experiment_jobs (id) ON DELETE CASCADE,
    organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    claimed_by text,
    lease_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_job_leases_lease ON job_leases (lease_until NULLS FIRST, job_id);
