-- online evaluation: rules on a project, and the queue of spans they are to score
--
-- A rule scores a sample of a project's spans with an evaluator (its definition copied into the rule,
-- as a job copies its evaluators), those matching its filter condition, as span annotations named after
-- the rule. Ingestion feeds the queue in the statement that inserts the spans, so a span is queued if and
-- only if it is stored; sampling is decided there, by a hash of the span and rule ids, so that a backfill
-- samples the same spans. The runner drains the queue with leases, like the job queue (an installation
-- table: a runner claims work across organizations, then acts in each as that organization).
CREATE TABLE online_evaluation_rules (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id bigint NOT NULL,
    project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
    evaluator jsonb NOT NULL,
    filter_condition text NOT NULL DEFAULT '',
    sampling_rate double precision NOT NULL CHECK (sampling_rate > 0 AND sampling_rate <= 1),
    enabled boolean NOT NULL DEFAULT true,
    user_id bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, project_id, name)
);
CREATE INDEX ix_online_evaluation_rules_project ON online_evaluation_rules (project_id) WHERE enabled;
ALTER TABLE online_evaluation_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE online_evaluation_rules FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON online_evaluation_rules USING (org_id = cinder_org()) WITH CHECK (org_id = cinder_org());

CREATE TABLE online_evaluation_queue (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    rule_id bigint NOT NULL REFERENCES online_evaluation_rules (id) ON DELETE CASCADE,
    span_rowid bigint NOT NULL REFERENCES spans (id) ON DELETE CASCADE,
    claimed_by text,
    -- Claims so far: an entry that keeps failing is given up after a few.
    attempts int NOT NULL DEFAULT 0,
    lease_until timestamptz,
    enqueued_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (rule_id, span_rowid)
);
-- Claims go round the organizations, then take one organization's oldest entries.
CREATE INDEX ix_online_evaluation_queue_claim ON online_evaluation_queue (organization_id, id);
CREATE INDEX ix_online_evaluation_queue_span ON online_evaluation_queue (span_rowid);

-- Whether a rule samples a span: the same answer every time it is asked.
CREATE FUNCTION cinder_sampled(span_id text, rule_id bigint, rate double precision) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT rate >= 1 OR (hashtext(span_id || ':' || rule_id::text)::bigint + 2147483648) < rate * 4294967296 $$;

-- Evaluators run again on an existing experiment: a request names the evaluators (copied, as a job's
-- are), and the queue holds its runs until a runner has scored them.
CREATE TABLE experiment_evaluation_requests (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id bigint NOT NULL,
    experiment_id bigint NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    evaluators jsonb NOT NULL,
    user_id bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE experiment_evaluation_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE experiment_evaluation_requests FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON experiment_evaluation_requests USING (org_id = cinder_org()) WITH CHECK (org_id = cinder_org());

CREATE TABLE experiment_evaluation_queue (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    request_id bigint NOT NULL REFERENCES experiment_evaluation_requests (id) ON DELETE CASCADE,
    experiment_run_id bigint NOT NULL REFERENCES experiment_runs (id) ON DELETE CASCADE,
    claimed_by text,
    attempts int NOT NULL DEFAULT 0,
    lease_until timestamptz,
    enqueued_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (request_id, experiment_run_id)
);
CREATE INDEX ix_experiment_evaluation_queue_claim ON experiment_evaluation_queue (organization_id, id);
CREATE INDEX ix_experiment_evaluation_queue_run ON experiment_evaluation_queue (experiment_run_id);
