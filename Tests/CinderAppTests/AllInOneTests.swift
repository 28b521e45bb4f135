import CinderApp
import CinderServeApp
import CinderModel
import CinderOTLPProto
import CinderStorage
import CinderTestSupport
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `cinder serve` composed as in production (against a test database), driven over real HTTP.
struct RunningServer {
    let server: CinderServer
    let port: Int
    let db: TestDatabase

    static func withServer(
        maxQueue: Int = 20_000, _ body: @Sendable (RunningServer) async throws -> Void
    ) async throws {
        let db = try await TestDatabase.create(migrate: false)
        var configuration = CinderConfiguration(workingDirectory: "/tmp/unused")
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.grpcPort = 0
        configuration.databaseURL = "postgresql://\(db.url.username)@\(db.url.host):\(db.url.port)/\(db.name)"
        configuration.migrationDatabaseURL = "postgresql://\(db.ownerURL.username)@\(db.url.host):\(db.url.port)/\(db.name)"
        configuration.maxSpansQueueSize = maxQueue
        let server = try await CinderBuilder.allInOne(configuration, logger: TestDatabase.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serviceGroup.run() }
            let port = await server.boundHTTPPort()
            do {
                try await body(RunningServer(server: server, port: port, db: db))
            } catch {
                await server.serviceGroup.triggerGracefulShutdown()
                throw error
            }
            await server.serviceGroup.triggerGracefulShutdown()
            try await group.waitForAll()
        }
    }

    func request(_ method: String, _ path: String, body: Data? = nil, headers: [String: String] = [:]) async throws -> (Int, Data, [String: String]) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.httpBody = body
        for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        var out: [String: String] = [:]
        for (k, v) in http.allHeaderFields { out[String(describing: k).lowercased()] = String(describing: v) }
        return (http.statusCode, data, out)
    }

    func export(_ spans: Int, project: String, traceID: String = Spans.hex(16)) async throws -> (Int, Data, [String: String]) {
        try await request(
            "POST", "/v1/traces", body: Data(try Self.exportBody(spans, project: project, traceID: traceID)),
            headers: ["Content-Type": "application/x-protobuf"])
    }

    static func exportBody(_ count: Int, project: String, traceID: String) throws -> [UInt8] {
        var request = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest()
        var rs = Opentelemetry_Proto_Trace_V1_ResourceSpans()
        var attribute = Opentelemetry_Proto_Common_V1_KeyValue()
        attribute.key = "openinference.project.name"
        attribute.value.stringValue = project
        rs.resource.attributes = [attribute]
        var ss = Opentelemetry_Proto_Trace_V1_ScopeSpans()
        ss.spans = (0..<count).map { i in
            var span = Opentelemetry_Proto_Trace_V1_Span()
            span.traceID = Data(HexID.decode(traceID, byteCount: 16)!)
            span.spanID = Data(HexID.decode(Spans.hex(8), byteCount: 8)!)
            span.name = "span-\(i)"
            span.startTimeUnixNano = 1_700_000_000_000_000_000 + UInt64(i) * 1000
            span.endTimeUnixNano = span.startTimeUnixNano + 5000
            return span
        }
        rs.scopeSpans = [ss]
        request.resourceSpans = [rs]
        return try request.serializedBytes()
    }

    func storedSpans(project: String) async throws -> Int64 {
        try await db.scalar("SELECT count(*) FROM spans s JOIN projects p ON p.id = s.project_id WHERE p.name = '\(project)'")
    }

    /// Takes an exclusive lock on `projects`, so the writer blocks inside PostgreSQL until `release()`.
    func blockWriter() async throws -> WriterBlock {
        let connection = try await PostgresConnection.connect(
            configuration: try db.ownerURL.connectionConfiguration(), id: 99, logger: TestDatabase.logger)
        try await connection.query("BEGIN", logger: TestDatabase.logger)
        try await connection.query("LOCK TABLE projects IN ACCESS EXCLUSIVE MODE", logger: TestDatabase.logger)
        return WriterBlock(connection: connection)
    }
}

struct WriterBlock: Sendable {
    let connection: PostgresConnection

    func release() async throws {
        try await connection.query("COMMIT", logger: TestDatabase.logger)
        try await connection.close()
    }
}

@Suite(.serialized) struct AllInOneTests {
    @Test func ingestsOverHTTPAndServesPhoenixReads() async throws {
        try await RunningServer.withServer { server in
            let (status, body, headers) = try await server.export(5, project: "app-a")
            #expect(status == 200)
            #expect(body.isEmpty)  // an empty ExportTraceServiceResponse: no partial success
            #expect(headers["content-type"] == "application/x-protobuf")
            // Acknowledged means committed: readable immediately.
            #expect(try await server.storedSpans(project: "app-a") == 5)
            let (listStatus, list, listHeaders) = try await server.request("GET", "/v1/projects/app-a/spans?limit=2")
            #expect(listStatus == 200)
            #expect(listHeaders["x-phoenix-server-version"] == "20.26.1")
            let page = try JSONValue(parsing: Array(list))
            guard case .array(let data)? = page["data"] else { Issue.record("no data"); return }
            #expect(data.count == 2)
            #expect(page["next_cursor"]?.stringValue != nil)
            let (_, metrics, _) = try await server.request("GET", "/metrics")
            #expect(String(decoding: metrics, as: UTF8.self).contains("cinder_spans_written_total 5"))
        }
    }

    @Test func fullQueueAnswers503WithRetryAfterAndKeepsNothing() async throws {
        try await RunningServer.withServer(maxQueue: 4) { server in
            let block = try await server.blockWriter()
            async let first = server.export(4, project: "fills-queue")
            // Wait until the first request's spans are queued (the writer is blocked on the lock).
            var metrics = ""
            for _ in 0..<100 where !metrics.contains("cinder_spans_queue_depth 4") {
                metrics = String(decoding: try await server.request("GET", "/metrics").1, as: UTF8.self)
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(metrics.contains("cinder_spans_queue_depth 4"))
            let (status, body, headers) = try await server.export(1, project: "rejected")
            #expect(status == 503)
            #expect(headers["retry-after"] == "1")
            #expect(String(decoding: body, as: UTF8.self) == "Server is at capacity and cannot process more requests")
            try await block.release()
            #expect(try await first.0 == 200)
            #expect(try await server.storedSpans(project: "fills-queue") == 4)
            #expect(try await server.storedSpans(project: "rejected") == 0)
        }
    }

    @Test func gracefulShutdownFlushesAcceptedSpans() async throws {
        try await RunningServer.withServer { server in
            let block = try await server.blockWriter()
            async let inFlight = server.export(3, project: "in-flight")
            try await Task.sleep(for: .milliseconds(300))
            // Shutdown begins while the request waits for its spans to be written; it must still succeed.
            await server.server.serviceGroup.triggerGracefulShutdown()
            try await Task.sleep(for: .milliseconds(300))
            try await block.release()
            #expect(try await inFlight.0 == 200)
            #expect(try await server.storedSpans(project: "in-flight") == 3)
        }
    }

    @Test func malformedRequestsAreRejectedAndStoreNothing() async throws {
        try await RunningServer.withServer { server in
            let good = try RunningServer.exportBody(2, project: "malformed", traceID: Spans.hex(16))
            let cases: [(Data, [String: String], Int)] = [
                (Data(good.dropLast(5)), ["Content-Type": "application/x-protobuf"], 400),
                (Data("nope".utf8), ["Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"], 400),
                (Data("{bad".utf8), ["Content-Type": "application/json"], 400),
                (Data(good), ["Content-Type": "text/plain"], 415),
                (Data(good), ["Content-Type": "application/x-protobuf", "Content-Encoding": "br"], 415),
                (Data(count: 21 << 20), ["Content-Type": "application/x-protobuf"], 413),
            ]
            for (body, headers, expected) in cases {
                let (status, text, _) = try await server.request("POST", "/v1/traces", body: body, headers: headers)
                #expect(status == expected, "\(headers): \(String(decoding: text, as: UTF8.self))")
                #expect(!text.isEmpty)
            }
            #expect(try await server.storedSpans(project: "malformed") == 0)
            let (status, body, _) = try await server.request("GET", "/v1/projects/default/spans?limit=0")
            #expect(status == 422)
            let detail = try JSONValue(parsing: Array(body))
            #expect(detail["detail"] == [["type": "greater_than", "loc": ["query", "limit"], "msg": "Input should be greater than 0", "input": "0"]])
            #expect(try await server.request("GET", "/v1/projects/nope/spans").0 == 404)
            #expect(try await server.request("GET", "/v1/projects/default/spans?status_code=BAD").0 == 422)
        }
    }

    /// Inputs that once could crash the process or stall ingestion are answered with 4xx (or stored
    /// safely), and the server keeps serving.
    @Test func hostileInputsAreAnsweredNotFatal() async throws {
        try await RunningServer.withServer { server in
            // Token counts at the edge of Int64 are clamped, so sums cannot overflow on read.
            var request = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest()
            var rs = Opentelemetry_Proto_Trace_V1_ResourceSpans()
            var project = Opentelemetry_Proto_Common_V1_KeyValue()
            project.key = "openinference.project.name"
            project.value.stringValue = "hostile"
            rs.resource.attributes = [project]
            var ss = Opentelemetry_Proto_Trace_V1_ScopeSpans()
            var span = Opentelemetry_Proto_Trace_V1_Span()
            span.traceID = Data(HexID.decode(Spans.hex(16), byteCount: 16)!)
            span.spanID = Data(HexID.decode(Spans.hex(8), byteCount: 8)!)
            span.name = "llm"
            span.startTimeUnixNano = 1_700_000_000_000_000_000
            span.endTimeUnixNano = 1_700_000_000_000_001_000
            for (key, value) in [("llm.token_count.prompt", Int64.max), ("llm.token_count.completion", Int64.max)] {
                var kv = Opentelemetry_Proto_Common_V1_KeyValue()
                kv.key = key
                kv.value.intValue = value
                span.attributes.append(kv)
            }
            var kind = Opentelemetry_Proto_Common_V1_KeyValue()
            kind.key = "openinference.span.kind"
            kind.value.stringValue = "LLM"
            var session = Opentelemetry_Proto_Common_V1_KeyValue()
            session.key = "session.id"
            session.value.stringValue = String(repeating: "s", count: 5000)
            var second = span
            second.spanID = Data(HexID.decode(Spans.hex(8), byteCount: 8)!)
            second.attributes.append(session)
            span.attributes.append(kind)
            ss.spans = [span, second]
            rs.scopeSpans = [ss]
            request.resourceSpans = [rs]
            let (status, body, _) = try await server.request(
                "POST", "/v1/traces", body: Data(try request.serializedBytes() as [UInt8]),
                headers: ["Content-Type": "application/x-protobuf"])
            #expect(status == 200)
            let response = try Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceResponse(serializedBytes: Array(body))
            #expect(response.partialSuccess.rejectedSpans == 1)  // the 5000-byte session.id
            let (tracesStatus, traces, _) = try await server.request("GET", "/v1/projects/hostile/traces")
            #expect(tracesStatus == 200)
            let page = try JSONValue(parsing: Array(traces))
            guard case .array(let rows)? = page["data"] else { Issue.record("no data"); return }
            #expect(rows.count == 1)
            #expect(rows.first?["token_count_total"] == .int(2 * Int64(Int32.max)))

            for (method, path, body, expected) in [
                ("GET", "/v1/projects/default/spans?start_time=1e17", nil, 422),
                ("GET", "/v1/projects?limit=9223372036854775807", nil, 422),
                ("GET", "/v1/projects/default/traces?min_latency_ms=1e300", nil, 422),
                ("GET", "/v1/projects/%00", nil, 422),
                ("POST", "/v1/spans?project_name=default", #"{"queries":[{}],"limit":-1}"#, 422),
                ("POST", "/v1/spans?project_name=default", #"{"queries":[{"filter":{"condition":"latency_ms > 99999999999999999999"}}]}"#, 200),
                ("POST", "/v1/spans?project_name=default", #"{"queries":[{"filter":{"condition":"\#(String(repeating: "(", count: 5000))"}}]}"#, 422),
                ("POST", "/v1/projects/default/spans", #"{"data":[{"name":"x","context":{"trace_id":"t","span_id":"s"},"span_kind":"LLM","start_time":"2300-01-01T00:00:00Z","end_time":"2300-01-01T00:00:00Z","status_code":"OK"}]}"#, 422),
            ] as [(String, String, String?, Int)] {
                let (status, text, _) = try await server.request(method, path, body: body.map { Data($0.utf8) }, headers: ["Content-Type": "application/json"])
                #expect(status == expected, "\(method) \(path): \(String(decoding: text, as: UTF8.self))")
            }
            #expect(try await server.request("GET", "/healthz").0 == 200)
        }
    }
}
