-- custom model providers, credentials given with a server-side experiment
--
-- A custom provider is an organization's named endpoint (an OpenAI-compatible server, an Azure
-- deployment, an Anthropic proxy) with its own key. Its client configuration, key included, is sealed
-- by the services like a secret: the database never sees the key.
CREATE TABLE generative_model_custom_providers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id bigint NOT NULL,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
    description text,
    provider text NOT NULL CHECK (length(provider) BETWEEN 1 AND 256),
    sdk text NOT NULL CHECK (sdk IN ('OPENAI', 'AZURE_OPENAI', 'ANTHROPIC', 'AWS_BEDROCK', 'GOOGLE_GENAI')),
    config bytea NOT NULL,
    user_id bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name)
);
ALTER TABLE generative_model_custom_providers ENABLE ROW LEVEL SECURITY;
ALTER TABLE generative_model_custom_providers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON generative_model_custom_providers
    USING (org_id = cinder_org()) WITH CHECK (org_id = cinder_org());
-- Keys a person gave with a server-side experiment (the playground's credentials, or a resume's), sealed:
-- the runner that claims the job uses them ahead of the organization's stored secrets.
ALTER TABLE experiment_jobs ADD COLUMN credentials bytea;
