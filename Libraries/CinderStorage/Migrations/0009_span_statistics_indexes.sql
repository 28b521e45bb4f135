-- span statistics indexes: a project's statistics and time series answered from indexes alone
--
-- Counts, token totals, span latency and status over a project's time range read a handful of
-- narrow columns, but the spans table is wide (attributes and events): scanning it read ~600 MB for
-- 1M spans. Carrying those columns in the project/start-time index (org_id too, which row security
-- adds to every statement) lets PostgreSQL answer with index-only scans, and the same key order
-- still serves span pages sorted by start time.
DROP INDEX ix_spans_project_start;
CREATE INDEX ix_spans_project_start ON spans (project_id, start_time, id)
    INCLUDE (org_id, end_time, span_kind, status_code, llm_token_count_prompt, llm_token_count_completion);
-- A trace's status is its root span's: found without visiting the table.
CREATE INDEX ix_spans_trace_root ON spans (trace_rowid) INCLUDE (org_id, status_code) WHERE parent_id IS NULL;
