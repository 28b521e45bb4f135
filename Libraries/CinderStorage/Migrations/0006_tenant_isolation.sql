-- tenant isolation: org_id on every tenant row and in every uniqueness rule, row-level security
--
-- Cinder sets the organization a transaction acts for with set_config('cinder.org_id', <id>, true).
-- The setting ends with the transaction; on a connection where it was never set, or where an
-- earlier transaction's setting ended (PostgreSQL then leaves it as ''), cinder_org() is NULL and
-- every policy below matches no row: a statement run outside a tenant transaction reads nothing and
-- writes nothing.
CREATE FUNCTION cinder_org() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('cinder.org_id', true), '')::bigint $$;

-- Join tables carry their organization too, so that a policy needs no join.
ALTER TABLE dataset_splits_dataset_examples ADD COLUMN org_id bigint;
UPDATE dataset_splits_dataset_examples j SET org_id = s.org_id FROM dataset_splits s WHERE s.id = j.dataset_split_id;
ALTER TABLE dataset_splits_dataset_examples ALTER COLUMN org_id SET NOT NULL;

ALTER TABLE datasets_dataset_labels ADD COLUMN org_id bigint;
UPDATE datasets_dataset_labels j SET org_id = d.org_id FROM datasets d WHERE d.id = j.dataset_id;
ALTER TABLE datasets_dataset_labels ALTER COLUMN org_id SET NOT NULL;

ALTER TABLE experiments_dataset_splits ADD COLUMN org_id bigint;
UPDATE experiments_dataset_splits j SET org_id = e.org_id FROM experiments e WHERE e.id = j.experiment_id;
ALTER TABLE experiments_dataset_splits ALTER COLUMN org_id SET NOT NULL;

-- Every uniqueness rule starts with org_id (identity primary keys aside): one organization's rows can
-- neither collide with another's nor be detected through a conflict.
DO $$
DECLARE c record;
BEGIN
    FOR c IN
        SELECT conrelid::regclass AS tbl, conname FROM pg_constraint
        WHERE contype IN ('u', 'p') AND conrelid IN (
            'span_annotations'::regclass, 'document_annotations'::regclass, 'trace_annotations'::regclass,
            'project_session_annotations'::regclass, 'project_annotation_configs'::regclass,
            'dataset_examples'::regclass, 'dataset_example_revisions'::regclass,
            'dataset_splits_dataset_examples'::regclass, 'datasets_dataset_labels'::regclass,
            'experiments_dataset_splits'::regclass, 'experiment_runs'::regclass,
            'experiment_run_annotations'::regclass, 'experiment_tags'::regclass, 'prompt_version_tags'::regclass)
        AND NOT (contype = 'p' AND conkey = ARRAY[(SELECT attnum FROM pg_attribute WHERE attrelid = conrelid AND attname = 'id')])
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.tbl, c.conname);
    END LOOP;
END $$;
ALTER TABLE span_annotations ADD CONSTRAINT uq_span_annotations UNIQUE (org_id, span_rowid, name, identifier);
ALTER TABLE document_annotations ADD CONSTRAINT uq_document_annotations UNIQUE (org_id, span_rowid, document_position, name, identifier);
ALTER TABLE trace_annotations ADD CONSTRAINT uq_trace_annotations UNIQUE (org_id, trace_rowid, name, identifier);
ALTER TABLE project_session_annotations ADD CONSTRAINT uq_project_session_annotations UNIQUE (org_id, project_session_id, name, identifier);
ALTER TABLE project_annotation_configs ADD PRIMARY KEY (org_id, project_id, annotation_config_id);
ALTER TABLE dataset_examples ADD CONSTRAINT uq_dataset_examples_external_id UNIQUE (org_id, dataset_id, external_id);
ALTER TABLE dataset_example_revisions ADD CONSTRAINT uq_dataset_example_revisions UNIQUE (org_id, dataset_example_id, dataset_version_id);
ALTER TABLE dataset_splits_dataset_examples ADD PRIMARY KEY (org_id, dataset_split_id, dataset_example_id);
ALTER TABLE datasets_dataset_labels ADD PRIMARY KEY (org_id, dataset_id, dataset_label_id);
ALTER TABLE experiments_dataset_splits ADD PRIMARY KEY (org_id, experiment_id, dataset_split_id);
ALTER TABLE experiment_runs ADD CONSTRAINT uq_experiment_runs UNIQUE (org_id, experiment_id, dataset_example_id, repetition_number);
ALTER TABLE experiment_run_annotations ADD CONSTRAINT uq_experiment_run_annotations UNIQUE (org_id, experiment_run_id, name);
ALTER TABLE experiment_tags ADD CONSTRAINT uq_experiment_tags UNIQUE (org_id, dataset_id, name);
ALTER TABLE prompt_version_tags ADD CONSTRAINT uq_prompt_version_tags UNIQUE (org_id, prompt_id, name);

-- Row-level security on every table that has an organization. FORCE applies it to the tables' owner
-- as well (only superusers and BYPASSRLS roles are exempt, and Cinder refuses to serve as one when
-- auth is on). A later migration that must touch several organizations' rows sets cinder.org_id per
-- organization, or lifts FORCE for its own transaction.
DO $$
DECLARE t regclass;
BEGIN
    FOR t IN
        SELECT c.oid::regclass FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped
        WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema()
    LOOP
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %s USING (org_id = cinder_org()) WITH CHECK (org_id = cinder_org())', t);
    END LOOP;
END $$;
