-- model prices an organization sets (Phoenix's custom generative models)
--
-- A row prices the models whose names match `name_pattern` (a regular expression over the normalized
-- model name); an organization's rows win over the built-in table. `token_prices` holds
-- [{"token_type", "kind": PROMPT|COMPLETION, "cost_per_million_tokens"}].
CREATE TABLE generative_models (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id bigint NOT NULL,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
    provider text,
    name_pattern text NOT NULL CHECK (length(name_pattern) BETWEEN 1 AND 1000),
    token_prices jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name)
);
ALTER TABLE generative_models ENABLE ROW LEVEL SECURITY;
ALTER TABLE generative_models FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON generative_models USING (org_id = cinder_org()) WITH CHECK (org_id = cinder_org());
