import AsyncHTTPClient
import CinderModel
import CinderResilience
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// The HTTP client of a process's provider calls: its own pool, following no redirects (a credential must
/// not travel to another host), made on the first call, so a process that never calls a model (or a server
/// that is built and never run) owns none. `shutdown` ends it.
public final class ProviderHTTPClient: Sendable {
    private let configuration: HTTPClient.Configuration
    private let state = Mutex<(client: HTTPClient?, closed: Bool)>((nil, false))

    public init(stallTimeout: Duration) {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        // The read timeout is what notices a stream that stopped moving half-way.
        configuration.timeout = .init(connect: .seconds(10), read: .milliseconds(Int64(stallTimeout / .milliseconds(1))))
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
        self.configuration = configuration
    }

    func client() throws -> HTTPClient {
        try state.withLock { state in
            guard !state.closed else { throw ProviderError(.unavailable, "the server is shutting down") }
            if let client = state.client { return client }
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            state.client = client
            return client
        }
    }

    public func shutdown() async throws {
        let client = state.withLock { state in
            state.closed = true
            return state.client
        }
        try await client?.shutdown()
    }
}

/// The part of a provider call every wire format shares: post JSON, map an error status to a
/// `ProviderError`, hand the body over as it streams.
public struct ProviderTransport: Sendable {
    let client: ProviderHTTPClient
    /// The longest wait for the answer's head, and between two chunks of it.
    public let timeout: Duration

    public init(client: ProviderHTTPClient, timeout: Duration) {
        self.client = client
        self.timeout = timeout
    }

    /// Posts `body`; returns the response body as it streams, or throws the status's `ProviderError`.
    func post(_ url: String, headers: [(String, String)], body: JSONValue) async throws -> HTTPClientResponse.Body {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "accept", value: "text/event-stream, application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body.jsonBytes))
        let response: HTTPClientResponse
        do {
            response = try await client.client().execute(request, timeout: .milliseconds(Int64(timeout / .milliseconds(1))))
        } catch let error as ProviderError {
            throw error
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw ProviderError(.timeout, "no answer within \(timeout)")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ProviderError(.unavailable, "cannot reach \(Self.host(url)): \(error)")
        }
        guard (200..<300).contains(response.status.code) else {
            let text = (try? await response.body.collect(upTo: 64 << 10)).map { String(buffer: $0) } ?? ""
            let retryAfter = parseRetryAfter(response.headers.first(name: "retry-after"), now: Date().timeIntervalSince1970)
            throw ProviderError.status(Int(response.status.code), body: text, retryAfter: retryAfter)
        }
        return response.body
    }

    static func host(_ url: String) -> String {
        URL(string: url)?.host ?? "the provider"
    }
}

/// Streams the server-sent events of `body`, each handed to `handle`, which yields what it found.
func forEachServerSentEvent(
    _ body: HTTPClientResponse.Body, _ handle: (ServerSentEventParser.Event) throws -> Bool
) async throws {
    var parser = ServerSentEventParser()
    do {
        for try await chunk in body {
            for event in parser.feed(chunk.readableBytesView) where try !handle(event) { return }
        }
    } catch let error as ProviderError {
        throw error
    } catch is CancellationError {
        throw CancellationError()
    } catch let error as HTTPClientError where error == .readTimeout || error == .deadlineExceeded {
        throw ProviderError(.timeout, "the answer stalled")
    } catch {
        throw ProviderError(.unavailable, "the answer broke off: \(error)")
    }
}
