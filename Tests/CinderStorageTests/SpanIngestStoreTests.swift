import CinderModel
import CinderStorage
import CinderTestSupport
import PostgresNIO
import Testing

@Suite struct SpanIngestStoreTests {
    @Test func insertsBatchAndIsIdempotentOnSpanID() async throws {
        let db = try await TestDatabase.create()
        let trace = Spans.hex(16)
        let root = Spans.make(trace: trace, name: "root", start: 1_000_000_000_000, durationNanos: 5_000_000_000)
        let child = Spans.make(
            trace: trace, parent: root.spanID, name: "llm", kind: .llm, start: 1_000_500_000_000, durationNanos: 1_000_000_000,
            attributes: ["llm": ["token_count": ["prompt": 10, "completion": 4]], "session": ["id": "sess-1"]])
        let batch = ProjectSpans(organizationID: .default, projectName: "p1", spans: [root, child])
        try await db.withClient { client async throws in
            let ingest = SpanIngestStore(database: Database(primary: client), logger: TestDatabase.logger)
            #expect(try await ingest.insert([batch]) == 2)
            #expect(try await ingest.insert([batch]) == 0)  // replay: nothing new
        }
        #expect(try await db.scalar("SELECT count(*) FROM spans") == 2)
        #expect(try await db.scalar("SELECT count(*) FROM traces") == 1)
        #expect(try await db.scalar("SELECT count(*) FROM projects WHERE name = 'p1'") == 1)
        #expect(try await db.scalar("SELECT count(*) FROM project_sessions WHERE session_id = 'sess-1'") == 1)
        #expect(try await db.scalar("SELECT count(*) FROM traces WHERE project_session_id IS NOT NULL") == 1)
        #expect(try await db.scalar("SELECT llm_token_count_prompt FROM spans WHERE name = 'llm'") == 10)
        #expect(try await db.scalar("SELECT count(*) FROM spans WHERE name = 'root' AND llm_token_count_prompt IS NULL") == 1)
        // Trace covers its spans: 1000 s to 1005 s, stored with microsecond precision.
        #expect(try await db.scalar("SELECT (extract(epoch FROM start_time) * 1000000)::int8 FROM traces") == 1_000_000_000)
        #expect(try await db.scalar("SELECT (extract(epoch FROM end_time) * 1000000)::int8 FROM traces") == 1_005_000_000)
    }

    @Test func laterSpansJoinTheirTraceAndSession() async throws {
        let db = try await TestDatabase.create()
        let trace = Spans.hex(16)
        let first = Spans.make(trace: trace, start: 2_000_000_000_000, durationNanos: 1_000)
        let late = Spans.make(
            trace: trace, start: 1_000_000_000_000, durationNanos: 3_000_000_000_000,
            attributes: ["session": ["id": " s-2 "]])
        try await db.withClient { client async throws in
            let ingest = SpanIngestStore(database: Database(primary: client), logger: TestDatabase.logger)
            _ = try await ingest.insert([ProjectSpans(organizationID: .default, projectName: "first", spans: [first])])
            // The second span names another project: it still belongs to its trace's project.
            _ = try await ingest.insert([ProjectSpans(organizationID: .default, projectName: "other", spans: [late])])
        }
        #expect(try await db.scalar("SELECT count(*) FROM spans s JOIN projects p ON p.id = s.project_id WHERE p.name = 'first'") == 2)
        #expect(try await db.scalar("SELECT count(*) FROM projects WHERE name = 'other'") == 0)  // no empty project
        #expect(try await db.scalar("SELECT (extract(epoch FROM start_time) * 1000000)::int8 FROM traces") == 1_000_000_000)
        #expect(try await db.scalar("SELECT (extract(epoch FROM end_time) * 1000000)::int8 FROM traces") == 4_000_000_000)
        #expect(try await db.scalar("SELECT count(*) FROM project_sessions WHERE session_id = 's-2'") == 1)
    }

    @Test func nulCharactersAndAwkwardTextAreStored() async throws {
        let db = try await TestDatabase.create()
        let span = Spans.make(name: "a\u{0}b", attributes: ["input": ["value": "x\u{0}y 😀 \"q\""]])
        try await db.withClient { client async throws in
            #expect(try await SpanIngestStore(database: Database(primary: client), logger: TestDatabase.logger).insert(
                [ProjectSpans(organizationID: .default, projectName: "weird \u{0} name", spans: [span])]) == 1)
        }
        #expect(try await db.scalar("SELECT count(*) FROM spans WHERE name = E'a\\uFFFDb'") == 1)
    }

    @Test func migrationsAreIdempotentAndRefuseNewerSchemas() async throws {
        let db = try await TestDatabase.create()
        try await TestDatabase.withConnection(db.ownerURL) { try await Migrations.migrate($0, logger: TestDatabase.logger) }
        #expect(try await db.scalar("SELECT count(*) FROM cinder_schema_migrations") == Int64(Migrations.latestVersion))
        _ = try await db.scalar("INSERT INTO cinder_schema_migrations (version, name) VALUES (9999, 'future') RETURNING version")
        await #expect(throws: CinderStorageError.self) {
            try await TestDatabase.withConnection(db.ownerURL) { try await Migrations.migrate($0, logger: TestDatabase.logger) }
        }
    }
}

@Suite struct QueryTests {
    /// Three traces in one project: t0 (2 spans, one ERROR), t1 (1 span, LLM), t2 (1 span), starting 1 s apart.
    func seed(_ db: TestDatabase) async throws -> (traces: [String], spans: [Span]) {
        let traces = (0..<3).map { _ in Spans.hex(16) }
        let root0 = Spans.make(trace: traces[0], name: "root", start: 1_000_000_000_000, durationNanos: 2_000_000)
        let spans = [
            root0,
            Spans.make(trace: traces[0], parent: root0.spanID, name: "tool", kind: .tool, start: 1_000_000_500_000, status: .error,
                       attributes: ["user": ["id": "u-1"]]),
            Spans.make(trace: traces[1], name: "chat", kind: .llm, start: 1_001_000_000_000, durationNanos: 9_000_000,
                       attributes: ["llm": ["token_count": ["prompt": 3, "completion": 2]], "n": 7]),
            Spans.make(trace: traces[2], name: "root", start: 1_002_000_000_000, durationNanos: 1_000_000,
                       attributes: ["session": ["id": "s-9"]]),
        ]
        try await db.withClient { client async throws in
            _ = try await SpanIngestStore(database: Database(primary: client), logger: TestDatabase.logger).insert(
                [ProjectSpans(organizationID: .default, projectName: "q", spans: spans)])
        }
        return (traces, spans)
    }

    @Test func spanFiltersAndPagination() async throws {
        let db = try await TestDatabase.create()
        let (traces, spans) = try await seed(db)
        try await db.withClient { client async throws in
            let scope = Database(primary: client).tenant(.local, logger: TestDatabase.logger)
            let project = try #require(try await scope.projects.project(named: "q"))
            func names(_ f: SpanFilter, limit: Int = 100) async throws -> [String] {
                try await scope.spans.spans(projectID: project.id, filter: f, limit: limit).map(\.name)
            }
            var f = SpanFilter()
            #expect(try await names(f) == ["root", "chat", "tool", "root"])  // id desc
            f.order = .asc
            #expect(try await names(f) == ["root", "tool", "chat", "root"])
            f = SpanFilter(); f.traceIDs = [traces[0]]
            #expect(try await names(f).sorted() == ["root", "tool"])
            f = SpanFilter(); f.parentID = .some(nil)
            #expect(try await names(f).count == 3)
            f = SpanFilter(); f.spanKinds = ["LLM"]
            #expect(try await names(f) == ["chat"])
            f = SpanFilter(); f.statusCodes = ["ERROR"]
            #expect(try await names(f) == ["tool"])
            f = SpanFilter(); f.attributes = [(["user", "id"], "\"u-1\"")]
            #expect(try await names(f) == ["tool"])
            f = SpanFilter(); f.attributes = [(["n"], "7.0")]  // numeric equality, int or float
            #expect(try await names(f) == ["chat"])
            f = SpanFilter(); f.spanIDs = [spans[2].spanID]
            #expect(try await names(f) == ["chat"])
            f = SpanFilter(); f.startMicros = 1_001_000_000; f.endMicros = 1_002_000_000
            #expect(try await names(f) == ["chat"])
            // Keyset pages by start time: 2 + 2, no overlap.
            f = SpanFilter(); f.sort = .startTime; f.order = .asc
            let first = try await scope.spans.spans(projectID: project.id, filter: f, limit: 3)
            f.cursor = .init(key: first[2].startMicros, id: first[2].id)
            let second = try await scope.spans.spans(projectID: project.id, filter: f, limit: 3)
            #expect(first.prefix(2).map(\.name) + second.map(\.name) == ["root", "tool", "chat", "root"])
        }
    }

    @Test func tracesSortTokensAndDeletes() async throws {
        let db = try await TestDatabase.create()
        let (traces, spans) = try await seed(db)
        try await db.withClient { client async throws in
            let scope = Database(primary: client).tenant(.local, logger: TestDatabase.logger)
            let project = try #require(try await scope.projects.project(named: "q"))
            var f = TraceFilter()
            f.sort = .latency
            f.order = .desc
            let byLatency = try await scope.spans.traces(projectID: project.id, filter: f, limit: 10)
            #expect(byLatency.map(\.traceID) == [traces[1], traces[0], traces[2]])
            #expect(byLatency[0].promptTokens == 3 && byLatency[0].completionTokens == 2)
            f = TraceFilter(); f.hasError = true
            #expect(try await scope.spans.traces(projectID: project.id, filter: f, limit: 10).map(\.traceID) == [traces[0]])
            f = TraceFilter(); f.sessionIDs = ["s-9"]
            #expect(try await scope.spans.traces(projectID: project.id, filter: f, limit: 10).map(\.traceID) == [traces[2]])
            f = TraceFilter(); f.minLatencyMicros = 2_000
            #expect(try await scope.spans.traces(projectID: project.id, filter: f, limit: 10).count == 2)

            // Deleting the only span of a trace removes the trace; a trace's delete cascades to spans and its emptied session.
            #expect(try await scope.spans.deleteSpan(rowID: nil, spanID: spans[2].spanID))
            #expect(try await scope.spans.trace(rowID: nil, traceID: traces[1]) == nil)
            #expect(try await scope.spans.deleteTrace(rowID: nil, traceID: traces[2]))
            #expect(try await scope.sessions.session(rowID: nil, sessionID: "s-9") == nil)
            #expect(try await scope.spans.deleteSpan(rowID: nil, spanID: "ffffffffffffffff") == false)
        }
        #expect(try await db.scalar("SELECT count(*) FROM spans") == 2)
    }

    @Test func tenantsDoNotSeeEachOther() async throws {
        let db = try await TestDatabase.create()
        _ = try await seed(db)
        _ = try await db.scalar("INSERT INTO organizations (name) VALUES ('other') RETURNING id")
        try await db.withClient { client async throws in
            let other = Database(primary: client).tenant(.admin(of: OrganizationID(2)), logger: TestDatabase.logger)
            #expect(try await other.projects.project(named: "q") == nil)
            #expect(try await other.projects.list(atOrBeforeID: nil, limit: 10, nameContains: nil, includeExperimentProjects: true).isEmpty)
        }
    }
}

@Suite struct DeletionTests {
    /// Spans carry no foreign key to their trace, so every delete path must take them along.
    @Test func deletesLeaveNoOrphanSpans() async throws {
        let db = try await TestDatabase.create()
        let sessionTrace = Spans.hex(16), plainTrace = Spans.hex(16), otherProjectTrace = Spans.hex(16)
        let spans = [
            Spans.make(trace: sessionTrace, attributes: ["session": ["id": "doomed"]]),
            Spans.make(trace: sessionTrace),
            Spans.make(trace: plainTrace, start: 5_000_000_000_000),
        ]
        try await db.withClient { client async throws in
            let ingest = SpanIngestStore(database: Database(primary: client), logger: TestDatabase.logger)
            _ = try await ingest.insert([ProjectSpans(organizationID: .default, projectName: "keep", spans: spans)])
            _ = try await ingest.insert([
                ProjectSpans(organizationID: .default, projectName: "drop", spans: [Spans.make(trace: otherProjectTrace)])
            ])
            let scope = Database(primary: client).tenant(.local, logger: TestDatabase.logger)
            #expect(try await scope.sessions.delete(rowIDs: [], sessionIDs: ["doomed"]) == 1)
            let keep = try #require(try await scope.projects.project(named: "keep"))
            try await scope.spans.deleteTraces(projectID: keep.id, startMicros: 4_000_000_000, endMicros: 6_000_000_000)
            let drop = try #require(try await scope.projects.project(named: "drop"))
            #expect(try await scope.projects.delete(id: drop.id))
        }
        #expect(try await db.scalar("SELECT count(*) FROM spans") == 0)
        #expect(try await db.scalar("SELECT count(*) FROM traces") == 0)
        #expect(try await db.scalar("SELECT count(*) FROM project_sessions") == 0)
    }
}
