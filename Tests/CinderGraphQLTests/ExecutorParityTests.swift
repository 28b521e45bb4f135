@testable import CinderGraphQL
import CinderModel
import CinderStorage
import CinderTestSupport
import Foundation
import GraphQL
import PostgresNIO
import Testing

/// Cinder runs queries on its own executor (`OperationRun`: one task, direct field reads, JSON written
/// as it goes). GraphQLSwift's executor is the reference: for the same request both must answer the
/// same data, field for field, and the same errors at the same paths.
@Suite struct ExecutorParityTests {
    static let pageQuery = """
        query Page($id: ID!, $first: Int!, $hideCursor: Boolean = false) {
          node(id: $id) {
            __typename
            id
            ... on Project {
              name
              traces(first: $first) {
                pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
                edges { cursor traceNode: node { ...TraceFields } }
              }
              trace(traceId: "no-such-trace") { id }
            }
          }
          absent: getSpanByOtelId(spanId: "no-such-span") { id }
        }
        fragment TraceFields on Trace {
          __typename id traceId startTime endTime latencyMs projectId projectSessionId numSpans
          rootSpan { name spanId }
          traceAnnotations { name score label annotatorKind traceId }
          spans(first: 10) {
            pageInfo { hasNextPage endCursor @skip(if: $hideCursor) startCursor @include(if: $hideCursor) }
            edges { cursor node {
              __typename id spanId name statusCode statusMessage startTime endTime latencyMs parentId spanKind
              context { traceId spanId } attributes metadata numDocuments
              tokenCountTotal tokenCountPrompt tokenCountCompletion
              input { mimeType value truncatedValue } output { mimeType value }
              events { name message timestamp }
              numChildSpans spanAnnotations { name label score spanId }
              trace { traceId }
            } }
          }
        }
        """

    static func seed(_ client: PostgresConnection) async throws -> Int64 {
        let projectID = try await BatchedLoadingTests.seed(client, project: "parity", traces: 12)
        // Attributes, events and a status message on some spans, so that the fields read from them
        // have values to compare (and others stay null).
        try await client.query(
            PostgresQuery(
                unsafeSQL: """
                    UPDATE spans SET
                        attributes = '{"llm": {"token_count": {"prompt": 7, "completion": 5, "total": 12}},
                                       "input": {"value": "{\\"q\\": \\"hi\\"}", "mime_type": "application/json"},
                                       "output": {"value": "hello \\"there\\"\\n"}, "metadata": {"user": "ü"},
                                       "retrieval": {"documents": [{"id": 1}, {"id": 2}]}}',
                        events = '[{"name": "exception", "timestamp": "2024-05-01T12:00:00.5+00:00",
                                    "attributes": {"exception.message": "boom"}}]',
                        status_code = 'ERROR', status_message = 'it "failed"'
                    WHERE project_id = \(projectID) AND name = 'span-1'
                    """), logger: TestDatabase.logger)
        return projectID
    }

    /// The parsed response of both executors.
    static func both(_ endpoint: GraphQLEndpoint, _ request: GraphQLRequest) async throws -> (cinder: NSDictionary, reference: NSDictionary) {
        func run(_ executor: GraphQLEndpoint.Executor) async throws -> NSDictionary {
            let body = await endpoint.execute(request, access: .local, logger: TestDatabase.logger, executor: executor)
            return try JSONSerialization.jsonObject(with: Data(body)) as! NSDictionary
        }
        return (try await run(.cinder), try await run(.graphQLSwift))
    }

    /// Errors as comparable values, in a fixed order. GraphQLSwift resolves fields and list items
    /// concurrently, so its errors come in any order, and where every item of a list fails the same way
    /// the item it reports is whichever failed first: list indexes are compared as `#`.
    static func errors(_ response: NSDictionary) -> [String] {
        ((response["errors"] as? [NSDictionary]) ?? []).map { error in
            let path = (error["path"] as? [Any] ?? []).map { $0 is NSNumber ? "#" : "\($0)" }.joined(separator: ".")
            let locations = (error["locations"] as? [NSDictionary] ?? []).map { "\($0["line"] ?? "")/\($0["column"] ?? "")" }
            return "\(path) @\(locations.joined(separator: ",")): \(error["message"] ?? "")"
        }.sorted()
    }

    @Test func aPageOfTracesWithEveryTraceAndSpanFieldIsAnsweredAsGraphQLSwiftAnswersIt() async throws {
        let database = try await TestDatabase.create()
        let projectID = try await TestDatabase.withConnection(database.ownerURL) { try await Self.seed($0) }
        try await database.withClient { client in
            let endpoint = try await GraphQLEndpoint(database: Database(primary: client))
            let project = Map.string(GlobalID(NodeType.project, projectID).encoded)
            for hideCursor in [false, true] {
                let request = GraphQLRequest(
                    query: Self.pageQuery, operationName: "Page",
                    variables: ["id": project, "first": .number(Number(10)), "hideCursor": .bool(hideCursor)])
                let (cinder, reference) = try await Self.both(endpoint, request)
                #expect(cinder["errors"] == nil, "\(cinder["errors"]!)")
                #expect(cinder == reference)

                // The comparison is not vacuous: the page holds what the query asks for.
                let node = (cinder["data"] as! NSDictionary)["node"] as! NSDictionary
                let edges = (node["traces"] as! NSDictionary)["edges"] as! [NSDictionary]
                #expect(edges.count == 10)
                let spans = edges.flatMap { (($0["traceNode"] as! NSDictionary)["spans"] as! NSDictionary)["edges"] as! [NSDictionary] }
                #expect(spans.count == 30)
                let failed = spans.map { $0["node"] as! NSDictionary }.filter { $0["statusCode"] as? String == "ERROR" }
                #expect(failed.count == 10)
                #expect(failed.allSatisfy { $0["tokenCountTotal"] as? Int == 12 && $0["numDocuments"] as? Int == 2 })
                #expect(failed.allSatisfy { ($0["output"] as? NSDictionary)?["value"] as? String == "hello \"there\"\n" })
                let pageInfo = ((edges[0]["traceNode"] as! NSDictionary)["spans"] as! NSDictionary)["pageInfo"] as! NSDictionary
                #expect((pageInfo["endCursor"] != nil) == !hideCursor)
                #expect((pageInfo["startCursor"] != nil) == hideCursor)
            }
        }
    }

    @Test func errorsAndNullsPropagateAsGraphQLSwiftPropagatesThem() async throws {
        let database = try await TestDatabase.create()
        let projectID = try await TestDatabase.withConnection(database.ownerURL) { try await Self.seed($0) }
        try await database.withClient { client in
            let endpoint = try await GraphQLEndpoint(database: Database(primary: client))
            let requests: [(String, [String: Map])] = [
                // A non-null root field fails: no data at all.
                (#"{ node(id: "not-a-global-id") { id } }"#, [:]),
                // A non-null connection fails under a nullable parent: the parent is null, the sibling stays.
                (
                    #"""
                    query($name: String!) {
                      project: getProjectByName(name: $name) { name spans(first: 2, after: "!!not-a-cursor") { edges { cursor } } }
                      again: getProjectByName(name: $name) { name }
                    }
                    """#, ["name": .string("parity")]
                ),
                // Errors inside list items, with their indexes in the path.
                (
                    #"""
                    query($id: ID!) { node(id: $id) { ... on Project { traces(first: 3) { edges { node {
                      traceId spans(first: 1, after: "bad") { edges { cursor } } } } } } } }
                    """#, ["id": .string(GlobalID(NodeType.project, projectID).encoded)]
                ),
            ]
            for (query, variables) in requests {
                let (cinder, reference) = try await Self.both(endpoint, GraphQLRequest(query: query, variables: variables))
                #expect(!Self.errors(cinder).isEmpty, "\(query)")
                #expect(Self.errors(cinder) == Self.errors(reference), "\(query)")
                // Where an error nulls the whole result the spec says `"data": null`; GraphQLSwift leaves `data` out.
                let data = cinder["data"] is NSNull ? nil : cinder["data"] as? NSObject
                #expect(data == reference["data"] as? NSObject, "\(query)")
            }
        }
    }

    @Test func variablesAreCoercedAndCheckedBeforeAnythingRuns() async throws {
        let database = try await TestDatabase.create()
        let projectID = try await TestDatabase.withConnection(database.ownerURL) { try await Self.seed($0) }
        try await database.withClient { client in
            let endpoint = try await GraphQLEndpoint(database: Database(primary: client))
            let query = """
                query($id: ID!, $first: Int!, $range: TimeRange) { node(id: $id) { ... on Project {
                  spans(first: $first, timeRange: $range, sort: {col: startTime, dir: asc}) { edges { node { name } } } } } }
                """
            let id = Map.string(GlobalID(NodeType.project, projectID).encoded)
            // Good variables, an input object among them: both executors agree on the page.
            let range: Map = .dictionary(["start": .string("2000-01-01T00:00:00+00:00")])
            let (cinder, reference) = try await Self.both(
                endpoint, GraphQLRequest(query: query, variables: ["id": id, "first": .number(Number(4)), "range": range]))
            #expect(cinder["errors"] == nil)
            #expect(cinder == reference)
            let edges = ((((cinder["data"] as! NSDictionary)["node"] as! NSDictionary)["spans"] as! NSDictionary)["edges"] as! [Any])
            #expect(edges.count == 4)

            // Bad variables: an error naming the variable, and no data.
            for variables: [String: Map] in [
                ["id": id, "first": .string("four")],
                ["id": id],
                ["id": id, "first": .number(Number(4)), "range": .dictionary(["start": .string("yesterday")])],
                ["id": id, "first": .number(Number(4)), "range": .dictionary(["begin": .string("2000-01-01")])],
            ] {
                let body = await endpoint.execute(GraphQLRequest(query: query, variables: variables), access: .local, logger: TestDatabase.logger)
                let response = try JSONSerialization.jsonObject(with: Data(body)) as! NSDictionary
                let messages = Self.errors(response)
                #expect(messages.count == 1, "\(variables)")
                #expect(messages.first?.contains("Variable \"$") == true, "\(messages)")
                #expect(response["data"] == nil)
            }

            // A variable with a default may be sent as null; where the position is non-null that is an error.
            for query in [
                "query($s: Boolean = true) { projectCount @skip(if: $s) }",
                "query($id: ID!, $d: SortDir = asc) { node(id: $id) { ... on Project { spans(first: 1, sort: {col: startTime, dir: $d}) { edges { cursor } } } } }",
            ] {
                let body = await endpoint.execute(
                    GraphQLRequest(query: query, variables: ["id": id, "s": .null, "d": .null]), access: .local, logger: TestDatabase.logger)
                let response = try JSONSerialization.jsonObject(with: Data(body)) as! NSDictionary
                #expect(Self.errors(response).count == 1, "\(query): \(response)")
                #expect(Self.errors(response).first?.contains("not to be null") == true, "\(Self.errors(response))")
            }
        }
    }
}
