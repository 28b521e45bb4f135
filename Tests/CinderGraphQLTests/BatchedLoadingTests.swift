import CinderGraphQL
import CinderModel
import CinderStorage
import CinderTestSupport
import Foundation
import GraphQL
import Logging
import PostgresNIO
import Testing

/// GraphQL resolves a field once per object; without batching, a page of traces with their spans and
/// annotations costs a statement per row. These tests count the statements a query really issues.
@Suite struct BatchedLoadingTests {
    static let query = """
        query($id: ID!, $first: Int!) { node(id: $id) { ... on Project {
          traces(first: $first) { edges { node {
            traceId numSpans rootSpan { name } traceAnnotations { name score }
            spans(first: 10) { edges { node {
              spanId name parentId numChildSpans trace { traceId }
              spanAnnotations { name label score spanId }
            } } }
          } } }
        } } }
        """

    /// Seeds `traces` traces of 3 spans (a root and two children), each span with 2 annotations and
    /// each trace with 1, in a project of its own.
    static func seed(_ client: PostgresConnection, project: String, traces: Int) async throws -> Int64 {
        let logger = TestDatabase.logger
        var projectID: Int64 = 0
        for try await id in try await client.query(
            "INSERT INTO projects (org_id, name) VALUES (1, \(project)) RETURNING id", logger: logger
        ).decode(Int64.self) {
            projectID = id
        }
        let statements = [
            """
            INSERT INTO traces (org_id, project_id, trace_id, start_time, end_time)
            SELECT 1, \(projectID), '\(project)-' || g, now() - g * interval '1 minute', now() - g * interval '1 minute' + interval '3 seconds'
            FROM generate_series(1, \(traces)) g
            """,
            """
            INSERT INTO spans (org_id, project_id, trace_rowid, span_id, parent_id, name, span_kind, start_time, end_time,
                attributes, events, status_code, status_message)
            SELECT 1, t.project_id, t.id, t.trace_id || '-' || k, CASE WHEN k = 0 THEN NULL ELSE t.trace_id || '-0' END,
                'span-' || k, 'CHAIN', t.start_time + k * interval '1 second', t.end_time, '{}', '[]', 'OK', ''
            FROM traces t, generate_series(0, 2) k WHERE t.project_id = \(projectID)
            """,
            """
            INSERT INTO span_annotations (org_id, span_rowid, name, label, score, annotator_kind, source)
            SELECT 1, s.id, n, 'good', 1.0, 'HUMAN', 'API' FROM spans s, unnest(ARRAY['quality', 'relevance']) n
            WHERE s.project_id = \(projectID)
            """,
            """
            INSERT INTO trace_annotations (org_id, trace_rowid, name, score, annotator_kind, source)
            SELECT 1, t.id, 'overall', 0.5, 'LLM', 'API' FROM traces t WHERE t.project_id = \(projectID)
            """,
        ]
        for statement in statements {
            try await client.query(PostgresQuery(unsafeSQL: statement), logger: logger)
        }
        return projectID
    }

    /// Runs the query for the first `first` traces; returns the traces and the statements it took.
    static func run(_ endpoint: GraphQLEndpoint, projectID: Int64, first: Int) async throws -> (traces: [[String: Any]], statements: Int) {
        let counter = ReadStatementCounter()
        let request = GraphQLRequest(
            query: query, variables: ["id": .string(GlobalID(NodeType.project, projectID).encoded), "first": .number(Number(first))])
        let body = await ReadStatementCounter.$current.withValue(counter) {
            await endpoint.execute(request, access: .local, logger: TestDatabase.logger)
        }
        let json = try JSONSerialization.jsonObject(with: Data(body)) as! [String: Any]
        #expect(json["errors"] == nil, "\(json["errors"]!)")
        let data = json["data"] as! [String: Any]
        let traces = ((data["node"] as! [String: Any])["traces"] as! [String: Any])["edges"] as! [[String: Any]]
        return (traces.map { $0["node"] as! [String: Any] }, counter.statements)
    }

    @Test func fiftyTracesWithSpansAndAnnotationsTakeAFixedNumberOfStatements() async throws {
        let database = try await TestDatabase.create()
        let projectID = try await TestDatabase.withConnection(database.ownerURL) { try await Self.seed($0, project: "batched", traces: 60) }
        try await database.withClient { client in
            let endpoint = try await GraphQLEndpoint(database: Database(primary: client))

            let (traces, statements) = try await Self.run(endpoint, projectID: projectID, first: 50)
            #expect(traces.count == 50)
            for trace in traces {
                let traceID = trace["traceId"] as! String
                #expect(trace["numSpans"] as? Int == 3)
                #expect((trace["rootSpan"] as? [String: Any])?["name"] as? String == "span-0")
                #expect((trace["traceAnnotations"] as! [[String: Any]]).map { $0["name"] as! String } == ["overall"])
                let spans = ((trace["spans"] as! [String: Any])["edges"] as! [[String: Any]]).map { $0["node"] as! [String: Any] }
                #expect(spans.count == 3)
                for span in spans {
                    #expect((span["trace"] as! [String: Any])["traceId"] as? String == traceID)
                    let isRoot = span["parentId"] is NSNull
                    #expect(span["numChildSpans"] as? Int == (isRoot ? 2 : 0))
                    let annotations = span["spanAnnotations"] as! [[String: Any]]
                    #expect(Set(annotations.map { $0["name"] as! String }) == ["quality", "relevance"])
                    #expect(annotations.allSatisfy { $0["label"] as? String == "good" })
                }
            }
            // 50 traces × 3 spans × 2 annotations would be hundreds of statements one row at a time.
            // Batched, 9: the project, the traces, span counts, root spans, trace annotations, the
            // spans, child counts, the spans' traces, span annotations.
            #expect(statements <= 9, "\(statements) statements")

            // The count does not grow with the page.
            let (few, fewStatements) = try await Self.run(endpoint, projectID: projectID, first: 5)
            #expect(few.count == 5)
            #expect(fewStatements == statements)
        }
    }
}
