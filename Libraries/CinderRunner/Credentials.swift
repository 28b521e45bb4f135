import CinderAuth
import CinderModel
import CinderProviders
import CinderStorage
import Foundation

/// Finds the client for a model in an organization: a custom provider's sealed configuration, or a
/// built-in family's key from the keys given with the call or job, then the organization's stored
/// secrets (opened with the installation's cipher), then the environment where the operator allows it.
public struct ProviderCredentials: Sendable {
    public let directory: ProviderDirectory
    /// Nil without an installation secret: the secret store is then unavailable.
    public let cipher: SecretCipher?

    public init(directory: ProviderDirectory, cipher: SecretCipher?) {
        self.directory = directory
        self.cipher = cipher
    }

    /// A built-in family's client. `given` are keys by variable name that come with this call (the
    /// playground's `credentials`, a job's); they win over stored secrets.
    public func provider(
        _ family: ProviderFamily, scope: TenantScope, given: [String: String] = [:], extraHeaders: [(String, String)] = []
    ) async throws -> any ChatProvider {
        var secrets: [String: String] = [:]
        if let cipher {
            let names = [family.apiKeyVariable, family.baseURLVariable, "OPENAI_API_VERSION"].compactMap { $0 }.filter { given[$0] == nil }
            for (name, sealed) in try await scope.secrets.sealed(keys: names) {
                do {
                    secrets[name] = try cipher.open(sealed, organization: scope.organization, name: name)
                } catch {
                    throw ProviderError(.missingCredential, "The stored secret \(name) cannot be decrypted (was PHOENIX_SECRET changed?)")
                }
            }
        }
        secrets.merge(given) { _, call in call }
        return try directory.provider(family, secrets: secrets, extraHeaders: extraHeaders)
    }

    /// The client for a model: a built-in family's, or the custom provider `customProviderID`'s.
    public func provider(
        for model: ModelChoice, scope: TenantScope, given: [String: String] = [:], extraHeaders: [(String, String)] = []
    ) async throws -> (family: ProviderFamily, provider: any ChatProvider) {
        switch model {
        case .builtIn(let family):
            return (family, try await provider(family, scope: scope, given: given, extraHeaders: extraHeaders))
        case .custom(let id):
            guard let row = try await scope.customProviders.provider(id: id) else {
                throw ProviderError(.badRequest, "Custom model provider not found")
            }
            return try provider(custom: row, organization: scope.organization, extraHeaders: extraHeaders)
        }
    }

    /// The client for a custom provider already read.
    public func provider(
        custom row: CustomProviderRow, organization: OrganizationID, extraHeaders: [(String, String)] = []
    ) throws(ProviderError) -> (family: ProviderFamily, provider: any ChatProvider) {
        try openConfig(row, organization: organization).client(directory: directory, extraHeaders: extraHeaders)
    }

    // MARK: Sealing

    enum Sealed {
        static func customProvider(_ id: Int64) -> String { "custom_provider:\(id)" }
        static func job(_ id: Int64) -> String { "experiment_job:\(id)" }
        static let redacted = "redacted"
    }

    func requireCipher() throws(ProviderError) -> SecretCipher {
        guard let cipher else { throw ProviderError(.missingCredential, "Storing keys needs PHOENIX_SECRET (it encrypts them)") }
        return cipher
    }

    public func sealConfig(_ config: CustomProviderConfig, organization: OrganizationID, id: Int64) throws -> [UInt8] {
        try requireCipher().seal(config.json.jsonString, organization: organization, name: Sealed.customProvider(id))
    }

    public func openConfig(_ row: CustomProviderRow, organization: OrganizationID) throws(ProviderError) -> CustomProviderConfig {
        do {
            let text = try requireCipher().open(row.sealedConfig, organization: organization, name: Sealed.customProvider(row.id))
            return try CustomProviderConfig(((try? JSONValue(parsing: text)) ?? .null))
        } catch let error as ProviderError {
            throw error
        } catch {
            throw ProviderError(.missingCredential, "The custom provider's configuration cannot be decrypted (was PHOENIX_SECRET changed?)")
        }
    }

    /// Keys given with a job, sealed to that job; nil when none were given.
    public func sealJobCredentials(_ given: [String: String], organization: OrganizationID, jobID: Int64) throws -> [UInt8]? {
        guard !given.isEmpty else { return nil }
        let json = JSONValue.object(given.mapValues { .string($0) })
        return try requireCipher().seal(json.jsonString, organization: organization, name: Sealed.job(jobID))
    }

    public func openJobCredentials(_ sealed: [UInt8]?, jobID: Int64, organization: OrganizationID) throws(ProviderError) -> [String: String] {
        guard let sealed else { return [:] }
        let text: String
        do {
            text = try requireCipher().open(sealed, organization: organization, name: Sealed.job(jobID))
        } catch {
            throw ProviderError(.missingCredential, "The keys given with this experiment cannot be decrypted (was PHOENIX_SECRET changed?)")
        }
        guard case .object(let fields) = ((try? JSONValue(parsing: text)) ?? .null) else { return [:] }
        return fields.compactMapValues { $0.stringValue }
    }

    /// What an API shows in place of a key (Phoenix's `RedactedString`): an opaque token that only this
    /// installation can turn back into the key, so a form can send a configuration back unchanged.
    public func redact(_ value: String, organization: OrganizationID) throws -> String {
        RedactedKey.prefix + Data(try requireCipher().seal(value, organization: organization, name: Sealed.redacted)).base64EncodedString()
    }

    /// A key as given: a redaction token from `redact` is opened, anything else is the key itself.
    public func unredact(_ value: String, organization: OrganizationID) throws(ProviderError) -> String {
        guard value.hasPrefix(RedactedKey.prefix) else { return value }
        guard let bytes = Data(base64Encoded: String(value.dropFirst(RedactedKey.prefix.count))).map(Array.init),
            let key = try? requireCipher().open(bytes, organization: organization, name: Sealed.redacted)
        else { throw ProviderError(.badRequest, "The redacted key is not valid here; enter the key again") }
        return key
    }
}

enum RedactedKey {
    static let prefix = "redacted:"
}

/// A model's provider: one of the built-in families, or an organization's custom provider.
public enum ModelChoice: Sendable, Hashable {
    case builtIn(ProviderFamily)
    case custom(id: Int64)
}

/// A custom provider's client configuration, in the shape of Phoenix's
/// `GenerativeModelCustomerProviderConfigInput` (one member set: `openai`, `azureOpenai`, `anthropic`,
/// `awsBedrock` or `googleGenai`), keys included; stored sealed.
public struct CustomProviderConfig: Sendable {
    public enum SDK: String, Sendable, CaseIterable {
        case openAI = "OPENAI", azureOpenAI = "AZURE_OPENAI", anthropic = "ANTHROPIC", awsBedrock = "AWS_BEDROCK", googleGenAI = "GOOGLE_GENAI"

        /// The member of the config input that holds this SDK's settings.
        public var member: String {
            switch self {
            case .openAI: "openai"
            case .azureOpenAI: "azureOpenai"
            case .anthropic: "anthropic"
            case .awsBedrock: "awsBedrock"
            case .googleGenAI: "googleGenai"
            }
        }
    }

    public let sdk: SDK
    /// The member's settings, as given.
    public let settings: JSONValue

    public var json: JSONValue { .object([sdk.member: settings]) }

    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// From the config input; exactly one member must be set.
    public init(_ json: JSONValue) throws(Invalid) {
        guard case .object(let members) = json else { throw Invalid(description: "clientConfig must be an object") }
        let set = SDK.allCases.filter { members[$0.member].map { $0 != .null } ?? false }
        guard set.count == 1, let sdk = set.first, let settings = members[sdk.member] else {
            throw Invalid(description: "clientConfig must set exactly one of openai, azureOpenai, anthropic, awsBedrock, googleGenai")
        }
        self.sdk = sdk
        self.settings = settings
        if let headers = settings[path: [clientKwargsKey, "defaultHeaders"]], headers != .null {
            guard case .object(let values) = headers, values.values.allSatisfy({ $0.stringValue != nil }) else {
                throw Invalid(description: "defaultHeaders must be an object of strings")
            }
        }
        if sdk == .azureOpenAI, settings[path: ["azureOpenaiClientKwargs", "azureEndpoint"]]?.stringValue?.isEmpty ?? true {
            throw Invalid(description: "azureOpenaiClientKwargs.azureEndpoint is required")
        }
    }

    var clientKwargsKey: String { sdk.member + "ClientKwargs" }
    var authenticationKey: String { sdk.member + "AuthenticationMethod" }

    /// The family whose wire format (and span attributes) a call to this provider uses.
    public var family: ProviderFamily? {
        switch sdk {
        case .openAI: ProviderFamily.named("OPENAI")
        case .azureOpenAI: ProviderFamily.named("AZURE_OPENAI")
        case .anthropic: ProviderFamily.named("ANTHROPIC")
        case .awsBedrock, .googleGenAI: nil
        }
    }

    /// Every key in the settings, by its path, for redaction.
    public static let keyPaths: [[String]] = [
        ["openaiAuthenticationMethod", "apiKey"], ["azureOpenaiAuthenticationMethod", "apiKey"],
        ["azureOpenaiAuthenticationMethod", "azureAdTokenProvider", "azureClientSecret"], ["anthropicAuthenticationMethod", "apiKey"],
        ["awsBedrockAuthenticationMethod", "accessKeys", "awsSecretAccessKey"], ["awsBedrockAuthenticationMethod", "accessKeys", "awsSessionToken"],
        ["googleGenaiAuthenticationMethod", "apiKey"],
    ]

    /// The settings with each key passed through `transform` (redaction on the way out, un-redaction in).
    public func mapKeys(_ transform: (String) throws -> String) rethrows -> CustomProviderConfig {
        var settings = settings
        for path in Self.keyPaths {
            if let key = settings[path: path]?.stringValue { settings = settings.setting(path, to: .string(try transform(key))) }
        }
        return CustomProviderConfig(sdk: sdk, settings: settings)
    }

    private init(sdk: SDK, settings: JSONValue) {
        self.sdk = sdk
        self.settings = settings
    }

    func client(directory: ProviderDirectory, extraHeaders: [(String, String)]) throws(ProviderError) -> (family: ProviderFamily, provider: any ChatProvider) {
        guard let family else {
            throw ProviderError(.badRequest, "Custom providers using the \(sdk.rawValue) SDK are not supported by this server")
        }
        var headers: [(String, String)] = []
        if case .object(let values)? = settings[path: [clientKwargsKey, "defaultHeaders"]] {
            headers = values.keys.sorted().compactMap { name in values[name]?.stringValue.map { (name, $0) } }
        }
        headers += extraHeaders
        let apiKey = settings[path: [authenticationKey, "apiKey"]]?.stringValue
        switch sdk {
        case .azureOpenAI:
            guard let apiKey, let endpoint = settings[path: ["azureOpenaiClientKwargs", "azureEndpoint"]]?.stringValue else {
                throw ProviderError(.missingCredential, "This Azure OpenAI provider has no API key (Entra ID sign-in is not supported by this server)")
            }
            return (family, directory.client(.azureOpenAI, baseURL: endpoint, apiKey: apiKey, azureAPIVersion: directory.azureAPIVersion, extraHeaders: headers))
        default:
            let baseURL = settings[path: [clientKwargsKey, "baseUrl"]]?.stringValue ?? family.defaultBaseURL ?? ""
            if sdk == .openAI {
                for (setting, header) in [("organization", "OpenAI-Organization"), ("project", "OpenAI-Project")] {
                    if let value = settings[path: [clientKwargsKey, setting]]?.stringValue, !value.isEmpty { headers.append((header, value)) }
                }
            }
            return (family, directory.client(family.wireFormat, baseURL: baseURL, apiKey: apiKey, extraHeaders: headers))
        }
    }
}
