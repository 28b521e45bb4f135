-- annotations, notes, annotation configs
-- One table per annotated entity, as in Phoenix: each has its own uniqueness rule and cascades
-- from its entity. Notes are annotations named 'note'. The entity's org_id is repeated so that
-- tenant scoping needs no join.
CREATE TABLE span_annotations (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id bigint NOT NULL,
    span_rowid bigint NOT NULL REFERENCES spans (id) ON DELETE CASCADE,
    name text NOT NULL,
    label text,
    score double precision,
    explanation text,
    metadata jsonb NOT NULL DEFAULT '{}',
    annotator_kind text NOT NULL CHECK (annotator_kind IN ('LLM', 'CODE', 'HUMAN')),
    identifier text NOT NULL DEFAULT '',
    source text NOT NULL CHECK (source IN ('API', 'APP')),
    user_id bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (span_rowid, name, identifier)
);
CREATE TABLE document_annotations (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id bigint NOT NULL,
    span_rowid bigint NOT NULL REFERENCES spans (id) ON DELETE CASCADE,
    document_position integer NOT NULL CHECK (document_position >= 0),
    name text NOT NULL,
    label text,
    score double precision,
    explanation text,
    metadata jsonb NOT NULL DEFAULT '{}',
    annotator_kind text NOT NULL CHECK (annotator_kind IN ('LLM', 'CODE', 'HUMAN')),
    identifier text NOT NULL DEFAULT '',
    source text NOT NULL CHECK (source IN ('API', 'APP')),
    user_id bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (span_rowid, document_position, name, identifier)
);
CREATE TABLE trace_annotations (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id bigint NOT NULL,
    trace_rowid bigint NOT NULL REFERENCES traces (id) ON DELETE CASCADE,
    name text NOT NULL,
    label text,
    score double precision,
    explanation text,
    metadata jsonb NOT NULL DEFAULT '{}',
    annotator_kind text NOT NULL CHECK (annotator_kind IN ('LLM', 'CODE', 'HUMAN')),
    identifier text NOT NULL DEFAULT '',
    source text NOT NULL CHECK (source IN ('API', 'APP')),
    user_id bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (trace_rowid, name, identifier)
);
CREATE TABLE project_session_annotations (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id bigint NOT NULL,
    project_session_id bigint NOT NULL REFERENCES project_sessions (id) ON DELETE CASCADE,
    name text NOT NULL,
    label text,
    score double precision,
    explanation text,
    metadata jsonb NOT NULL DEFAULT '{}',
    annotator_kind text NOT NULL CHECK (annotator_kind IN ('LLM', 'CODE', 'HUMAN')),
    identifier text NOT NULL DEFAULT '',
    source text NOT NULL CHECK (source IN ('API', 'APP')),
    user_id bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_session_id, name, identifier)
);

-- The type-specific settings (values, bounds, direction) live in one document: they are read
-- and written whole, never queried.
CREATE TABLE annotation_configs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name text NOT NULL,
    config jsonb NOT NULL,
    UNIQUE (org_id, name)
);
CREATE TABLE project_annotation_configs (
    org_id bigint NOT NULL,
    project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    annotation_config_id bigint NOT NULL REFERENCES annotation_configs (id) ON DELETE CASCADE,
    PRIMARY KEY (project_id, annotation_config_id)
);
CREATE INDEX ix_project_annotation_configs_config ON project_annotation_configs (annotation_config_id);
