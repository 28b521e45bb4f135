import CinderHTTPSupport
import CinderModel
import CinderStorage
import Foundation
import Graphiti
import GraphQL
import Hummingbird
import Logging
import NIOCore

/// `/graphql`: POST (and GET with `?query=`) executes; a browser's GET gets the GraphiQL explorer.
public struct GraphQLEndpoint: Sendable {
    let database: Database
    let schema: Schema<QueryRoot, GraphQLContext>

    public init(database: Database) throws {
        self.database = database
        self.schema = try CinderSchema.build()
    }

    /// Runs one operation for an organization (the HTTP routes and tests both come here).
    public func execute(
        _ request: GraphQLRequest, organization: OrganizationID, logger: Logger
    ) async throws -> GraphQLResult {
        let context = GraphQLContext(store: database.scoped(to: organization, logger: logger))
        return try await schema.execute(
            request: request.query, resolver: QueryRoot(), context: context, variables: request.variables,
            operationName: request.operationName)
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
            return try await respond(graphQLRequest, context)
        }
        router.get("/graphql") { request, context in
            let parameters = QueryParameters(request)
            guard let query = parameters.string("query") else {
                return Response(
                    status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(string: GraphiQLPage.html)))
            }
            var variables: [String: Map] = [:]
            if let text = parameters.string("variables"), text != "null" {
                guard let decoded = try? JSONDecoder().decode([String: Map].self, from: Data(text.utf8)) else {
                    throw CinderError.badRequest("`variables` must be a JSON object")
                }
                variables = decoded
            }
            let operationName = parameters.string("operationName")
            return try await respond(GraphQLRequest(query: query, operationName: operationName, variables: variables), context)
        }
    }

    /// Errors in the operation are part of a 200 answer, as GraphQL servers (Phoenix's included) answer them.
    private func respond(_ request: GraphQLRequest, _ context: CinderRequestContext) async throws -> Response {
        let result: GraphQLResult
        do {
            result = try await execute(request, organization: context.organizationID, logger: context.logger)
        } catch let error as GraphQLError {
            // A document that does not parse: no data, the syntax error as the operation's error.
            result = GraphQLResult(data: nil, errors: [error])
        }
        let body = try GraphQLJSONEncoder().encode(result)
        return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// The GraphiQL explorer, loaded from a CDN by the browser (the server has nothing to serve for it).
enum GraphiQLPage {
    static let html = """
        <!doctype html>
        <html lang="en">
          <head>
            <meta charset="utf-8">
            <title>Cinder GraphiQL</title>
            <style>body { margin: 0; height: 100vh; } #graphiql { height: 100vh; }</style>
            <link rel="stylesheet" href="https://unpkg.com/graphiql@3/graphiql.min.css">
          </head>
          <body>
            <div id="graphiql">Loading the GraphiQL explorer for Cinder's /graphql…</div>
            <script crossorigin src="https://unpkg.com/react@18/umd/react.production.min.js"></script>
            <script crossorigin src="https://unpkg.com/react-dom@18/umd/react-dom.production.min.js"></script>
            <script crossorigin src="https://unpkg.com/graphiql@3/graphiql.min.js"></script>
            <script>
              const fetcher = GraphiQL.createFetcher({ url: window.location.pathname });
              ReactDOM.createRoot(document.getElementById('graphiql')).render(React.createElement(GraphiQL, { fetcher }));
            </script>
          </body>
        </html>
        """
}
