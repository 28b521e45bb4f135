import CinderModel

/// Phoenix's session filter language, the part Cinder serves: the span language's grammar over a
/// session's own values (`session_id`, times, duration), its totals (`num_traces`, tokens, costs, span
/// counts), its first input and last output, containment in any root span's input or output
/// (`'refund' in any_input`), its annotations (`session_annotations['name'].score`) and its earliest root
/// span's attributes (`attributes[…]`, `user.id`, `metadata['key']`). Containment ignores case, as in
/// Phoenix. Comprehensions over spans and traces (`any(… for span in spans)`) are refused with a message.
public struct SessionFilterCondition: Sendable {
    let expression: SpanFilterCondition

    public static func parse(_ text: String) throws(CinderError) -> SessionFilterCondition {
        let condition = SessionFilterCondition(expression: try SpanFilterCondition.parse(text))
        try condition.validate()
        return condition
    }

    func validate() throws(CinderError) {
        var q = SQLBuilder()
        try appendSQL(&q)
    }

    /// The condition over a session `ps`.
    func appendSQL(_ q: inout SQLBuilder) throws(CinderError) {
        try expression.appendSQL(&q, language: .sessions)
    }
}

/// A value of a session the session language names; also the session sort keys.
public struct SessionFilterField: Sendable {
    public let name: String
    public let type: SpanFilterField.ValueType
    let kind: FilterLanguage.ValueKind
    public let description: String
    /// SQL over a session `ps`.
    let sql: String

    /// The session's traces `t`, after `FROM`.
    static let traces = "traces t WHERE t.org_id = ps.org_id AND t.project_session_id = ps.id"
    /// The session's spans `s` with their traces `t`, after `FROM`.
    static let spans = "traces t JOIN spans s ON s.org_id = t.org_id AND s.trace_rowid = t.id WHERE t.org_id = ps.org_id AND t.project_session_id = ps.id"
    /// The session's root spans `r` with their traces `t`, after `FROM`.
    static let roots = "traces t JOIN spans r ON r.org_id = t.org_id AND r.trace_rowid = t.id AND r.parent_id IS NULL WHERE t.org_id = ps.org_id AND t.project_session_id = ps.id"

    private static func spanTotal(_ expression: String, _ extra: String = "") -> String {
        "(SELECT coalesce(\(expression), 0) FROM \(spans)\(extra))"
    }

    /// Times come from the traces: a session row keeps the times of its first batch.
    static let startTime = "coalesce((SELECT min(t.start_time) FROM \(traces)), ps.start_time)"
    static let endTime = "coalesce((SELECT max(t.end_time) FROM \(traces)), ps.end_time)"

    public static let all: [SessionFilterField] = [
        .init(name: "session_id", type: .string, kind: .text, description: "The session's id; `in` ignores case, `==` is exact.", sql: "ps.session_id"),
        .init(name: "start_time", type: .string, kind: .datetime,
              description: "When the session's first trace started; compare with an ISO 8601 string with an offset, as in start_time > '2026-07-01T00:00:00Z'.",
              sql: startTime),
        .init(name: "end_time", type: .string, kind: .datetime,
              description: "When the session's last trace ended; compare with an ISO 8601 string with an offset.", sql: endTime),
        .init(name: "duration_ms", type: .number, kind: .number, description: "End minus start of the session, in milliseconds.",
              sql: "(SELECT extract(epoch FROM max(t.end_time) - min(t.start_time))::float8 * 1000 FROM \(traces))"),
        .init(name: "num_traces", type: .number, kind: .number, description: "The session's traces.",
              sql: "(SELECT count(*) FROM \(traces))"),
        .init(name: "num_traces_with_error", type: .number, kind: .number, description: "The session's traces with a span in error.",
              sql: "(SELECT count(*) FROM \(traces) AND EXISTS (SELECT 1 FROM spans e WHERE e.org_id = t.org_id AND e.trace_rowid = t.id AND e.status_code = 'ERROR'))"),
        .init(name: "token_count_prompt", type: .number, kind: .number, description: "Prompt tokens over the session's spans; 0 when none.",
              sql: spanTotal("sum(s.llm_token_count_prompt)")),
        .init(name: "token_count_completion", type: .number, kind: .number, description: "Completion tokens over the session's spans; 0 when none.",
              sql: spanTotal("sum(s.llm_token_count_completion)")),
        .init(name: "token_count_total", type: .number, kind: .number, description: "Prompt plus completion tokens over the session's spans; 0 when none.",
              sql: spanTotal("sum(coalesce(s.llm_token_count_prompt, 0) + coalesce(s.llm_token_count_completion, 0))")),
        .init(name: "prompt_cost", type: .number, kind: .number, description: "Prompt cost over the session's spans; 0 when none is recorded.",
              sql: spanTotal("sum(s.llm_cost_prompt)")),
        .init(name: "completion_cost", type: .number, kind: .number, description: "Completion cost over the session's spans; 0 when none is recorded.",
              sql: spanTotal("sum(s.llm_cost_completion)")),
        .init(name: "total_cost", type: .number, kind: .number, description: "Total cost over the session's spans; 0 when none is recorded.",
              sql: spanTotal("sum(s.llm_cost_total)")),
        .init(name: "tool_span_count", type: .number, kind: .number, description: "The session's TOOL spans.",
              sql: spanTotal("count(*)", " AND s.span_kind = 'TOOL'")),
        .init(name: "llm_span_count", type: .number, kind: .number, description: "The session's LLM spans.",
              sql: spanTotal("count(*)", " AND s.span_kind = 'LLM'")),
        .init(name: "first_input", type: .string, kind: .text,
              description: "The input.value of the root span of the session's first trace; `in` ignores case.",
              sql: "(SELECT r.attributes #>> '{input,value}' FROM \(roots) ORDER BY t.start_time, t.trace_id, r.span_id LIMIT 1)"),
        .init(name: "last_output", type: .string, kind: .text,
              description: "The output.value of the root span of the session's last trace; `in` ignores case.",
              sql: "(SELECT r.attributes #>> '{output,value}' FROM \(roots) ORDER BY t.start_time DESC, t.trace_id DESC, r.span_id DESC LIMIT 1)"),
    ]

    static func named(_ path: [String]) -> SessionFilterField? {
        guard path.count == 1 else { return nil }
        return all.first { $0.name == path[0] }
    }

    /// The names that answer only containment: whether any root span's input (output) holds a text.
    static let containment: [(name: String, path: String, description: String)] = [
        ("any_input", "{input,value}", "Whether any root span of the session has an input.value containing the text, ignoring case: `'refund' in any_input`."),
        ("any_output", "{output,value}", "Whether any root span of the session has an output.value containing the text, ignoring case: `'sorry' in any_output`."),
    ]

    /// Everything a person can filter this project's sessions by: the session's values, containment, its
    /// annotations, and attributes of its earliest root span.
    public static func vocabulary(annotationNames: [String]) -> [SpanFilterTerm] {
        var terms = all.map {
            SpanFilterTerm(name: $0.name, type: $0.type.rawValue, description: $0.description, category: "session", values: [])
        }
        terms += containment.map {
            SpanFilterTerm(name: $0.name, type: "boolean", description: $0.description, category: "session", values: [])
        }
        for name in annotationNames {
            let key = "session_annotations[\(JSONValue.string(name).pythonLiteral)]"
            terms.append(.init(name: "\(key).score", type: "number", description: "The score of the \(name) session annotation.", category: "annotation", values: []))
            terms.append(.init(name: "\(key).label", type: "string", description: "The label of the \(name) session annotation.", category: "annotation", values: []))
        }
        terms.append(.init(name: "user.id", type: "string", description: "The user.id attribute of the session's earliest root span.", category: "attribute", values: []))
        terms.append(.init(name: "metadata['key']", type: "string", description: "A metadata value of the session's earliest root span.", category: "attribute", values: []))
        return terms
    }
}

extension FilterLanguage {
    static let sessions = FilterLanguage(
        named: { path in SessionFilterField.named(path).map { Binding(kind: $0.kind, sql: $0.sql) } },
        attributes: "(SELECT r.attributes FROM \(SessionFilterField.roots) ORDER BY t.start_time, t.trace_id, r.span_id LIMIT 1)",
        unboundNamesAreAttributes: false, proxies: ["user", "metadata"], annotationAccessor: "session_annotations",
        annotationRows: "project_session_annotations a WHERE a.org_id = ps.org_id AND a.project_session_id = ps.id",
        containment: Dictionary(uniqueKeysWithValues: SessionFilterField.containment.map { term in
            let path = term.path
            return (term.name, { @Sendable needle in
                "EXISTS (SELECT 1 FROM \(SessionFilterField.roots) AND strpos(lower(r.attributes #>> '\(path)'), lower(\(needle))) > 0)"
            })
        }),
        caseInsensitiveContainment: true,
        refusals: [
            "annotations": "`annotations[…]` is not available in a session filter: use session_annotations['name'].score or .label",
            "evals": "`evals[…]` is not available in a session filter: use session_annotations['name'].score or .label",
            "trace_annotations": "`trace_annotations[…]` is not available in a session filter: use session_annotations['name'].score or .label",
            "spans": "`spans` is iterated by comprehensions (`any(… for span in spans)`), which Cinder does not serve yet",
            "traces": "`traces` is iterated by comprehensions (`any(… for trace in traces)`), which Cinder does not serve yet",
            "span_annotations": "`span_annotations` is iterated by comprehensions, which Cinder does not serve yet",
        ],
        what: "session")
}
