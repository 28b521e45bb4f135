-- prompts, versions, tags
CREATE TABLE prompts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    source_prompt_id bigint REFERENCES prompts (id) ON DELETE SET NULL,
    name text NOT NULL,
    description text,
    metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name)
);
CREATE INDEX ix_prompts_source ON prompts (source_prompt_id) WHERE source_prompt_id IS NOT NULL;
-- Versions are immutable; the template and its settings are kept as validated documents.
CREATE TABLE prompt_versions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id bigint NOT NULL,
    prompt_id bigint NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    description text,
    template_type text NOT NULL CHECK (template_type IN ('CHAT', 'STR')),
    template_format text NOT NULL CHECK (template_format IN ('MUSTACHE', 'F_STRING', 'NONE')),
    template jsonb NOT NULL,
    invocation_parameters jsonb NOT NULL,
    tools jsonb,
    response_format jsonb,
    model_provider text NOT NULL,
    model_name text NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_prompt_versions_prompt ON prompt_versions (prompt_id, id);
-- A tag name points at one version of a prompt at a time.
CREATE TABLE prompt_version_tags (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id bigint NOT NULL,
    prompt_id bigint NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    prompt_version_id bigint NOT NULL REFERENCES prompt_versions (id) ON DELETE CASCADE,
    name text NOT NULL,
    description text,
    UNIQUE (prompt_id, name)
);
CREATE INDEX ix_prompt_version_tags_version ON prompt_version_tags (prompt_version_id);
