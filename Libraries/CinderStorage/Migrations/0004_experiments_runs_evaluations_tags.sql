-- experiments, runs, evaluations, tags
CREATE TABLE experiments (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id bigint NOT NULL,
    dataset_id bigint NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    dataset_version_id bigint NOT NULL REFERENCES dataset_versions (id) ON DELETE CASCADE,
    name text NOT NULL,
    description text,
    repetitions integer NOT NULL CHECK (repetitions > 0),
    metadata jsonb NOT NULL DEFAULT '{}',
    -- The project the client's task spans go to (sent with x-project-name).
    project_name text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_experiments_dataset ON experiments (dataset_id, id);
CREATE INDEX ix_experiments_version ON experiments (dataset_version_id);
CREATE TABLE experiments_dataset_splits (
    experiment_id bigint NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    -- An experiment's examples are defined by its splits: a split in use cannot be deleted.
    dataset_split_id bigint NOT NULL REFERENCES dataset_splits (id) ON DELETE NO ACTION,
    PRIMARY KEY (experiment_id, dataset_split_id)
);
CREATE INDEX ix_experiments_dataset_splits_split ON experiments_dataset_splits (dataset_split_id);
-- output holds the task's JSON value as it is (any JSON, not only objects).
CREATE TABLE experiment_runs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id bigint NOT NULL,
    experiment_id bigint NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    dataset_example_id bigint NOT NULL REFERENCES dataset_examples (id) ON DELETE CASCADE,
    repetition_number integer NOT NULL CHECK (repetition_number > 0),
    trace_id text,
    output jsonb NOT NULL,
    start_time timestamptz NOT NULL,
    end_time timestamptz NOT NULL,
    prompt_token_count integer,
    completion_token_count integer,
    error text,
    UNIQUE (experiment_id, dataset_example_id, repetition_number)
);
CREATE INDEX ix_experiment_runs_example ON experiment_runs (dataset_example_id);
CREATE TABLE experiment_run_annotations (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id bigint NOT NULL,
    experiment_run_id bigint NOT NULL REFERENCES experiment_runs (id) ON DELETE CASCADE,
    name text NOT NULL,
    annotator_kind text NOT NULL CHECK (annotator_kind IN ('LLM', 'CODE', 'HUMAN')),
    label text,
    score double precision,
    explanation text,
    trace_id text,
    error text,
    metadata jsonb NOT NULL DEFAULT '{}',
    start_time timestamptz NOT NULL,
    end_time timestamptz NOT NULL,
    UNIQUE (experiment_run_id, name)
);
-- A tag name points at one experiment of a dataset at a time.
CREATE TABLE experiment_tags (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id bigint NOT NULL,
    experiment_id bigint NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    dataset_id bigint NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    name text NOT NULL,
    description text,
    UNIQUE (dataset_id, name)
);
CREATE INDEX ix_experiment_tags_experiment ON experiment_tags (experiment_id);
