#!/usr/bin/env bash
# Read-latency benchmark (issue 4): seeds 1,000,000 spans (250,000 traces of 4 spans) across two projects
# straight into PostgreSQL, then times the first page of 100 spans and of 100 traces with their spans,
# plus later span pages through cursors, over REST (/v1) and GraphQL (/graphql) against a release build
# of `cinder serve`: p50/p95/p99/max over sequential requests on one keep-alive connection (target:
# p95 ≤ 20 ms). Every response is checked (200, exactly 100 items, 4 spans per trace); a failed check
# fails the run. Seeding is skipped when the projects already hold the data (BENCH_KEEP_DB=1 keeps the
# database between runs, so re-runs only measure).
# Usage: scripts/bench-api.sh [TRACES]   (default 250000; spans = 4 × TRACES, half in each project)
# env: CINDER_BIN (skip the build and use this binary), BENCH_DATABASE_URL (use this database instead of
#      a private PostgreSQL: it is migrated and seeded, never dropped), BENCH_PG_DIR, BENCH_PG_PORT
#      (private PostgreSQL, default /tmp/cinder-bench-api-pg on 55460), BENCH_KEEP_DB=1 (leave it running),
#      BENCH_PORT, BENCH_GRPC_PORT, BENCH_REQUESTS (default 200), BENCH_WARMUP (default 20),
#      BENCH_API_OUT (file for the JSON results; they are also the last line of the output), BENCH_KEEP=1
#      (keep the server's working directory and log), BENCH_AUTH=0 (auth off; by default the server runs
#      with PHOENIX_ENABLE_AUTH and every request carries a system API key), BENCH_UI=1 (also time the web UI
#      in Chromium with scripts/bench_ui.py: a 10,000-span trace is sent first; BENCH_UI_OUT for its JSON).
# The server connects as a service role that row-level security holds (cinder_bench_service, created if
# missing); the schema's owner (the URL's own user) migrates it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
traces=${1:-250000}
[[ $traces =~ ^[0-9]+$ ]] && [ "$traces" -ge 1000 ] || { echo "TRACES must be a number ≥ 1000, got '$traces'" >&2; exit 1; }
spans=$((traces * 4))
"$root/scripts/setup.sh"
if [ -n "${CINDER_BIN:-}" ]; then
  bin=$CINDER_BIN
else
  swift build -c release --product cinder >/dev/null
  bin=$root/.build/release/cinder
fi
[ -x "$bin" ] || { echo "cinder binary not found at $bin" >&2; exit 1; }

work=$(mktemp -d /tmp/cinder-bench-api.XXXXXX)
chmod 755 "$work"
pg_dir=${BENCH_PG_DIR:-/tmp/cinder-bench-api-pg}
pg_port=${BENCH_PG_PORT:-55460}
own_pg=""
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ -n "$own_pg" ]; then
    if [ -n "${BENCH_KEEP_DB:-}" ]; then echo "PostgreSQL left running: $db (stop: scripts/test-postgres.sh stop $pg_dir)" >&2
    else "$root/scripts/test-postgres.sh" stop "$pg_dir"; fi
  fi
  if [ -n "${BENCH_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# The database: the given one, else a private PostgreSQL (reused when BENCH_KEEP_DB left it running or
# stopped, so that re-runs need not seed again).
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
  db=$BENCH_DATABASE_URL
else
  url="postgresql://postgres@127.0.0.1:$pg_port/postgres"
  if running=$(psql "$url" -XtAc "SHOW data_directory" 2>/dev/null); then
    [ "$running" = "$pg_dir/data" ] || { echo "port $pg_port is taken by a PostgreSQL serving $running" >&2; exit 1; }
    echo "PostgreSQL: reusing the server running in $pg_dir"
  elif [ -f "$pg_dir/data/PG_VERSION" ]; then
    "$root/scripts/test-postgres.sh" restart "$pg_dir" "$pg_port"
    echo "PostgreSQL: restarted $pg_dir"
  else
    url=$("$root/scripts/test-postgres.sh" start "$pg_dir" "$pg_port")
    echo "PostgreSQL: started in $pg_dir"
  fi
  own_pg=1
  [ "$(psql "$url" -XtAc "SELECT count(*) FROM pg_database WHERE datname = 'cinder'")" = 1 ] || psql "$url" -Xqc "CREATE DATABASE cinder"
  db=${url%/*}/cinder
fi
sql() { psql "$db" -X -q -v ON_ERROR_STOP=1 "$@"; }
value() { psql "$db" -X -v ON_ERROR_STOP=1 -tA "$@"; }

# The server migrates the database when it starts (as the owner) and serves as the service role; it stays
# idle while the rows are seeded underneath it (as the owner, which row-level security does not hold).
port=${BENCH_PORT:-16616}
grpc=${BENCH_GRPC_PORT:-14627}
service_role=cinder_bench_service
[ "$(psql "$db" -XtAc "SELECT count(*) FROM pg_roles WHERE rolname = '$service_role'")" = 1 ] || psql "$db" -Xqc "CREATE ROLE $service_role LOGIN"
service_db=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(p._replace(netloc=sys.argv[2] + "@" + p.netloc.rsplit("@", 1)[-1]).geturl())' "$db" "$service_role")
admin_secret=bench-admin-secret-0123456789abcdefghijk
auth_env=()
if [ "${BENCH_AUTH:-1}" != 0 ]; then
  auth_env=(PHOENIX_ENABLE_AUTH=true PHOENIX_SECRET=bench-secret-0123456789abcdefghijklmnop PHOENIX_ADMIN_SECRET=$admin_secret)
fi
env "${auth_env[@]}" PHOENIX_WORKING_DIR=$work PHOENIX_PORT=$port PHOENIX_GRPC_PORT=$grpc PHOENIX_SQL_DATABASE_URL=$service_db \
  CINDER_MIGRATION_DATABASE_URL=$db "$bin" serve >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { echo "cinder serve did not become ready:" >&2; tail -20 "$work/serve.log" >&2; exit 1; }

org=1
project_ids() {
  value -F ' ' -c "SELECT max(id) FILTER (WHERE name = 'bench-a'), max(id) FILTER (WHERE name = 'bench-b')
                   FROM projects WHERE org_id = $org AND name IN ('bench-a', 'bench-b')"
}
sql -c "INSERT INTO projects (org_id, name) VALUES ($org, 'bench-a'), ($org, 'bench-b') ON CONFLICT (org_id, name) DO NOTHING"
read -r pa pb <<<"$(project_ids)"
# A finished seed marks both projects (in their description) after its last step.
marker="bench-api seed of $traces traces, complete"
have=$(value -F ' ' -c "SELECT (SELECT count(*) FROM traces WHERE project_id IN ($pa, $pb)),
                               (SELECT count(*) FROM spans WHERE project_id IN ($pa, $pb)),
                               (SELECT count(*) FROM projects WHERE id IN ($pa, $pb) AND description = '$marker')")
seed_seconds=null
if [ "$have" = "$traces $spans 2" ]; then
  echo "seed: bench-a and bench-b already hold $traces traces / $spans spans; measuring only"
else
  if [ "$have" != "0 0 0" ]; then
    echo "seed: the projects hold an unfinished or different seed ($have traces, spans, marks); clearing them"
    # Spans have no foreign key to their traces or project (annotations cascade from spans); traces and
    # sessions cascade from the project.
    sql -c "DELETE FROM spans WHERE project_id IN ($pa, $pb)" -c "DELETE FROM projects WHERE id IN ($pa, $pb)" \
      -c "INSERT INTO projects (org_id, name) VALUES ($org, 'bench-a'), ($org, 'bench-b')"
    read -r pa pb <<<"$(project_ids)"
  fi
  seed_start=$(date +%s.%N)
  # Trace n (0-based) goes to bench-a when n is even, else bench-b; it starts at t0 + n × step (+ up to 1 s),
  # so traces spread evenly over the 7 days before now and row ids follow start times, as ingestion makes
  # them. Every 5th trace of a project belongs to a session of 5 traces. Ids are md5-derived hex: 32 chars
  # for traces, 16 for spans (unique per organization, as the schema requires).
  t0=$(( $(date +%s) - 7 * 86400 ))
  step=$(awk -v n="$traces" 'BEGIN { printf "%.9f", 7 * 86400 / n }')
  vars=(-v org=$org -v pa="$pa" -v pb="$pb" -v traces="$traces" -v t0="$t0" -v step="$step")
  sql "${vars[@]}" <<'SQL'
INSERT INTO project_sessions (org_id, project_id, session_id, start_time, end_time)
SELECT :org, CASE WHEN p.p = 0 THEN :pa ELSE :pb END,
       format('bench-%s-session-%s', CASE WHEN p.p = 0 THEN 'a' ELSE 'b' END, s.s),
       to_timestamp(:t0 + (50 * s.s + p.p) * :step), to_timestamp(:t0 + (50 * s.s + 40 + p.p) * :step + 10)
FROM generate_series(0, 1) AS p(p)
CROSS JOIN LATERAL generate_series(0, ((:traces - p.p + 1) / 2 - 1) / 25) AS s(s)
ON CONFLICT (org_id, session_id) DO NOTHING;
SQL
  chunk=25000
  for ((lo = 0; lo < traces; lo += chunk)); do
    hi=$((lo + chunk < traces ? lo + chunk : traces))
    # One statement per chunk: the traces, then their 4 spans each (CHAIN root; RETRIEVER, LLM and TOOL
    # children), attributes nested as Cinder stores them, from the returned trace rows.
    sql "${vars[@]}" -v lo="$lo" -v hi="$hi" <<'SQL'
WITH new_traces AS (
    INSERT INTO traces (org_id, project_id, trace_id, start_time, end_time, project_session_id)
    SELECT :org, CASE WHEN g.n % 2 = 0 THEN :pa ELSE :pb END, md5('cinder-bench-trace:' || g.n),
           x.start_time, x.start_time + x.duration, ps.id
    FROM generate_series(:lo::bigint, :hi::bigint - 1) AS g(n)
    CROSS JOIN LATERAL (
        SELECT to_timestamp(:t0 + g.n * :step + random()) AS start_time,
               make_interval(secs => 0.4 + random() * 6) AS duration
    ) AS x
    LEFT JOIN project_sessions ps ON ps.org_id = :org AND (g.n / 2) % 5 = 0
        AND ps.session_id = format('bench-%s-session-%s', CASE WHEN g.n % 2 = 0 THEN 'a' ELSE 'b' END, g.n / 2 / 25)
    ORDER BY g.n
    RETURNING id, project_id, trace_id, start_time, end_time, project_session_id
)
INSERT INTO spans (org_id, project_id, trace_rowid, span_id, parent_id, name, span_kind, start_time, end_time,
                   attributes, events, status_code, status_message, llm_token_count_prompt, llm_token_count_completion)
SELECT :org, t.project_id, t.id, left(md5(t.trace_id || ':' || k.k), 16),
       CASE WHEN k.k = 0 THEN NULL ELSE left(md5(t.trace_id || ':0'), 16) END,
       (ARRAY['rag_query', 'retrieve', 'ChatCompletion', 'lookup_weather'])[k.k + 1],
       (ARRAY['CHAIN', 'RETRIEVER', 'LLM', 'TOOL'])[k.k + 1],
       s.start_time, s.end_time,
       CASE k.k
       WHEN 0 THEN format(
           '{"openinference":{"span":{"kind":"CHAIN"}},"input":{"value":%s},"output":{"value":%s},"user":{"id":"user-%s"},"metadata":{"tenant":"acme","ab":"%s"}%s}',
           to_json(h.question), to_json(h.answer), h.h % 50, CASE WHEN h.h % 2 = 0 THEN 'A' ELSE 'B' END,
           CASE WHEN ps.session_id IS NULL THEN '' ELSE format(',"session":{"id":%s}', to_json(ps.session_id)) END)
       WHEN 1 THEN format(
           '{"openinference":{"span":{"kind":"RETRIEVER"}},"input":{"value":%s},"retrieval":{"documents":[{"document":{"id":"doc-%s","score":%s,"content":%s}},{"document":{"id":"doc-%s","score":%s,"content":%s}}]}}',
           to_json(h.question), h.h % 100000, ((h.h % 1000) / 1000.0)::float8, to_json(h.doc1),
           (h.h / 7) % 100000, ((h.h % 997) / 1000.0)::float8, to_json(h.doc2))
       WHEN 2 THEN format(
           '{"openinference":{"span":{"kind":"LLM"}},"llm":{"model_name":"%s","provider":"openai","invocation_parameters":"{\"temperature\": 0.2, \"max_tokens\": 512}","input_messages":[{"message":{"role":"system","content":"You answer using the context."}},{"message":{"role":"user","content":%s}}],"output_messages":[{"message":{"role":"assistant","content":%s}}],"token_count":{"prompt":%s,"completion":%s,"total":%s}},"input":{"value":%s}}',
           h.model, to_json(h.question), to_json(h.answer), h.prompt_tokens, h.completion_tokens,
           h.prompt_tokens + h.completion_tokens, to_json(h.question))
       ELSE format(
           '{"openinference":{"span":{"kind":"TOOL"}},"tool":{"name":"lookup_weather","parameters":{"city":"string"}},"input":{"value":"{\"city\": \"%s\"}","mime_type":"application/json"},"output":{"value":"%s"}}',
           h.city, CASE WHEN h.failed THEN 'ValueError: bad tool input' ELSE h.city || ': sunny, 21 C, light wind from the west, no rain expected' END)
       END::json,
       CASE WHEN k.k = 3 AND h.failed THEN format(
           '[{"name":"exception","timestamp":"%s","attributes":{"exception.type":"ValueError","exception.message":"bad tool input","exception.stacktrace":"Traceback (most recent call last):\n  File \"tools.py\", line 12, in lookup_weather"}}]',
           to_char(s.end_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'))
       ELSE '[]' END::json,
       CASE WHEN k.k = 3 AND h.failed THEN 'ERROR' ELSE 'OK' END,
       CASE WHEN k.k = 3 AND h.failed THEN 'tool failed' ELSE '' END,
       CASE WHEN k.k = 2 THEN h.prompt_tokens END,
       CASE WHEN k.k = 2 THEN h.completion_tokens END
FROM new_traces t
LEFT JOIN project_sessions ps ON ps.id = t.project_session_id
CROSS JOIN LATERAL (
    SELECT v.h,
           (ARRAY['What is the latency budget for the retrieval step in production?',
                  'How do I evaluate hallucination rates for the support agent?',
                  'Which vector database settings reduce tail latency?',
                  'Why did the judge model mark this answer as irrelevant?',
                  'How many tokens does the summarisation prompt use on average?',
                  'Can the agent call the weather tool twice in one turn?',
                  'What changed between the last two prompt versions?',
                  'How should experiments compare two embedding models?'])[1 + v.h % 8] AS question,
           (ARRAY['Keep retrieval under 300 ms: index the embeddings with HNSW, cache hot queries and cap the context at five documents.',
                  'Sample answers daily, run an LLM judge against the retrieved context and track the share of unsupported claims per release.',
                  'Lower ef_search, keep the index in memory and batch concurrent queries; measure p95 rather than the mean after each change.',
                  'The answer quoted a document about pricing while the question was about latency, so the relevance judge scored it 0.2.',
                  'About 1,800 prompt tokens and 240 completion tokens, most of the prompt being the five retrieved documents.',
                  'Yes, but the second call is usually redundant; the planner should reuse the first result unless the city changed.',
                  'The system message now asks for citations and the temperature went from 0.7 to 0.2, which shortened answers by a third.',
                  'Run both over the same dataset version, score retrieval recall and answer relevance, and compare the experiment summaries.'])[1 + (v.h / 8) % 8] AS answer,
           (ARRAY['Tail latency grows with the number of probed lists; the default of ten is a reasonable start for a million vectors.',
                  'Judges disagree on borderline answers; calibrate the rubric on a labelled sample before trusting the scores.',
                  'Prompt caching removes most of the cost of the static system message for repeated sessions.'])[1 + v.h % 3] AS doc1,
           (ARRAY['Observability data should keep span attributes as sent so that evaluations can be rerun later.',
                  'Experiments pin a dataset version so that reruns compare like with like.',
                  'Session views group traces by the session.id attribute of their spans.'])[1 + (v.h / 3) % 3] AS doc2,
           (ARRAY['gpt-4o-mini', 'gpt-4o', 'claude-3-5-sonnet'])[1 + (v.h / 64) % 3] AS model,
           (ARRAY['Paris', 'Berlin', 'Lisbon', 'Oslo'])[1 + (v.h / 192) % 4] AS city,
           200 + v.h % 3800 AS prompt_tokens,
           20 + (v.h / 3800) % 780 AS completion_tokens,
           (v.h / 7) % 20 = 0 AS failed
    FROM (SELECT ('x' || substr(t.trace_id, 1, 7))::bit(28)::int AS h) AS v
) AS h
CROSS JOIN generate_series(0, 3) AS k(k)
CROSS JOIN LATERAL (
    SELECT CASE k.k
           WHEN 0 THEN t.start_time
           WHEN 1 THEN t.start_time + interval '10 ms'
           WHEN 2 THEN t.start_time + interval '15 ms' + (t.end_time - t.start_time) * 0.15
           ELSE t.start_time + interval '2 ms' + (t.end_time - t.start_time) * 0.9
           END AS start_time,
           CASE k.k
           WHEN 0 THEN t.end_time
           WHEN 1 THEN t.start_time + interval '10 ms' + (t.end_time - t.start_time) * 0.15
           WHEN 2 THEN t.start_time + (t.end_time - t.start_time) * 0.9
           ELSE t.end_time - interval '1 ms'
           END AS end_time
) AS s
ORDER BY t.id, k.k;
SQL
    printf 'seed: %d/%d spans (%.0f s)\n' $((hi * 4)) "$spans" "$(echo "$(date +%s.%N) - $seed_start" | bc)"
  done
  # Annotations on a few spans: an LLM judge's verdict on the LLM span of every 50th trace, a human note
  # on the root span of every 200th.
  sql -v org=$org -v pa="$pa" -v pb="$pb" <<'SQL'
INSERT INTO span_annotations (org_id, span_rowid, name, label, score, explanation, metadata, annotator_kind, identifier, source)
SELECT :org, s.id, 'correctness', CASE WHEN s.id % 3 = 0 THEN 'incorrect' ELSE 'correct' END,
       CASE WHEN s.id % 3 = 0 THEN 0 ELSE 1 END, 'The answer is supported by the retrieved documents.',
       '{"judge": "gpt-4o"}', 'LLM', '', 'API'
FROM spans s WHERE s.project_id IN (:pa, :pb) AND s.span_kind = 'LLM' AND s.trace_rowid % 50 = 0;
INSERT INTO span_annotations (org_id, span_rowid, name, explanation, annotator_kind, identifier, source)
SELECT :org, s.id, 'note', 'Checked by the on-call engineer.', 'HUMAN', 'px-span-note:' || gen_random_uuid(), 'API'
FROM spans s WHERE s.project_id IN (:pa, :pb) AND s.parent_id IS NULL AND s.trace_rowid % 200 = 0;
SQL
  sql -c "VACUUM (ANALYZE) traces" -c "VACUUM (ANALYZE) spans" -c "VACUUM (ANALYZE) project_sessions" \
    -c "VACUUM (ANALYZE) span_annotations" -c "UPDATE projects SET description = '$marker' WHERE id IN ($pa, $pb)"
  seed_seconds=$(printf "%.1f" "$(echo "$(date +%s.%N) - $seed_start" | bc)")
  printf 'seed: %d traces, %d spans, %d sessions, %d span annotations in %.1f s (with VACUUM ANALYZE)\n' "$traces" "$spans" \
    "$(value -c "SELECT count(*) FROM project_sessions WHERE project_id IN ($pa, $pb)")" \
    "$(value -c "SELECT count(*) FROM span_annotations a JOIN spans s ON s.id = a.span_rowid WHERE s.project_id IN ($pa, $pb)")" \
    "$seed_seconds"
fi
echo "database: spans $(value -c "SELECT pg_size_pretty(pg_total_relation_size('spans'))"), traces $(value -c "SELECT pg_size_pretty(pg_total_relation_size('traces'))"); $(value -c "SELECT version()" | cut -d, -f1)"

# A span half-way down bench-a's pages (by start time), for cursors deep in the data.
read -r deep_id deep_micros <<<"$(value -F ' ' -c "SELECT id, (extract(epoch FROM start_time) * 1000000)::int8 FROM spans
  WHERE project_id = $pa ORDER BY start_time DESC, id DESC OFFSET $((spans / 4)) LIMIT 1")"

# With auth, a system key of the default organization (which holds the seed) signs every request.
auth_args=()
if [ "${BENCH_AUTH:-1}" != 0 ]; then
  key=$(curl -sf -X POST "http://127.0.0.1:$port/v1/system/api_keys" -H "Authorization: Bearer $admin_secret" \
    -H 'Content-Type: application/json' -d '{"data": {"name": "bench"}}' | python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["key"])')
  auth_args=(--header "Authorization: Bearer $key" --meta auth=on)
fi

status=0
python3 "$root/scripts/bench_api.py" "${auth_args[@]}" --base-url "http://127.0.0.1:$port" --project-rowid "$pa" --project-name bench-a \
  --deep-span-rowid "$deep_id" --deep-span-start-micros "$deep_micros" \
  --requests "${BENCH_REQUESTS:-200}" --warmup "${BENCH_WARMUP:-20}" ${BENCH_API_OUT:+--out "$BENCH_API_OUT"} \
  --meta traces="$traces" --meta spans="$spans" --meta seed_seconds="$seed_seconds" \
  --meta commit="$(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo -dirty)" \
  || status=$?
# The web UI on the same data (BENCH_UI=1): Chromium, signed in as the default admin when auth is on.
if [ "${BENCH_UI:-0}" != 0 ]; then
  "$root/scripts/setup.sh" --with-python >/dev/null
  ui_auth=()
  if [ "${BENCH_AUTH:-1}" != 0 ]; then ui_auth=(--email admin@localhost --password admin --key "$key"); fi
  "$root/.venv/bin/python" "$root/scripts/bench_ui.py" "${ui_auth[@]}" --base-url "http://127.0.0.1:$port" --project-name bench-a \
    ${BENCH_UI_OUT:+--out "$BENCH_UI_OUT"} || status=$?
fi
rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
echo "cinder serve RSS after the run: $((rss_kb / 1024)) MB" >&2
exit $status
