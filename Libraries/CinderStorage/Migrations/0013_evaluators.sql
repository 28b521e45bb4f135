-- evaluators an organization defines, and the evaluators attached to its datasets
--
-- An evaluator row is reusable (an LLM judge, or code a user wrote): `definition` holds what runs it (for
-- LLM: the judge's prompt in a prompt version's shape and its categorical output config; for CODE: its
-- language and output config, the source being in `code_evaluator_versions`, one immutable row per
-- version, the newest current).
-- Built-in evaluators are not rows: a dataset evaluator names one by `builtin_key`. A dataset evaluator
-- is an evaluator attached to a dataset under a name (the name of the annotations it records), with
-- the mapping from a run to the evaluator's parameters; every server-side experiment over the dataset
-- runs its dataset evaluators.
CREATE TABLE evaluators (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id bigint NOT NULL,
    kind text NOT NULL CHECK (kind IN ('LLM', 'CODE')),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
    description text,
    metadata jsonb NOT NULL DEFAULT '{}',
    definition jsonb NOT NULL,
    user_id bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_evaluators_org ON evaluators (org_id, id);
ALTER TABLE evaluators ENABLE ROW LEVEL SECURITY;
ALTER TABLE evaluators FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON evaluators USING (org_id = cinder_org()) WITH CHECK (org_id = cinder_org());

CREATE TABLE code_evaluator_versions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id bigint NOT NULL,
    evaluator_id bigint NOT NULL REFERENCES evaluators (id) ON DELETE CASCADE,
    source_code text NOT NULL,
    user_id bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_code_evaluator_versions_evaluator ON code_evaluator_versions (evaluator_id, id);
ALTER TABLE code_evaluator_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE code_evaluator_versions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON code_evaluator_versions USING (org_id = cinder_org()) WITH CHECK (org_id = cinder_org());

CREATE TABLE dataset_evaluators (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id bigint NOT NULL,
    dataset_id bigint NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    evaluator_id bigint REFERENCES evaluators (id) ON DELETE CASCADE,
    builtin_key text,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
    description text,
    input_mapping jsonb NOT NULL,
    output_configs jsonb NOT NULL,
    user_id bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((evaluator_id IS NULL) <> (builtin_key IS NULL)),
    UNIQUE (org_id, dataset_id, name)
);
CREATE INDEX ix_dataset_evaluators_evaluator ON dataset_evaluators (evaluator_id);
ALTER TABLE dataset_evaluators ENABLE ROW LEVEL SECURITY;
ALTER TABLE dataset_evaluators FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON dataset_evaluators USING (org_id = cinder_org()) WITH CHECK (org_id = cinder_org());
