import CinderCosts
import CinderModel
import CinderProviders
import CinderStorage

/// Model calls made for a person (the playground, a replayed span): the client for a model, and each
/// call's LLM span, written before the caller is answered so that the answer can point at it.
public struct Playground: Sendable {
    public static let projectName = "playground"
    public let credentials: ProviderCredentials
    let spans: SpanIngestStore
    /// Prices for the calls' spans; nil with cost tracking off.
    let prices: OrganizationPrices?

    /// Runs evaluators for a person (previews): judges are called like the playground's own calls.
    public let evaluators: EvaluatorExecutor

    public init(credentials: ProviderCredentials, spans: SpanIngestStore, prices: OrganizationPrices?, evaluators: EvaluatorExecutor) {
        self.credentials = credentials
        self.spans = spans
        self.prices = prices
        self.evaluators = evaluators
    }

    /// The organization's prices now; nil with cost tracking off.
    public func prices(for organization: OrganizationID) async -> PriceBook? {
        await prices?.book(for: organization)
    }

    /// One call, streamed or whole, handing each piece of the answer to `emit` as it arrives, then
    /// recorded as an LLM span in `project`. Returns the span and the completion, or the provider's error.
    public func call(
        _ request: ChatRequest, family: ProviderFamily, provider: any ChatProvider, stream: Bool, organization: OrganizationID,
        project: String = projectName, emit: @Sendable (ChatEvent) async -> Void
    ) async -> PlaygroundOutcome {
        let start = LLMSpan.now()
        var completion = ChatCompletion()
        var failure: ProviderError?
        do {
            if stream {
                for try await event in provider.stream(request) {
                    completion.apply(event)
                    await emit(event)
                }
            } else {
                completion = try await provider.complete(request)
                if !completion.text.isEmpty { await emit(.text(completion.text)) }
                for (index, call) in completion.toolCalls.enumerated() {
                    await emit(.toolCall(index: index, id: call.id, name: call.name, arguments: call.arguments))
                }
            }
        } catch let error as ProviderError {
            failure = error
        } catch is CancellationError {
            failure = ProviderError(.unavailable, "Cancelled")
        } catch {
            failure = ProviderError(.unavailable, "\(error)")
        }
        var span = LLMSpan.make(
            traceID: LLMSpan.newTraceID(), family: family, request: request, completion: failure == nil ? completion : nil,
            error: failure?.message, start: start, end: LLMSpan.now())
        if let prices { await prices.book(for: organization).price(&span) }
        var recorded = true
        do {
            _ = try await spans.insert([ProjectSpans(organizationID: organization, projectName: project, spans: [span])])
        } catch {
            recorded = false
        }
        return PlaygroundOutcome(spanID: recorded ? span.spanID : nil, completion: completion, failure: failure)
    }
}

/// How a playground call ended: its span (nil if it could not be written), the answer, or the error.
public struct PlaygroundOutcome: Sendable {
    public let spanID: String?
    public let completion: ChatCompletion
    public let failure: ProviderError?
}
