import CinderAuth
import CinderHTTPSupport
import CinderCosts
import CinderModel
import CinderRunner
import CinderStorage
import Foundation
import GraphQL
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// `/graphql`: POST (and GET with `?query=`) executes; a browser's GET gets the web UI's explorer.
public struct GraphQLEndpoint: Sendable {
    let database: Database
    let schema: ExecutableSchema
    /// nil with auth off (no people or keys to manage).
    let accounts: AccountServices?
    let documents = DocumentCache()
    /// What a browser's GET without a query gets: the web UI's GraphQL explorer.
    let explorer: (@Sendable (Request) -> Response)?
    /// Model calls for the playground subscriptions and custom providers; nil where there are none.
    let playground: Playground?
    /// The organizations' prices (the model price table); nil with cost tracking off.
    let prices: OrganizationPrices?

    public init(
        database: Database, authenticator: Authenticator? = nil, playground: Playground? = nil, prices: OrganizationPrices? = nil,
        explorer: (@Sendable (Request) -> Response)? = nil
    ) async throws {
        self.explorer = explorer
        self.playground = playground
        self.prices = prices
        self.database = database
        self.schema = try await ExecutableSchema(CinderSchema.build().schema)
        self.accounts = authenticator.map { AccountServices(authenticator: $0, database: database) }
    }

    /// Which executor runs a query: Cinder's (`OperationRun`), or GraphQLSwift's, which runs the
    /// operations Cinder's does not (introspection) and which the tests hold Cinder's to.
    enum Executor {
        case cinder
        case graphQLSwift
    }

    /// Runs one request for an organization (the HTTP routes and tests both come here) and answers the
    /// response body: `{"data": …, "errors": [...]}`, errors in the operation included.
    public func execute(_ request: GraphQLRequest, access: Access, logger: Logger, allowMutations: Bool = true) async -> [UInt8] {
        await execute(request, access: access, logger: logger, executor: .cinder, allowMutations: allowMutations)
    }

    func execute(_ request: GraphQLRequest, access: Access, logger: Logger, executor: Executor, allowMutations: Bool = true) async -> [UInt8] {
        let document: Document
        switch documents.document(for: request.query, schema: schema.schema) {
        case .valid(let valid): document = valid
        case .invalid(let errors): return Self.body(GraphQLResult(errors: errors))
        }
        let context = context(access, logger)
        var fragments: [String: FragmentDefinition] = [:]
        for case let fragment as FragmentDefinition in document.definitions { fragments[fragment.name.value] = fragment }
        let operation: OperationDefinition
        let variables: [String: Map]
        do {
            operation = try Self.operation(in: document, named: request.operationName)
            if operation.operation == .mutation, !allowMutations {
                throw GraphQLError(message: "Mutations are only allowed over POST", nodes: [operation])
            }
            if executor == .graphQLSwift || OperationRun.needsGraphQLSwift(operation, fragments: fragments) {
                return Self.body(
                    try await GraphQL.execute(
                        schema: schema.schema, documentAST: document, rootValue: QueryRoot(), context: context,
                        variableValues: request.variables, operationName: request.operationName))
            }
            variables = try coerceVariables(operation, request.variables)
        } catch {
            return Self.body(GraphQLResult(errors: [error as? GraphQLError ?? GraphQLError(error)]))
        }
        let run = OperationRun(schema: schema, fragments: fragments, variables: variables, context: context)
        return await run.run(operation, root: QueryRoot())
    }

    func context(_ access: Access, _ logger: Logger) -> GraphQLContext {
        GraphQLContext(
            access: access, scope: database.tenant(access, logger: logger), accounts: accounts, playground: playground, prices: prices, logger: logger)
    }

    static func operation(in document: Document, named name: String?) throws -> OperationDefinition {
        let operations = document.definitions.compactMap { $0 as? OperationDefinition }
        if let name {
            guard let operation = operations.first(where: { $0.name?.value == name }) else {
                throw GraphQLError(message: "Unknown operation named \"\(name)\".")
            }
            return operation
        }
        guard operations.count == 1 else {
            throw GraphQLError(message: operations.isEmpty ? "Must provide an operation." : "Must provide operation name if query contains multiple operations.")
        }
        return operations[0]
    }

    /// The operation's variables coerced to their declared types (the spec's CoerceVariableValues).
    private func coerceVariables(_ operation: OperationDefinition, _ given: [String: Map]) throws -> [String: Map] {
        var values: [String: Map] = [:]
        for definition in operation.variableDefinitions {
            let name = definition.variable.name.value
            guard let type = schema.inputType(definition.type) else {
                throw GraphQLError(
                    message: "Variable \"$\(name)\" expected value of type \"\(definition.type)\" which cannot be used as an input type.",
                    nodes: [definition])
            }
            if let value = given[name], value != .undefined {
                do {
                    values[name] = try schema.coerce(value, to: type)
                } catch {
                    let reason = (error as? GraphQLError)?.message ?? String(describing: error)
                    throw GraphQLError(message: "Variable \"$\(name)\" got invalid value \(value). \(reason)", nodes: [definition])
                }
            } else if let defaultValue = definition.defaultValue {
                values[name] = try schema.coerce(literal: defaultValue, to: type, variables: [:])
            } else if type is GraphQLNonNull {
                throw GraphQLError(message: "Variable \"$\(name)\" of required type \"\(type)\" was not provided.", nodes: [definition])
            }
        }
        return values
    }

    static func body(_ result: GraphQLResult) -> [UInt8] {
        (try? Array(GraphQLJSONEncoder().encode(result))) ?? Array(#"{"errors":[{"message":"The result could not be encoded"}]}"#.utf8)
    }

    public func addRoutes(to router: Router<CinderRequestContext>) {
        router.post("/graphql") { request, context in
            let buffer = try await request.body.collect(upTo: context.maxUploadSize)
            let graphQLRequest: GraphQLRequest
            do {
                graphQLRequest = try JSONDecoder().decode(GraphQLRequest.self, from: Data(buffer.readableBytesView))
            } catch {
                throw CinderError.badRequest("The body must be a JSON object with a string `query` (and optional `variables`, `operationName`)")
            }
            return try await respond(graphQLRequest, context, accept: request.headers[.accept])
        }
        router.get("/graphql") { request, context in
            let parameters = QueryParameters(request)
            guard let query = parameters.string("query") else {
                guard let explorer else {
                    throw CinderError.badRequest("Send a query: POST /graphql with a JSON body, or GET /graphql?query=…")
                }
                return explorer(request)
            }
            var variables: [String: Map] = [:]
            if let text = parameters.string("variables"), text != "null" {
                guard let decoded = try? JSONDecoder().decode([String: Map].self, from: Data(text.utf8)) else {
                    throw CinderError.badRequest("`variables` must be a JSON object")
                }
                variables = decoded
            }
            let operationName = parameters.string("operationName")
            return try await respond(
                GraphQLRequest(query: query, operationName: operationName, variables: variables), context, accept: request.headers[.accept],
                allowMutations: false)
        }
    }

    /// Errors in the operation are part of a 200 answer, as GraphQL servers (Phoenix's included) answer them.
    private func respond(
        _ request: GraphQLRequest, _ context: CinderRequestContext, accept: String?, allowMutations: Bool = true
    ) async throws -> Response {
        if isSubscription(request) {
            // Subscriptions call models and start experiments: like mutations, not over GET (a link or an
            // image tag must not spend an organization's provider budget).
            guard allowMutations else {
                return Self.json(Self.body(GraphQLResult(errors: [GraphQLError(message: "Subscriptions are only allowed over POST")])))
            }
            return try await subscribe(request, access: try context.requireAccess(), logger: context.logger, accept: accept)
        }
        return Self.json(await execute(request, access: try context.requireAccess(), logger: context.logger, allowMutations: allowMutations))
    }
}

/// Parsed and validated documents by their text: tools send the same few queries again and again, and
/// parsing and validating cost as much as running a small query.
final class DocumentCache: Sendable {
    enum Entry: Sendable {
        case valid(Document)
        case invalid([GraphQLError])
    }

    /// Bounded so that clients sending ever-new documents cannot grow it without limit.
    private static let capacity = 256
    private static let maxCachedLength = 64 * 1024
    private let entries = Mutex<[String: Entry]>([:])

    func document(for query: String, schema: GraphQLSchema) -> Entry {
        if let entry = entries.withLock({ $0[query] }) { return entry }
        let entry: Entry
        do {
            let document = try parse(source: Source(body: query, name: "GraphQL request"))
            let errors = validate(schema: schema, ast: document)
            entry = errors.isEmpty ? .valid(document) : .invalid(errors)
        } catch {
            // A document that does not parse: the syntax error is the operation's error.
            entry = .invalid([error as? GraphQLError ?? GraphQLError(error)])
        }
        guard query.utf8.count <= Self.maxCachedLength else { return entry }
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[query] = entry
        }
        return entry
    }
}
