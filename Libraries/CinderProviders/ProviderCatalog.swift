import Foundation

/// The built-in provider families Cinder can call, with where each is reached and which credential it
/// takes. Names follow Phoenix (`OPENAI`, `openai:gpt-4o`); base URLs and keys follow the variables the
/// providers' own SDKs read, so a proxy or a local model server is one variable away.
public struct ProviderFamily: Sendable, Hashable {
    public enum WireFormat: Sendable, Hashable {
        case openAI, azureOpenAI, anthropic
    }

    /// Phoenix's `ModelProvider` value, e.g. `OPENAI`.
    public let id: String
    public let displayName: String
    public let wireFormat: WireFormat
    public let defaultBaseURL: String?
    public let baseURLVariable: String
    /// The secret (and environment variable) that holds the key; nil for servers that take none.
    public let apiKeyVariable: String?

    /// The prefix of model names, e.g. `openai` in `openai:gpt-4o`.
    public var prefix: String { id.lowercased() }

    public static let all: [ProviderFamily] = [
        .init(id: "OPENAI", displayName: "OpenAI", wireFormat: .openAI, defaultBaseURL: "https://api.openai.com/v1",
              baseURLVariable: "OPENAI_BASE_URL", apiKeyVariable: "OPENAI_API_KEY"),
        .init(id: "AZURE_OPENAI", displayName: "Azure OpenAI", wireFormat: .azureOpenAI, defaultBaseURL: nil,
              baseURLVariable: "AZURE_OPENAI_ENDPOINT", apiKeyVariable: "AZURE_OPENAI_API_KEY"),
        .init(id: "ANTHROPIC", displayName: "Anthropic", wireFormat: .anthropic, defaultBaseURL: "https://api.anthropic.com",
              baseURLVariable: "ANTHROPIC_BASE_URL", apiKeyVariable: "ANTHROPIC_API_KEY"),
        .init(id: "DEEPSEEK", displayName: "DeepSeek", wireFormat: .openAI, defaultBaseURL: "https://api.deepseek.com",
              baseURLVariable: "DEEPSEEK_BASE_URL", apiKeyVariable: "DEEPSEEK_API_KEY"),
        .init(id: "XAI", displayName: "xAI", wireFormat: .openAI, defaultBaseURL: "https://api.x.ai/v1",
              baseURLVariable: "XAI_BASE_URL", apiKeyVariable: "XAI_API_KEY"),
        .init(id: "OLLAMA", displayName: "Ollama", wireFormat: .openAI, defaultBaseURL: "http://localhost:11434/v1",
              baseURLVariable: "OLLAMA_BASE_URL", apiKeyVariable: nil),
        .init(id: "CEREBRAS", displayName: "Cerebras", wireFormat: .openAI, defaultBaseURL: "https://api.cerebras.ai/v1",
              baseURLVariable: "CEREBRAS_BASE_URL", apiKeyVariable: "CEREBRAS_API_KEY"),
        .init(id: "FIREWORKS", displayName: "Fireworks", wireFormat: .openAI, defaultBaseURL: "https://api.fireworks.ai/inference/v1",
              baseURLVariable: "FIREWORKS_BASE_URL", apiKeyVariable: "FIREWORKS_API_KEY"),
        .init(id: "GROQ", displayName: "Groq", wireFormat: .openAI, defaultBaseURL: "https://api.groq.com/openai/v1",
              baseURLVariable: "GROQ_BASE_URL", apiKeyVariable: "GROQ_API_KEY"),
        .init(id: "MOONSHOT", displayName: "Moonshot", wireFormat: .openAI, defaultBaseURL: "https://api.moonshot.ai/v1",
              baseURLVariable: "MOONSHOT_BASE_URL", apiKeyVariable: "MOONSHOT_API_KEY"),
        .init(id: "MINIMAX", displayName: "MiniMax", wireFormat: .openAI, defaultBaseURL: "https://api.minimax.io/v1",
              baseURLVariable: "MINIMAX_BASE_URL", apiKeyVariable: "MINIMAX_API_KEY"),
        .init(id: "PERPLEXITY", displayName: "Perplexity", wireFormat: .openAI, defaultBaseURL: "https://api.perplexity.ai",
              baseURLVariable: "PERPLEXITY_BASE_URL", apiKeyVariable: "PERPLEXITY_API_KEY"),
        .init(id: "TOGETHER", displayName: "Together AI", wireFormat: .openAI, defaultBaseURL: "https://api.together.xyz/v1",
              baseURLVariable: "TOGETHER_BASE_URL", apiKeyVariable: "TOGETHER_API_KEY"),
        .init(id: "ZAI", displayName: "Z.AI", wireFormat: .openAI, defaultBaseURL: "https://api.z.ai/api/paas/v4",
              baseURLVariable: "ZAI_BASE_URL", apiKeyVariable: "ZAI_API_KEY"),
        .init(id: "META", displayName: "Meta", wireFormat: .openAI, defaultBaseURL: "https://api.llama.com/compat/v1",
              baseURLVariable: "LLAMA_BASE_URL", apiKeyVariable: "LLAMA_API_KEY"),
    ]

    /// Phoenix families whose wire formats Cinder does not speak yet (Gemini's and Bedrock's).
    public static let unsupported: Set<String> = ["GOOGLE", "AWS"]

    public static func named(_ text: String) -> ProviderFamily? {
        let upper = text.uppercased()
        return all.first { $0.id == upper }
    }
}

/// `{provider}:{model}` or `custom:{id}:{model}`, the model names of `/v1/chat/completions`.
public enum ModelReference: Sendable, Hashable {
    case builtIn(ProviderFamily, model: String)
    case custom(providerID: String, model: String)

    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    public init(parsing text: String) throws(Invalid) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw Invalid(description: "Model must be '{provider}:{model_name}' or 'custom:{provider_id}:{model_name}', got '\(text)'")
        }
        if parts[0] == "custom" {
            let rest = parts[1].split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard rest.count == 2, !rest[0].isEmpty, !rest[1].isEmpty else {
                throw Invalid(description: "A custom model must be 'custom:{provider_id}:{model_name}', got '\(text)'")
            }
            self = .custom(providerID: rest[0], model: rest[1])
            return
        }
        if ProviderFamily.unsupported.contains(parts[0].uppercased()) {
            throw Invalid(description: "Provider '\(parts[0])' is not supported by this server")
        }
        guard let family = ProviderFamily.named(parts[0]) else {
            let known = ProviderFamily.all.map(\.prefix).joined(separator: ", ")
            throw Invalid(description: "Unknown provider '\(parts[0])'; one of \(known), or custom")
        }
        self = .builtIn(family, model: parts[1])
    }
}

/// Builds the client for a family from the organization's secrets, then (where the operator allows it)
/// the process environment.
public struct ProviderDirectory: Sendable {
    public let transport: ProviderTransport
    let environment: [String: String]
    /// Whether a key missing from an organization's secrets may come from the environment: sensible for
    /// one team's `cinder serve`, not for an installation shared by many organizations.
    public let environmentCredentials: Bool
    /// `PHOENIX_ALLOWED_PROVIDERS`, when set.
    let allowed: Set<String>?

    public init(transport: ProviderTransport, environment: [String: String], environmentCredentials: Bool) {
        self.transport = transport
        self.environment = environment
        self.environmentCredentials = environmentCredentials
        let allowed = environment["PHOENIX_ALLOWED_PROVIDERS"].map {
            Set($0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).uppercased() }.filter { !$0.isEmpty })
        }
        self.allowed = allowed?.isEmpty == false ? allowed : nil
    }

    /// The families this installation offers.
    public var families: [ProviderFamily] {
        ProviderFamily.all.filter { allowed?.contains($0.id) ?? true }
    }

    public func isAllowed(_ family: ProviderFamily) -> Bool { allowed?.contains(family.id) ?? true }

    /// A client for `family`; `secrets` are the organization's, by name.
    public func provider(
        _ family: ProviderFamily, secrets: [String: String], extraHeaders: [(String, String)] = []
    ) throws(ProviderError) -> any ChatProvider {
        guard isAllowed(family) else { throw ProviderError(.badRequest, "Provider \(family.id) is not allowed on this server") }
        func setting(_ name: String) -> String? {
            if let value = secrets[name], !value.isEmpty { return value }
            if environmentCredentials || !name.hasSuffix("_API_KEY"), let value = environment[name], !value.isEmpty { return value }
            return nil
        }
        var apiKey: String?
        if let variable = family.apiKeyVariable {
            guard let key = setting(variable) else {
                throw ProviderError(.missingCredential, "No credential for \(family.displayName): store the secret \(variable)")
            }
            apiKey = key
        }
        guard let baseURL = setting(family.baseURLVariable) ?? family.defaultBaseURL else {
            throw ProviderError(.missingCredential, "No endpoint for \(family.displayName): set \(family.baseURLVariable)")
        }
        return client(family.wireFormat, baseURL: baseURL, apiKey: apiKey, azureAPIVersion: setting("OPENAI_API_VERSION"), extraHeaders: extraHeaders)
    }

    /// A client speaking `wireFormat` to `baseURL` (a custom provider's endpoint, or a family's).
    public func client(
        _ wireFormat: ProviderFamily.WireFormat, baseURL: String, apiKey: String?, azureAPIVersion: String? = nil, extraHeaders: [(String, String)] = []
    ) -> any ChatProvider {
        switch wireFormat {
        case .openAI:
            return OpenAIChatProvider(transport: transport, baseURL: baseURL, apiKey: apiKey, extraHeaders: extraHeaders)
        case .azureOpenAI:
            return OpenAIChatProvider(
                transport: transport, baseURL: baseURL, apiKey: apiKey, dialect: .azure(apiVersion: azureAPIVersion ?? "2024-10-21"), extraHeaders: extraHeaders)
        case .anthropic:
            return AnthropicChatProvider(transport: transport, baseURL: baseURL, apiKey: apiKey, extraHeaders: extraHeaders)
        }
    }

    /// `OPENAI_API_VERSION` as the operator set it, for Azure deployments of custom providers.
    public var azureAPIVersion: String? { environment["OPENAI_API_VERSION"] }
}
