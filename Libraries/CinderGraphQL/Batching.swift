import CinderCosts
import CinderModel
import CinderRunner
import CinderStorage
import Foundation
import Graphiti
import Logging
import Synchronization

/// The objects one list or page resolved together. A field asked of any member is loaded for all
/// members in one statement and shared, which keeps a query's statement count independent of how
/// many rows it returns (the N+1 problem, solved by grouping instead of by a timing window).
final class Siblings<Row: Sendable>: Sendable {
    let rows: [Row]
    init(_ rows: [Row]) { self.rows = rows }
}

/// Per-request memo of sibling loads: the first resolver to ask starts the load, the others await it.
final class SiblingLoads: Sendable {
    private struct Key: Hashable {
        let field: String
        let group: ObjectIdentifier
        /// Part of the key so that a load can never be read back as another type.
        let value: ObjectIdentifier
    }

    /// The group is kept alive with its load so that its identifier cannot be reused within the request.
    private let loads = Mutex<[Key: (group: any AnyObject & Sendable, task: Task<any Sendable, any Error>)]>([:])

    func load<Row: Sendable, Value: Sendable>(
        _ field: String, for group: Siblings<Row>, _ fetch: @escaping @Sendable ([Row]) async throws -> Value
    ) async throws -> Value {
        let key = Key(field: field, group: ObjectIdentifier(group), value: ObjectIdentifier(Value.self))
        let task = loads.withLock { loads in
            if let existing = loads[key] { return existing.task }
            let rows = group.rows
            // An unstructured task inherits task-locals (the statement counter) and outlives the first
            // asker's cancellation, which the other siblings still wait on.
            let task = Task<any Sendable, any Error> { try await fetch(rows) }
            loads[key] = (group, task)
            return task
        }
        return try await task.value as! Value
    }
}

/// What every resolver gets: the caller's access and tenant scope, the request's sibling loads, and
/// (with auth on) what the people-and-keys fields need.
public final class GraphQLContext: Sendable {
    let access: Access
    let scope: TenantScope
    let accounts: AccountServices?
    /// Nil where the process makes no model calls.
    let playground: Playground?
    /// Nil with cost tracking off.
    let prices: OrganizationPrices?
    let logger: Logger
    let loads = SiblingLoads()

    init(
        access: Access, scope: TenantScope, accounts: AccountServices?, playground: Playground? = nil, prices: OrganizationPrices? = nil, logger: Logger
    ) {
        self.access = access
        self.scope = scope
        self.accounts = accounts
        self.playground = playground
        self.prices = prices
        self.logger = logger
    }
}

/// A page of a connection. Graphiti's own `Connection` pages in memory; these pages come from SQL.
struct NodeConnection<Node: Sendable>: Sendable {
    var edges: [NodeEdge<Node>]
    var pageInfo: PageInfo
}

struct NodeEdge<Node: Sendable>: Sendable {
    var node: Node
    var cursor: String
}

/// Forward pagination arguments where the schema requires `first` (Phoenix's `first: Int!`).
struct RequiredPageArguments: Codable, Sendable {
    var first: Int
    var after: String?

    var page: PageArguments { PageArguments(first: first, after: after) }
}

/// Forward pagination arguments.
struct PageArguments: Codable, Sendable {
    var first: Int?
    var after: String?

    /// Page size: Phoenix's default of 50, at most 1,000 rows per page (`first: 0` is an empty page).
    var limit: Int { min(max(first ?? 50, 0), 1000) }
}

extension NodeConnection {
    static var empty: NodeConnection {
        NodeConnection(edges: [], pageInfo: PageInfo(hasPreviousPage: false, hasNextPage: false))
    }

    /// A page of a list held whole in memory (a dataset's evaluators, the price table), with the
    /// position in the list as the cursor.
    init<Item: Sendable>(offsetPageOf all: [Item], _ arguments: PageArguments, node: (Item) -> Node) throws {
        let start = try Cursor.decode(arguments.after, parts: 1).map { Int($0[0]) + 1 } ?? 0
        let rows = Array(all.dropFirst(max(0, start)).prefix(arguments.limit + 1).enumerated()).map { (index: start + $0.offset, item: $0.element) }
        self.init(
            rows: rows, limit: arguments.limit, hadCursor: arguments.after != nil, cursor: { Cursor.encode(Int64($0.index)) },
            node: { row, _ in node(row.item) })
    }

    /// A page from rows fetched with one extra row (the extra row says whether there is a next page).
    /// The page's rows are siblings (or members of a larger group, when given) for batched loading.
    init<Row: Sendable>(
        rows: [Row], limit: Int, hadCursor: Bool, siblings: Siblings<Row>? = nil, cursor: (Row) -> String,
        node: (Row, Siblings<Row>) -> Node
    ) {
        let page = Array(rows.prefix(limit))
        let group = siblings ?? Siblings(page)
        edges = page.map { NodeEdge(node: node($0, group), cursor: cursor($0)) }
        pageInfo = PageInfo(
            hasPreviousPage: hadCursor, hasNextPage: rows.count > limit,
            startCursor: edges.first?.cursor, endCursor: edges.last?.cursor)
    }
}

/// Opaque cursors: base64 of the sort key, so that clients cannot rely on their contents.
enum Cursor {
    static func encode(_ parts: Int64...) -> String {
        Data(parts.map(String.init).joined(separator: ":").utf8).base64EncodedString()
    }

    static func decode(_ cursor: String?, parts: Int) throws(GraphQLFailure) -> [Int64]? {
        guard let cursor else { return nil }
        guard let data = Data(base64Encoded: cursor), let text = String(data: data, encoding: .utf8) else {
            throw GraphQLFailure("Invalid cursor: \(cursor)")
        }
        let values = text.split(separator: ":").compactMap { Int64($0) }
        guard values.count == parts else { throw GraphQLFailure("Invalid cursor: \(cursor)") }
        return values
    }
}

extension NodeConnection: DirectFields {
    static func directField(_ name: String) -> (@Sendable (NodeConnection) -> (any Sendable)?)? {
        switch name {
        case "edges": { $0.edges }
        case "pageInfo": { $0.pageInfo }
        default: nil
        }
    }
}

extension NodeEdge: DirectFields {
    static func directField(_ name: String) -> (@Sendable (NodeEdge) -> (any Sendable)?)? {
        switch name {
        case "node": { $0.node }
        case "cursor": { $0.cursor }
        default: nil
        }
    }
}

extension PageInfo: DirectFields {
    static func directField(_ name: String) -> (@Sendable (PageInfo) -> (any Sendable)?)? {
        switch name {
        case "hasNextPage": { $0.hasNextPage }
        case "hasPreviousPage": { $0.hasPreviousPage }
        case "startCursor": { $0.startCursor }
        case "endCursor": { $0.endCursor }
        default: nil
        }
    }
}
