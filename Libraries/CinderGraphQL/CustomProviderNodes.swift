import CinderModel
import CinderProviders
import CinderRunner
import CinderStorage
import Graphiti

// MARK: - Phoenix's GenerativeModelCustomProvider, its list and its mutations

enum GenerativeModelSDKValue: String, Codable, Sendable, CaseIterable { case OPENAI, AZURE_OPENAI, ANTHROPIC, AWS_BEDROCK, GOOGLE_GENAI }

struct CustomProviderNode: RelayNode {
    static let typeName = "GenerativeModelCustomProvider"
    let row: CustomProviderRow

    var id: NodeID { NodeID(Self.typeName, row.id) }
    var name: String { row.name }
    var description: String? { row.description }
    var provider: String { row.provider }
    var sdk: GenerativeModelSDKValue { GenerativeModelSDKValue(rawValue: row.sdk) ?? .OPENAI }
    var createdAt: DateTime { DateTime(micros: row.createdMicros) }
    var updatedAt: DateTime { DateTime(micros: row.updatedMicros) }
}

/// Phoenix's `GenerativeModelCustomerProviderConfigInput`: one member per SDK, each in the shape of
/// Phoenix's input of that name (taken here as JSON and checked by `CustomProviderConfig`).
struct CustomProviderConfigInput: Codable, Sendable {
    var openai: JSONScalar?
    var azureOpenai: JSONScalar?
    var anthropic: JSONScalar?
    var awsBedrock: JSONScalar?
    var googleGenai: JSONScalar?

    var json: JSONValue {
        var members: [String: JSONValue] = [:]
        for (name, value) in [("openai", openai), ("azureOpenai", azureOpenai), ("anthropic", anthropic), ("awsBedrock", awsBedrock), ("googleGenai", googleGenai)] {
            if let value { members[name] = value.value }
        }
        return .object(members)
    }
}

struct CreateCustomProviderInput: Codable, Sendable {
    var name: String
    var description: String?
    var provider: String
    var clientConfig: CustomProviderConfigInput
}

struct PatchCustomProviderInput: Codable, Sendable {
    var id: NodeID
    var name: String?
    var description: String?
    var provider: String?
    var clientConfig: CustomProviderConfigInput?
}

struct DeleteCustomProviderInput: Codable, Sendable { var id: NodeID }

struct CustomProviderPayload: Sendable {
    let provider: CustomProviderNode
}

struct DeleteCustomProviderPayload: Sendable {
    let id: NodeID
}

struct TestCustomProviderResult: Sendable { let error: String? }

extension QueryRoot {
    func generativeModelCustomProviders(context: GraphQLContext, arguments: PageArguments) async throws -> NodeConnection<CustomProviderNode> {
        try await .byID(
            after: arguments.after, limit: arguments.limit,
            fetch: { cursor, limit in try await context.scope.customProviders.providers(atOrBeforeID: cursor, limit: limit) },
            id: \.id, node: { row, _ in CustomProviderNode(row: row) })
    }

    struct CreateCustomProviderArguments: Codable, Sendable { var input: CreateCustomProviderInput }
    struct PatchCustomProviderArguments: Codable, Sendable { var input: PatchCustomProviderInput }
    struct DeleteCustomProviderArguments: Codable, Sendable { var input: DeleteCustomProviderInput }
    struct TestCustomProviderArguments: Codable, Sendable { var input: CustomProviderConfigInput }

    func createGenerativeModelCustomProvider(context: GraphQLContext, arguments: CreateCustomProviderArguments) async throws -> CustomProviderPayload {
        let credentials = try context.requireProviderAdministration()
        let input = arguments.input
        let config = try Self.config(input.clientConfig, credentials, context)
        try Self.checkNames(name: input.name, provider: input.provider)
        let organization = context.scope.organization
        let row = try await context.scope.customProviders.create(
            name: input.name, description: input.description, provider: input.provider, sdk: config.sdk.rawValue,
            sealConfig: { try credentials.sealConfig(config, organization: organization, id: $0) })
        return CustomProviderPayload(provider: CustomProviderNode(row: row))
    }

    func patchGenerativeModelCustomProvider(context: GraphQLContext, arguments: PatchCustomProviderArguments) async throws -> CustomProviderPayload {
        let credentials = try context.requireProviderAdministration()
        let input = arguments.input
        guard let id = GlobalID(encoded: input.id.value, type: CustomProviderNode.typeName)?.rowID else {
            throw GraphQLFailure("Custom model provider not found: \(input.id.value)")
        }
        try Self.checkNames(name: input.name, provider: input.provider)
        var sealed: [UInt8]?
        var sdk: String?
        if let given = input.clientConfig {
            let config = try Self.config(given, credentials, context)
            sealed = try credentials.sealConfig(config, organization: context.scope.organization, id: id)
            sdk = config.sdk.rawValue
        }
        let change = CustomProviderChange(
            name: input.name, description: input.description.map { .some($0) }, provider: input.provider, sdk: sdk, sealedConfig: sealed)
        guard let row = try await context.scope.customProviders.patch(id: id, change) else {
            throw GraphQLFailure("Custom model provider not found: \(input.id.value)")
        }
        return CustomProviderPayload(provider: CustomProviderNode(row: row))
    }

    func deleteGenerativeModelCustomProvider(context: GraphQLContext, arguments: DeleteCustomProviderArguments) async throws -> DeleteCustomProviderPayload {
        _ = try context.requireProviderAdministration()
        guard let id = GlobalID(encoded: arguments.input.id.value, type: CustomProviderNode.typeName)?.rowID,
            try await context.scope.customProviders.delete(id: id)
        else { throw GraphQLFailure("Custom model provider not found: \(arguments.input.id.value)") }
        return DeleteCustomProviderPayload(id: arguments.input.id)
    }

    /// Checks a configuration without storing it: its shape, and that a client can be made from it.
    func testGenerativeModelCustomProviderCredentials(context: GraphQLContext, arguments: TestCustomProviderArguments) async throws -> TestCustomProviderResult {
        let credentials = try context.requireProviderAdministration()
        do {
            let config = try Self.config(arguments.input, credentials, context)
            if config.family == nil { return TestCustomProviderResult(error: "The \(config.sdk.rawValue) SDK is not supported by this server") }
            return TestCustomProviderResult(error: nil)
        } catch let failure as GraphQLFailure {
            return TestCustomProviderResult(error: failure.description)
        }
    }

    static func checkNames(name: String?, provider: String?) throws {
        for (field, value) in [("name", name), ("provider", provider)] {
            if let value, value.trimmingCharacters(in: .whitespaces).isEmpty || value.count > 256 {
                throw GraphQLFailure("\(field) must be a non-empty string of at most 256 characters")
            }
        }
    }

    /// The configuration as given, any redaction token turned back into the key it stands for.
    static func config(_ input: CustomProviderConfigInput, _ credentials: ProviderCredentials, _ context: GraphQLContext) throws -> CustomProviderConfig {
        do {
            let organization = context.scope.organization
            return try CustomProviderConfig(input.json).mapKeys { try credentials.unredact($0, organization: organization) }
        } catch let error as CustomProviderConfig.Invalid {
            throw GraphQLFailure(error.description)
        } catch let error as ProviderError {
            throw GraphQLFailure(error.message)
        }
    }
}

extension GraphQLContext {
    /// Custom providers hold keys: with auth on, only admins manage them (as they manage secrets).
    func requireProviderAdministration() throws -> ProviderCredentials {
        let playground = try requirePlayground()
        if accounts != nil, !access.role.canAdminister { throw AccessFailure.adminOnly }
        return playground.credentials
    }
}

extension CinderSchema {
    static func addCustomProviders(_ builder: Builder) {
        builder.add {
            Enum(GenerativeModelSDKValue.self, as: "GenerativeModelSDK") {
                Value(.OPENAI)
                Value(.AZURE_OPENAI)
                Value(.ANTHROPIC)
                Value(.AWS_BEDROCK)
                Value(.GOOGLE_GENAI)
            }
            Type(CustomProviderNode.self, as: CustomProviderNode.typeName, interfaces: [(any RelayNode).self]) {
                Field("id", at: \.id)
                Field("name", at: \.name)
                Field("description", at: \.description)
                Field("provider", at: \.provider)
                Field("sdk", at: \.sdk)
                Field("createdAt", at: \.createdAt)
                Field("updatedAt", at: \.updatedAt)
                Field("config", at: CustomProviderNode.config)
            }
            Input(CustomProviderConfigInput.self, as: "GenerativeModelCustomerProviderConfigInput") {
                InputField("openai", at: \.openai)
                InputField("azureOpenai", at: \.azureOpenai)
                InputField("anthropic", at: \.anthropic)
                InputField("awsBedrock", at: \.awsBedrock)
                InputField("googleGenai", at: \.googleGenai)
            }
            Input(CreateCustomProviderInput.self, as: "CreateGenerativeModelCustomProviderMutationInput") {
                InputField("name", at: \.name)
                InputField("description", at: \.description)
                InputField("provider", at: \.provider)
                InputField("clientConfig", at: \.clientConfig)
            }
            Input(PatchCustomProviderInput.self, as: "PatchGenerativeModelCustomProviderMutationInput") {
                InputField("id", at: \.id)
                InputField("name", at: \.name)
                InputField("description", at: \.description)
                InputField("provider", at: \.provider)
                InputField("clientConfig", at: \.clientConfig)
            }
            Input(DeleteCustomProviderInput.self, as: "DeleteGenerativeModelCustomProviderMutationInput") {
                InputField("id", at: \.id)
            }
            Type(CustomProviderPayload.self, as: "CreateGenerativeModelCustomProviderMutationPayload") {
                Field("provider", at: \.provider)
            }
            Type(DeleteCustomProviderPayload.self, as: "DeleteGenerativeModelCustomProviderMutationPayload") {
                Field("id", at: \.id)
            }
            Type(TestCustomProviderResult.self, as: "TestGenerativeModelCustomProviderCredentialsResult") {
                Field("error", at: \.error)
            }
        }
        addConnection(builder, CustomProviderNode.self, CustomProviderNode.typeName)
    }
}
