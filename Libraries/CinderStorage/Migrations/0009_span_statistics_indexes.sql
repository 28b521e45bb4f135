-- span statistics: costs in columns, and a project's statistics and time series answered from indexes
--
-- Costs (OpenInference's llm.cost.* attributes of LLM spans) get columns, filled at ingestion like the
-- token counts: summing them from the attribute documents parsed every LLM span's JSON, most of a
-- project's statistics time. Existing spans are filled from their attributes once, here.
ALTER TABLE spans ADD COLUMN llm_cost_prompt double precision,
    ADD COLUMN llm_cost_completion double precision,
    ADD COLUMN llm_cost_total double precision;
UPDATE spans SET
    llm_cost_prompt = CASE WHEN json_typeof(attributes #> '{llm,cost,prompt}') = 'number' THEN (attributes #>> '{llm,cost,prompt}')::float8 END,
    llm_cost_completion = CASE WHEN json_typeof(attributes #> '{llm,cost,completion}') = 'number' THEN (attributes #>> '{llm,cost,completion}')::float8 END,
    llm_cost_total = CASE WHEN json_typeof(attributes #> '{llm,cost,total}') = 'number' THEN (attributes #>> '{llm,cost,total}')::float8 END
WHERE span_kind = 'LLM' AND (attributes #> '{llm,cost}') IS NOT NULL;
-- Counts, token and cost totals, span latency and status over a project's time range read a handful of
-- narrow columns, but the table is wide (attributes and events): scanning it read ~600 MB for 1M
-- spans. Carrying those columns in the project/start-time index (org_id too, which row security adds
-- to every statement) lets PostgreSQL answer with index-only scans, and the same key order still
-- serves span pages sorted by start time.
DROP INDEX ix_spans_project_start;
CREATE INDEX ix_spans_project_start ON spans (project_id, start_time, id)
    INCLUDE (org_id, end_time, span_kind, status_code, llm_token_count_prompt, llm_token_count_completion,
             llm_cost_prompt, llm_cost_completion, llm_cost_total);
-- A trace's status is its root span's: found without visiting the table.
CREATE INDEX ix_spans_trace_root ON spans (trace_rowid) INCLUDE (org_id, status_code) WHERE parent_id IS NULL;
