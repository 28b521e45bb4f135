import CinderAuth
import CinderHTTPSupport
import CinderModel
import GraphQL
import Hummingbird
import Logging
import NIOCore

/// Subscriptions over HTTP: Phoenix's transport, the multipart protocol (`Accept: multipart/mixed;
/// subscriptionSpec="1.0"`, each result a part `{"payload": …}`, a `{}` heartbeat part while idle), and
/// Server-Sent Events for Cinder's own UI (`Accept: text/event-stream`, graphql-sse's `next` and
/// `complete` events). Leaving (closing the connection) cancels what the subscription was doing.
extension GraphQLEndpoint {
    enum SubscriptionTransport {
        case multipart
        case serverSentEvents

        static let boundary = "graphql"
        static let heartbeat = Duration.seconds(5)
        /// What starts every part of a multipart response.
        static let partHeader = "\r\n--\(boundary)\r\nContent-Type: application/json; charset=utf-8\r\n\r\n"

        init?(accept: String?) {
            guard let accept = accept?.lowercased() else { return nil }
            if accept.contains("multipart/mixed") {
                self = .multipart
            } else if accept.contains("text/event-stream") {
                self = .serverSentEvents
            } else {
                return nil
            }
        }

        var contentType: String {
            switch self {
            case .multipart: "multipart/mixed; boundary=\"\(Self.boundary)\"; subscriptionSpec=\"1.0\""
            case .serverSentEvents: "text/event-stream"
            }
        }

        /// One result (or, for multipart, a heartbeat when `result` is nil).
        func frame(_ result: [UInt8]?) -> ByteBuffer {
            switch self {
            case .multipart:
                guard let result else { return ByteBuffer(string: Self.partHeader + "{}") }
                var buffer = ByteBuffer(string: Self.partHeader + #"{"payload":"#)
                buffer.writeBytes(result)
                buffer.writeString("}")
                return buffer
            case .serverSentEvents:
                guard let result else { return ByteBuffer(string: ": heartbeat\n\n") }
                var buffer = ByteBuffer(string: "event: next\ndata: ")
                buffer.writeBytes(result)
                buffer.writeString("\n\n")
                return buffer
            }
        }

        /// A failure after the stream began: multipart's transport error, or an SSE `next` with errors.
        func failure(_ message: String) -> ByteBuffer {
            let errors = Self.errors(message)
            switch self {
            case .multipart:
                return ByteBuffer(string: Self.partHeader + #"{"payload":null,"errors":"# + errors + "}")
            case .serverSentEvents:
                return ByteBuffer(string: "event: next\ndata: {\"errors\":\(errors)}\n\n")
            }
        }

        var end: ByteBuffer {
            switch self {
            case .multipart: ByteBuffer(string: "\r\n--\(Self.boundary)--\r\n")
            case .serverSentEvents: ByteBuffer(string: "event: complete\ndata: \n\n")
            }
        }

        static func errors(_ message: String) -> String {
            JSONValue.array([["message": .string(message)]]).jsonString
        }
    }

    func isSubscription(_ request: GraphQLRequest) -> Bool {
        guard case .valid(let document) = documents.document(for: request.query, schema: schema.schema),
            let operation = try? Self.operation(in: document, named: request.operationName)
        else { return false }
        return operation.operation == .subscription
    }

    func subscribe(_ request: GraphQLRequest, access: Access, logger: Logger, accept: String?) async throws -> Response {
        guard let transport = SubscriptionTransport(accept: accept) else {
            throw CinderError.badRequest(
                "Subscriptions are streamed: send Accept: multipart/mixed;subscriptionSpec=\"1.0\" (or text/event-stream)")
        }
        let context = context(access, logger)
        let subscribed: Result<AsyncThrowingStream<GraphQLResult, any Error>, GraphQLErrors>
        do {
            subscribed = try await graphqlSubscribe(
                schema: schema.schema, request: request.query, rootValue: QueryRoot(), context: context, variableValues: request.variables,
                operationName: request.operationName)
        } catch {
            return Self.json(Self.body(GraphQLResult(errors: [error as? GraphQLError ?? GraphQLError(error)])))
        }
        let results: AsyncThrowingStream<GraphQLResult, any Error>
        switch subscribed {
        case .failure(let errors): return Self.json(Self.body(GraphQLResult(errors: errors.errors)))
        case .success(let stream): results = stream
        }
        return Response(
            status: .ok, headers: [.contentType: transport.contentType, .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                try await Self.relay(results, transport: transport, to: &writer, logger: logger)
                try await writer.finish(nil)
            })
    }

    /// Writes each result as it comes, and a heartbeat whenever none came for a while.
    static func relay(
        _ results: AsyncThrowingStream<GraphQLResult, any Error>, transport: SubscriptionTransport, to writer: inout some ResponseBodyWriter,
        logger: Logger
    ) async throws {
        let (pieces, continuation) = AsyncStream<Piece>.makeStream()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    for try await result in results { continuation.yield(.result(body(result))) }
                    continuation.yield(.end)
                } catch is CancellationError {
                    continuation.yield(.end)
                } catch {
                    let message = (error as? GraphQLError)?.message ?? (error as? GraphQLFailure)?.description ?? "The subscription failed"
                    continuation.yield(.failed(message))
                }
            }
            group.addTask {
                while true {
                    try await Task.sleep(for: SubscriptionTransport.heartbeat)
                    continuation.yield(.heartbeat)
                }
            }
            defer { group.cancelAll() }
            for await piece in pieces {
                switch piece {
                case .result(let bytes): try await writer.write(transport.frame(bytes))
                case .heartbeat: try await writer.write(transport.frame(nil))
                case .failed(let message):
                    logger.notice("subscription failed", metadata: ["cinder.error": "\(message)"])
                    try await writer.write(transport.failure(message))
                    try await writer.write(transport.end)
                    return
                case .end:
                    try await writer.write(transport.end)
                    return
                }
            }
        }
    }

    enum Piece: Sendable {
        case result([UInt8])
        case heartbeat
        case failed(String)
        case end
    }

    static func json(_ body: [UInt8]) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
