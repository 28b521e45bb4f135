-- users, memberships, API keys, session tokens, ingestion quotas
--
-- The user a transaction acts for, beside its organization: a person's own memberships are visible
-- to them in every organization (to sign in and to switch between organizations).
CREATE FUNCTION cinder_user() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('cinder.user_id', true), '')::bigint $$;

ALTER TABLE organizations ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- People belong to the installation, not to one organization: an email is one account whatever
-- organizations it belongs to. Rows are reached through memberships, except at sign-in.
CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL CHECK (email <> ''),
    username text NOT NULL CHECK (username <> ''),
    -- scrypt with its parameters and salt; NULL: the account cannot sign in with a password.
    password_hash text,
    password_needs_reset boolean NOT NULL DEFAULT false,
    -- Phoenix's SYSTEM role: manages organizations and acts in any of them as an admin.
    installation_admin boolean NOT NULL DEFAULT false,
    profile_picture_url text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX ux_users_email ON users (lower(email));

CREATE TABLE memberships (
    org_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('ADMIN', 'MEMBER', 'VIEWER')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX ix_memberships_user ON memberships (user_id);

-- Credentials are JWTs naming one of these rows; a row deleted is a credential revoked. Keys are
-- shown once: only their SHA-256 is kept.
CREATE TABLE api_keys (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- NULL for the organization's system keys.
    user_id bigint REFERENCES users (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (name <> ''),
    description text,
    token_hash bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    last_used_at timestamptz
);
CREATE INDEX ix_api_keys_org_user ON api_keys (org_id, user_id);
CREATE INDEX ix_api_keys_user ON api_keys (user_id);

-- A browser session: one refresh token and the access tokens minted from it, all for the
-- organization chosen at sign-in or by switching.
CREATE TABLE refresh_tokens (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX ix_refresh_tokens_user ON refresh_tokens (user_id);
CREATE TABLE access_tokens (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    refresh_token_id bigint NOT NULL REFERENCES refresh_tokens (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX ix_access_tokens_user ON access_tokens (user_id);
CREATE INDEX ix_access_tokens_refresh ON access_tokens (refresh_token_id);

-- Ingestion limits of one organization where they differ from the installation's (NULL: its default).
CREATE TABLE ingestion_quotas (
    org_id bigint PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    spans_per_second integer CHECK (spans_per_second > 0),
    burst_spans integer CHECK (burst_spans > 0),
    max_request_bytes integer CHECK (max_request_bytes > 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON memberships USING (org_id = cinder_org()) WITH CHECK (org_id = cinder_org());
-- A person reads (only reads) their own memberships, whichever organization they are in.
CREATE POLICY own_memberships ON memberships FOR SELECT USING (user_id = cinder_user());
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys USING (org_id = cinder_org()) WITH CHECK (org_id = cinder_org());
ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON refresh_tokens USING (org_id = cinder_org()) WITH CHECK (org_id = cinder_org());
ALTER TABLE access_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE access_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON access_tokens USING (org_id = cinder_org()) WITH CHECK (org_id = cinder_org());
ALTER TABLE ingestion_quotas ENABLE ROW LEVEL SECURITY;
ALTER TABLE ingestion_quotas FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ingestion_quotas USING (org_id = cinder_org()) WITH CHECK (org_id = cinder_org());
