import CinderModel
import PostgresNIO

/// The statements of one aggregate, run through a tenant scope. Each repository is a view of the scope
/// (`scope.projects`, `scope.spans`, …), so a statement can only be run for the scope's organization.
protocol TenantRepository: Sendable {
    var scope: TenantScope { get }
}

extension TenantRepository {
    /// The scope's organization, for the statements' own `org_id` conditions (row-level security
    /// enforces it regardless; the conditions let the indexes that start with `org_id` serve).
    var org: Int64 { scope.org }
}

/// Projects: their rows, statistics over their spans and traces.
public struct ProjectRepository: TenantRepository { let scope: TenantScope }
/// Traces and their spans.
public struct SpanRepository: TenantRepository { let scope: TenantScope }
/// Sessions: the traces that share a `session.id`.
public struct SessionRepository: TenantRepository { let scope: TenantScope }
/// Span, document, trace and session annotations, and annotation configs.
public struct AnnotationRepository: TenantRepository { let scope: TenantScope }
/// Datasets with their versions, examples, splits and labels.
public struct DatasetRepository: TenantRepository { let scope: TenantScope }
/// Experiments with their runs, evaluations and tags.
public struct ExperimentRepository: TenantRepository { let scope: TenantScope }
/// Prompts with their versions and tags.
public struct PromptRepository: TenantRepository { let scope: TenantScope }
/// The organization's people, their roles, API keys and session tokens.
public struct MemberRepository: TenantRepository { let scope: TenantScope }

extension TenantScope {
    public var projects: ProjectRepository { ProjectRepository(scope: self) }
    public var spans: SpanRepository { SpanRepository(scope: self) }
    public var sessions: SessionRepository { SessionRepository(scope: self) }
    public var annotations: AnnotationRepository { AnnotationRepository(scope: self) }
    public var datasets: DatasetRepository { DatasetRepository(scope: self) }
    public var experiments: ExperimentRepository { ExperimentRepository(scope: self) }
    public var prompts: PromptRepository { PromptRepository(scope: self) }
    public var members: MemberRepository { MemberRepository(scope: self) }
}

/// The outcome of changing a named row whose name is unique in its organization.
public enum RenameResult<Row: Sendable>: Sendable {
    case updated(Row)
    case notFound
    case nameTaken
}

extension TenantRepository {
    /// Runs an update that may rename a row; the unique constraint on the name decides, so a
    /// concurrent rename to the same name is answered as taken rather than failing.
    func renaming<Row: Sendable>(_ update: () async throws -> Row?) async throws -> RenameResult<Row> {
        do {
            return try await update().map { .updated($0) } ?? .notFound
        } catch let error as CinderError where error.code == .conflict {
            return .nameTaken
        }
    }
}

extension TenantTransaction {
    /// Fails with `.notFound` unless every id names a row of this organization in `table`. Row-level
    /// security does not look through references (PostgreSQL checks foreign keys past it), so a row
    /// that refers to another by an id the caller supplied checks that id here first; the rows are
    /// locked against a concurrent delete until the transaction ends.
    func requireRows(_ table: String, ids: [Int64], _ notFound: @autoclosure () -> String) async throws {
        let wanted = Set(ids)
        guard !wanted.isEmpty else { return }
        let found = try await query(
            PostgresQuery(
                unsafeSQL: "SELECT id FROM \(table) WHERE org_id = $1 AND id = ANY($2::int8[]) FOR KEY SHARE",
                binds: SQLBuilder.binds(org, Array(wanted)))
        ).decode(Int64.self).all()
        guard found.count == wanted.count else { throw CinderError.notFound(notFound()) }
    }
}
