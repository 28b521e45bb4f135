import CinderModel
import CinderProviders
import CinderRunner
import Graphiti

// MARK: - Phoenix's CustomProviderConfig union: a custom provider's client configuration, keys redacted

/// A member of the `CustomProviderConfig` union.
protocol CustomProviderConfigValue: Sendable {}

enum OpenAIApiTypeValue: String, Codable, Sendable, CaseIterable { case CHAT_COMPLETIONS, RESPONSES }

/// Phoenix's `RedactedString` on the way out: a token only this installation can turn back into the key
/// (`ProviderCredentials.redact`); given back in a patch, it stands for the key unchanged.
struct RedactedString: Codable, Sendable, JSONLeaf {
    var value: String

    init(_ value: String) { self.value = value }

    init(from decoder: any Decoder) throws { value = try decoder.singleValueContainer().decode(String.self) }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }

    func writeJSON(to out: inout [UInt8]) { JSONValue.writeString(value, to: &out) }
}

/// Reads one member's settings (the stored input's shape), keys already redacted.
struct ConfigReader {
    let json: JSONValue

    func string(_ path: String...) -> String? { json[path: path]?.stringValue }
    func redacted(_ path: String...) -> RedactedString? { json[path: path]?.stringValue.map(RedactedString.init) }
    func bool(_ path: String...) -> Bool? {
        if case .bool(let value)? = json[path: path] { return value }
        return nil
    }
    func object(_ path: String...) -> JSONScalar? {
        guard let value = json[path: path], value != .null else { return nil }
        return JSONScalar(value)
    }
    func has(_ path: String...) -> Bool { json[path: path].map { $0 != .null } ?? false }
    func apiType() -> OpenAIApiTypeValue { string("openaiApiType").flatMap(OpenAIApiTypeValue.init(rawValue:)) ?? .RESPONSES }
}

struct OpenAIAuthenticationNode: Sendable { let apiKey: RedactedString? }
struct AnthropicAuthenticationNode: Sendable { let apiKey: RedactedString? }
struct GoogleAuthenticationNode: Sendable { let apiKey: RedactedString? }
struct BaseURLKwargs: Sendable {
    let baseUrl: String?
    let defaultHeaders: JSONScalar?
}
struct OpenAIClientKwargsNode: Sendable {
    let baseUrl: String?
    let organization: String?
    let project: String?
    let defaultHeaders: JSONScalar?
}
struct OpenAIConfigNode: CustomProviderConfigValue {
    let openaiAuthenticationMethod: OpenAIAuthenticationNode
    let openaiClientKwargs: OpenAIClientKwargsNode?
    let openaiApiType: OpenAIApiTypeValue
}
struct AzureADTokenProviderNode: Sendable {
    let azureTenantId: String
    let azureClientId: String
    let azureClientSecret: RedactedString
    let scope: String
}
struct AzureAuthenticationNode: Sendable {
    let apiKey: RedactedString?
    let azureAdTokenProvider: AzureADTokenProviderNode?
    let defaultCredentials: Bool?
}
struct AzureClientKwargsNode: Sendable {
    let azureEndpoint: String
    let defaultHeaders: JSONScalar?
}
struct AzureOpenAIConfigNode: CustomProviderConfigValue {
    let azureOpenaiAuthenticationMethod: AzureAuthenticationNode
    let azureOpenaiClientKwargs: AzureClientKwargsNode
    let openaiApiType: OpenAIApiTypeValue
}
struct AnthropicConfigNode: CustomProviderConfigValue {
    let anthropicAuthenticationMethod: AnthropicAuthenticationNode
    let anthropicClientKwargs: BaseURLKwargs?
}
struct AWSAccessKeysNode: Sendable {
    let awsAccessKeyId: String
    let awsSecretAccessKey: RedactedString
    let awsSessionToken: RedactedString?
}
struct AWSAuthenticationNode: Sendable {
    let accessKeys: AWSAccessKeysNode?
    let defaultCredentials: Bool?
}
struct AWSClientKwargsNode: Sendable {
    let regionName: String
    let endpointUrl: String?
}
struct AWSBedrockConfigNode: CustomProviderConfigValue {
    let awsBedrockAuthenticationMethod: AWSAuthenticationNode
    let awsBedrockClientKwargs: AWSClientKwargsNode
}
struct GoogleHTTPOptionsNode: Sendable {
    let baseUrl: String?
    let headers: JSONScalar?
}
struct GoogleClientKwargsNode: Sendable { let httpOptions: GoogleHTTPOptionsNode? }
struct GoogleGenAIConfigNode: CustomProviderConfigValue {
    let googleGenaiAuthenticationMethod: GoogleAuthenticationNode
    let googleGenaiClientKwargs: GoogleClientKwargsNode?
}
struct UnparsableConfigNode: CustomProviderConfigValue { let parseError: String }

extension CustomProviderNode {
    /// The stored configuration with every key replaced by its redaction token.
    func config(context: GraphQLContext, arguments: NoArguments) throws -> any CustomProviderConfigValue {
        guard let credentials = context.playground?.credentials else { return UnparsableConfigNode(parseError: "Model calls are not enabled on this server") }
        let organization = context.scope.organization
        let config: CustomProviderConfig
        do {
            config = try credentials.openConfig(row, organization: organization).mapKeys { try credentials.redact($0, organization: organization) }
        } catch let error as ProviderError {
            return UnparsableConfigNode(parseError: error.message)
        } catch {
            return UnparsableConfigNode(parseError: "The configuration cannot be read")
        }
        let c = ConfigReader(json: config.settings)
        switch config.sdk {
        case .openAI:
            return OpenAIConfigNode(
                openaiAuthenticationMethod: OpenAIAuthenticationNode(apiKey: c.redacted("openaiAuthenticationMethod", "apiKey")),
                openaiClientKwargs: c.has("openaiClientKwargs")
                    ? OpenAIClientKwargsNode(
                        baseUrl: c.string("openaiClientKwargs", "baseUrl"), organization: c.string("openaiClientKwargs", "organization"),
                        project: c.string("openaiClientKwargs", "project"), defaultHeaders: c.object("openaiClientKwargs", "defaultHeaders")) : nil,
                openaiApiType: c.apiType())
        case .azureOpenAI:
            var tokenProvider: AzureADTokenProviderNode?
            if c.has("azureOpenaiAuthenticationMethod", "azureAdTokenProvider") {
                let p = ConfigReader(json: config.settings[path: ["azureOpenaiAuthenticationMethod", "azureAdTokenProvider"]] ?? .null)
                tokenProvider = AzureADTokenProviderNode(
                    azureTenantId: p.string("azureTenantId") ?? "", azureClientId: p.string("azureClientId") ?? "",
                    azureClientSecret: p.redacted("azureClientSecret") ?? RedactedString(""), scope: p.string("scope") ?? "")
            }
            return AzureOpenAIConfigNode(
                azureOpenaiAuthenticationMethod: AzureAuthenticationNode(
                    apiKey: c.redacted("azureOpenaiAuthenticationMethod", "apiKey"), azureAdTokenProvider: tokenProvider,
                    defaultCredentials: c.bool("azureOpenaiAuthenticationMethod", "defaultCredentials")),
                azureOpenaiClientKwargs: AzureClientKwargsNode(
                    azureEndpoint: c.string("azureOpenaiClientKwargs", "azureEndpoint") ?? "",
                    defaultHeaders: c.object("azureOpenaiClientKwargs", "defaultHeaders")),
                openaiApiType: c.apiType())
        case .anthropic:
            return AnthropicConfigNode(
                anthropicAuthenticationMethod: AnthropicAuthenticationNode(apiKey: c.redacted("anthropicAuthenticationMethod", "apiKey")),
                anthropicClientKwargs: c.has("anthropicClientKwargs")
                    ? BaseURLKwargs(baseUrl: c.string("anthropicClientKwargs", "baseUrl"), defaultHeaders: c.object("anthropicClientKwargs", "defaultHeaders"))
                    : nil)
        case .awsBedrock:
            var keys: AWSAccessKeysNode?
            if c.has("awsBedrockAuthenticationMethod", "accessKeys") {
                keys = AWSAccessKeysNode(
                    awsAccessKeyId: c.string("awsBedrockAuthenticationMethod", "accessKeys", "awsAccessKeyId") ?? "",
                    awsSecretAccessKey: c.redacted("awsBedrockAuthenticationMethod", "accessKeys", "awsSecretAccessKey") ?? RedactedString(""),
                    awsSessionToken: c.redacted("awsBedrockAuthenticationMethod", "accessKeys", "awsSessionToken"))
            }
            return AWSBedrockConfigNode(
                awsBedrockAuthenticationMethod: AWSAuthenticationNode(
                    accessKeys: keys, defaultCredentials: c.bool("awsBedrockAuthenticationMethod", "defaultCredentials")),
                awsBedrockClientKwargs: AWSClientKwargsNode(
                    regionName: c.string("awsBedrockClientKwargs", "regionName") ?? "", endpointUrl: c.string("awsBedrockClientKwargs", "endpointUrl")))
        case .googleGenAI:
            var options: GoogleHTTPOptionsNode?
            if c.has("googleGenaiClientKwargs", "httpOptions") {
                options = GoogleHTTPOptionsNode(
                    baseUrl: c.string("googleGenaiClientKwargs", "httpOptions", "baseUrl"), headers: c.object("googleGenaiClientKwargs", "httpOptions", "headers"))
            }
            return GoogleGenAIConfigNode(
                googleGenaiAuthenticationMethod: GoogleAuthenticationNode(apiKey: c.redacted("googleGenaiAuthenticationMethod", "apiKey")),
                googleGenaiClientKwargs: c.has("googleGenaiClientKwargs") ? GoogleClientKwargsNode(httpOptions: options) : nil)
        }
    }
}

extension CinderSchema {
    static func addCustomProviderConfigs(_ builder: Builder) {
        builder.add {
            Scalar(RedactedString.self, as: "RedactedString")
            Enum(OpenAIApiTypeValue.self, as: "OpenAIApiType") {
                Value(.CHAT_COMPLETIONS)
                Value(.RESPONSES)
            }
            Type(OpenAIAuthenticationNode.self, as: "OpenAIAuthenticationMethod") { Field("apiKey", at: \.apiKey) }
            Type(AnthropicAuthenticationNode.self, as: "AnthropicAuthenticationMethod") { Field("apiKey", at: \.apiKey) }
            Type(GoogleAuthenticationNode.self, as: "GoogleGenAIAuthenticationMethod") { Field("apiKey", at: \.apiKey) }
            Type(OpenAIClientKwargsNode.self, as: "OpenAIClientKwargs") {
                Field("baseUrl", at: \.baseUrl)
                Field("organization", at: \.organization)
                Field("project", at: \.project)
                Field("defaultHeaders", at: \.defaultHeaders)
            }
            Type(OpenAIConfigNode.self, as: "OpenAICustomProviderConfig") {
                Field("openaiAuthenticationMethod", at: \.openaiAuthenticationMethod)
                Field("openaiClientKwargs", at: \.openaiClientKwargs)
                Field("openaiApiType", at: \.openaiApiType)
            }
            Type(AzureADTokenProviderNode.self, as: "AzureADTokenProvider") {
                Field("azureTenantId", at: \.azureTenantId)
                Field("azureClientId", at: \.azureClientId)
                Field("azureClientSecret", at: \.azureClientSecret)
                Field("scope", at: \.scope)
            }
            Type(AzureAuthenticationNode.self, as: "AzureOpenAIAuthenticationMethod") {
                Field("apiKey", at: \.apiKey)
                Field("azureAdTokenProvider", at: \.azureAdTokenProvider)
                Field("defaultCredentials", at: \.defaultCredentials)
            }
            Type(AzureClientKwargsNode.self, as: "AzureOpenAIClientKwargs") {
                Field("azureEndpoint", at: \.azureEndpoint)
                Field("defaultHeaders", at: \.defaultHeaders)
            }
            Type(AzureOpenAIConfigNode.self, as: "AzureOpenAICustomProviderConfig") {
                Field("azureOpenaiAuthenticationMethod", at: \.azureOpenaiAuthenticationMethod)
                Field("azureOpenaiClientKwargs", at: \.azureOpenaiClientKwargs)
                Field("openaiApiType", at: \.openaiApiType)
            }
            Type(BaseURLKwargs.self, as: "AnthropicClientKwargs") {
                Field("baseUrl", at: \.baseUrl)
                Field("defaultHeaders", at: \.defaultHeaders)
            }
            Type(AnthropicConfigNode.self, as: "AnthropicCustomProviderConfig") {
                Field("anthropicAuthenticationMethod", at: \.anthropicAuthenticationMethod)
                Field("anthropicClientKwargs", at: \.anthropicClientKwargs)
            }
            Type(AWSAccessKeysNode.self, as: "AWSBedrockAccessKeys") {
                Field("awsAccessKeyId", at: \.awsAccessKeyId)
                Field("awsSecretAccessKey", at: \.awsSecretAccessKey)
                Field("awsSessionToken", at: \.awsSessionToken)
            }
            Type(AWSAuthenticationNode.self, as: "AWSBedrockAuthenticationMethod") {
                Field("accessKeys", at: \.accessKeys)
                Field("defaultCredentials", at: \.defaultCredentials)
            }
            Type(AWSClientKwargsNode.self, as: "AWSBedrockClientKwargs") {
                Field("regionName", at: \.regionName)
                Field("endpointUrl", at: \.endpointUrl)
            }
            Type(AWSBedrockConfigNode.self, as: "AWSBedrockCustomProviderConfig") {
                Field("awsBedrockAuthenticationMethod", at: \.awsBedrockAuthenticationMethod)
                Field("awsBedrockClientKwargs", at: \.awsBedrockClientKwargs)
            }
            Type(GoogleHTTPOptionsNode.self, as: "GoogleGenAIHttpOptions") {
                Field("baseUrl", at: \.baseUrl)
                Field("headers", at: \.headers)
            }
            Type(GoogleClientKwargsNode.self, as: "GoogleGenAIClientKwargs") { Field("httpOptions", at: \.httpOptions) }
            Type(GoogleGenAIConfigNode.self, as: "GoogleGenAICustomProviderConfig") {
                Field("googleGenaiAuthenticationMethod", at: \.googleGenaiAuthenticationMethod)
                Field("googleGenaiClientKwargs", at: \.googleGenaiClientKwargs)
            }
            Type(UnparsableConfigNode.self, as: "UnparsableConfig") { Field("parseError", at: \.parseError) }
            Union(
                (any CustomProviderConfigValue).self, as: "CustomProviderConfig",
                members: OpenAIConfigNode.self, AzureOpenAIConfigNode.self, AnthropicConfigNode.self, AWSBedrockConfigNode.self,
                GoogleGenAIConfigNode.self, UnparsableConfigNode.self)
        }
    }
}
