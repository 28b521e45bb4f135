import CinderModel
import CinderStorage
import CinderTestSupport
import Foundation
import PostgresNIO
import Testing

/// The online evaluation queue as ingestion fills it and runners claim from it.
@Suite struct EvaluationQueueTests {
    @Test func ingestionQueuesWhatRulesSampleAndClaimsGoRoundTheOrganizations() async throws {
        let db = try await TestDatabase.create()
        let other = OrganizationID(try await db.scalar("INSERT INTO organizations (name) VALUES ('second') RETURNING id"))
        try await db.withDatabase { database async throws in
            let ingest = SpanIngestStore(database: database, logger: TestDatabase.logger)
            // A first span makes each organization's project; then a rule on each.
            for organization in [OrganizationID.default, other] {
                _ = try await ingest.insert([ProjectSpans(organizationID: organization, projectName: "app", spans: [Spans.make()])])
            }
            var rules: [OrganizationID: OnlineRuleRow] = [:]
            for organization in [OrganizationID.default, other] {
                let scope = database.tenant(.admin(of: organization), logger: TestDatabase.logger)
                let project = try #require(try await scope.projects.project(named: "app"))
                rules[organization] = try await scope.onlineEvaluation.create(
                    projectID: project.id, OnlineRuleChange(name: "all", evaluator: ["kind": "BUILTIN"], filterCondition: "", samplingRate: 1, enabled: true),
                    userID: nil)
            }
            // The first organization's backlog is older and larger than the second's.
            _ = try await ingest.insert([ProjectSpans(organizationID: .default, projectName: "app", spans: (0..<5).map { _ in Spans.make() })])
            _ = try await ingest.insert([ProjectSpans(organizationID: other, projectName: "app", spans: [Spans.make()])])
            // Evaluation traces are stored, never queued.
            _ = try await ingest.insert([ProjectSpans(organizationID: .default, projectName: "app", spans: [Spans.make()])], evaluated: false)
            #expect(try await db.scalar("SELECT count(*) FROM online_evaluation_queue WHERE organization_id = 1") == 5)
            #expect(try await db.scalar("SELECT count(*) FROM online_evaluation_queue WHERE organization_id = \(other.rawValue)") == 1)

            let queue = EvaluationQueue(.spans, database: database, runner: "test", logger: TestDatabase.logger)
            let first = try await queue.claim(limit: 2, lease: .seconds(60))
            #expect(first.map(\.organization) == [.default, .default] && first.allSatisfy { $0.ownerID == rules[.default]!.id && $0.attempts == 1 })
            // Served the first organization: the next claim serves the second, however old the first's backlog.
            let second = try await queue.claim(limit: 2, lease: .seconds(60), after: .default)
            #expect(second.map(\.organization) == [other])
            // And round again; what is leased is not claimed twice.
            let third = try await queue.claim(limit: 10, lease: .seconds(60), after: other)
            #expect(third.count == 3 && Set(third.map(\.id)).isDisjoint(with: first.map(\.id)))
            #expect(try await queue.claim(limit: 10, lease: .seconds(60), after: .default).isEmpty)
            try await queue.complete((first + second + third).map(\.id))
            #expect(try await queue.backlog() == 0)
        }
    }
}
