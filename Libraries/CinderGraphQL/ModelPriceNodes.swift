import CinderCosts
import CinderModel
import CinderStorage
import Foundation
import Graphiti

// MARK: - Phoenix's GenerativeModel: the model price table, built in and the organization's own

enum GenerativeModelKindValue: String, Codable, Sendable, CaseIterable { case CUSTOM, BUILT_IN }
enum TokenKindValue: String, Codable, Sendable, CaseIterable { case PROMPT, COMPLETION }

struct TokenPriceNode: Sendable {
    let tokenType: String
    let kind: TokenKindValue
    let costPerMillionTokens: Double
    var costPerToken: Double { costPerMillionTokens / 1_000_000 }
}

/// A row of the price table: an organization's (`CUSTOM`, its own id) or a built-in one (`BUILT_IN`,
/// negative ids, in the built-in table's order).
struct GenerativeModelNode: RelayNode {
    static let typeName = "GenerativeModel"
    let rowID: Int64
    let name: String
    let provider: String?
    let namePattern: String
    let kind: GenerativeModelKindValue
    let prices: [TokenPrice]
    let createdMicros: Int64
    let updatedMicros: Int64

    var id: NodeID { NodeID(Self.typeName, rowID) }
    var createdAt: DateTime { DateTime(micros: createdMicros) }
    var updatedAt: DateTime { DateTime(micros: updatedMicros) }
    var startTime: DateTime? { nil }
    var providerKey: GenerativeProviderKeyValue? {
        guard let provider else { return nil }
        let key = provider.uppercased() == "AZURE" ? "AZURE_OPENAI" : provider.uppercased()
        return GenerativeProviderKeyValue(rawValue: key)
    }
    var tokenPrices: [TokenPriceNode] {
        prices.map { TokenPriceNode(tokenType: $0.tokenType, kind: $0.kind == .prompt ? .PROMPT : .COMPLETION, costPerMillionTokens: $0.perMillion) }
    }

    static let builtInMicros = Timestamp.parseMicros(BuiltInPrices.compiledOn + "T00:00:00Z") ?? 0

    static func builtIn(_ index: Int, _ price: ModelPrice) -> GenerativeModelNode {
        GenerativeModelNode(
            rowID: -Int64(index + 1), name: price.name, provider: price.provider, namePattern: price.namePattern, kind: .BUILT_IN, prices: price.prices,
            createdMicros: builtInMicros, updatedMicros: builtInMicros)
    }

    init(rowID: Int64, name: String, provider: String?, namePattern: String, kind: GenerativeModelKindValue, prices: [TokenPrice], createdMicros: Int64, updatedMicros: Int64) {
        self.rowID = rowID
        self.name = name
        self.provider = provider
        self.namePattern = namePattern
        self.kind = kind
        self.prices = prices
        self.createdMicros = createdMicros
        self.updatedMicros = updatedMicros
    }

    init(_ row: GenerativeModelRow) {
        self.init(
            rowID: row.id, name: row.name, provider: row.provider, namePattern: row.namePattern, kind: .CUSTOM,
            prices: TokenPrice.parse(stored: row.tokenPrices), createdMicros: row.createdMicros, updatedMicros: row.updatedMicros)
    }

    /// The organization's models first (tried first), then the built-in table.
    static func all(_ context: GraphQLContext) async throws -> [GenerativeModelNode] {
        let own = try await context.scope.generativeModels.all().map(GenerativeModelNode.init)
        return own + BuiltInPrices.all.enumerated().map { builtIn($0.offset, $0.element) }
    }

    static func find(_ id: Int64, _ context: GraphQLContext) async throws -> GenerativeModelNode? {
        if id < 0 {
            let index = Int(-id - 1)
            return BuiltInPrices.all.indices.contains(index) ? builtIn(index, BuiltInPrices.all[index]) : nil
        }
        return try await context.scope.generativeModels.model(id: id).map(GenerativeModelNode.init)
    }
}

struct TokenPriceInput: Codable, Sendable {
    var tokenType: String
    var costPerMillionTokens: Double
    var kind: TokenKindValue
}

struct CreateModelInput: Codable, Sendable {
    var name: String
    var provider: String?
    var namePattern: String
    var costs: [TokenPriceInput]
    var startTime: DateTime?
}

struct UpdateModelInput: Codable, Sendable {
    var id: NodeID
    var name: String
    var provider: String?
    var namePattern: String
    var costs: [TokenPriceInput]
    var startTime: DateTime?
}

struct DeleteModelInput: Codable, Sendable { var id: NodeID }

struct CreateModelPayload: Sendable { let model: GenerativeModelNode }
struct UpdateModelPayload: Sendable { let model: GenerativeModelNode }
struct DeleteModelPayload: Sendable { let model: GenerativeModelNode }

extension QueryRoot {
    func generativeModels(context: GraphQLContext, arguments: PageArguments) async throws -> NodeConnection<GenerativeModelNode> {
        try NodeConnection(offsetPageOf: try await GenerativeModelNode.all(context), arguments) { $0 }
    }

    struct CreateModelArguments: Codable, Sendable { var input: CreateModelInput }
    struct UpdateModelArguments: Codable, Sendable { var input: UpdateModelInput }
    struct DeleteModelArguments: Codable, Sendable { var input: DeleteModelInput }

    func createModel(context: GraphQLContext, arguments: CreateModelArguments) async throws -> CreateModelPayload {
        let input = arguments.input
        let model = try await Self.saveModel(
            id: nil, name: input.name, provider: input.provider, namePattern: input.namePattern, costs: input.costs, startTime: input.startTime, context)
        guard let model else { throw GraphQLFailure("The model could not be created") }
        return CreateModelPayload(model: model)
    }

    func updateModel(context: GraphQLContext, arguments: UpdateModelArguments) async throws -> UpdateModelPayload {
        let input = arguments.input
        let model = try await Self.saveModel(
            id: try Self.customModelID(input.id), name: input.name, provider: input.provider, namePattern: input.namePattern, costs: input.costs,
            startTime: input.startTime, context)
        guard let model else { throw GraphQLFailure("Model not found: \(input.id.value)") }
        return UpdateModelPayload(model: model)
    }

    /// Checks and stores a price (new with `id` nil); the organization's book is read again on next use.
    static func saveModel(
        id: Int64?, name: String, provider: String?, namePattern: String, costs: [TokenPriceInput], startTime: DateTime?, _ context: GraphQLContext
    ) async throws -> GenerativeModelNode? {
        try checkModel(name: name, namePattern: namePattern, costs: costs, startTime: startTime)
        let prices = costs.map { TokenPrice($0.tokenType, $0.kind == .PROMPT ? .prompt : .completion, perMillion: $0.costPerMillionTokens) }
        guard let row = try await context.scope.generativeModels.save(
            id: id, name: name, provider: provider, namePattern: namePattern, tokenPrices: TokenPrice.stored(prices))
        else { return nil }
        context.prices?.forget(context.scope.organization)
        return GenerativeModelNode(row)
    }

    func deleteModel(context: GraphQLContext, arguments: DeleteModelArguments) async throws -> DeleteModelPayload {
        let id = try Self.customModelID(arguments.input.id)
        guard let row = try await context.scope.generativeModels.delete(id: id) else { throw GraphQLFailure("Model not found: \(arguments.input.id.value)") }
        context.prices?.forget(context.scope.organization)
        return DeleteModelPayload(model: GenerativeModelNode(row))
    }

    static func customModelID(_ id: NodeID) throws -> Int64 {
        guard let row = GlobalID(encoded: id.value, type: GenerativeModelNode.typeName)?.rowID else { throw GraphQLFailure("Model not found: \(id.value)") }
        guard row > 0 else { throw GraphQLFailure("Built-in models cannot be changed: create a model with the same name pattern, which is tried first") }
        return row
    }

    static func checkModel(name: String, namePattern: String, costs: [TokenPriceInput], startTime: DateTime?) throws {
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty, name.count <= 256 else { throw GraphQLFailure("name must be a non-empty string of at most 256 characters") }
        guard startTime == nil else { throw GraphQLFailure("Prices that start at a time are not supported by this server") }
        do {
            _ = try ModelPrice(name: name, provider: "", namePattern: namePattern, prices: [])
        } catch {
            throw GraphQLFailure("namePattern is not a valid regular expression: \(namePattern)")
        }
        guard !costs.isEmpty else { throw GraphQLFailure("costs must name at least one token price") }
        for cost in costs {
            guard !cost.tokenType.isEmpty, cost.costPerMillionTokens.isFinite, cost.costPerMillionTokens >= 0 else {
                throw GraphQLFailure("Each cost needs a token type and a price per million tokens of 0 or more")
            }
        }
    }
}

extension CinderSchema {
    static func addModelPrices(_ builder: Builder) {
        builder.add {
            Enum(GenerativeModelKindValue.self, as: "GenerativeModelKind") {
                Value(.CUSTOM)
                Value(.BUILT_IN)
            }
            Enum(TokenKindValue.self, as: "TokenKind") {
                Value(.PROMPT)
                Value(.COMPLETION)
            }
            Type(TokenPriceNode.self, as: "TokenPrice") {
                Field("tokenType", at: \.tokenType)
                Field("kind", at: \.kind)
                Field("costPerMillionTokens", at: \.costPerMillionTokens)
                Field("costPerToken", at: \.costPerToken)
            }
            Type(GenerativeModelNode.self, as: GenerativeModelNode.typeName, interfaces: [(any RelayNode).self]) {
                Field("id", at: \.id)
                Field("name", at: \.name)
                Field("providerKey", at: \.providerKey)
                Field("provider", at: \.provider)
                Field("namePattern", at: \.namePattern)
                Field("kind", at: \.kind)
                Field("createdAt", at: \.createdAt)
                Field("updatedAt", at: \.updatedAt)
                Field("startTime", at: \.startTime)
                Field("tokenPrices", at: \.tokenPrices)
            }
            Input(TokenPriceInput.self, as: "TokenPriceInput") {
                InputField("tokenType", at: \.tokenType)
                InputField("costPerMillionTokens", at: \.costPerMillionTokens)
                InputField("kind", at: \.kind)
            }
            Input(CreateModelInput.self, as: "CreateModelMutationInput") {
                InputField("name", at: \.name)
                InputField("provider", at: \.provider)
                InputField("namePattern", at: \.namePattern)
                InputField("costs", at: \.costs)
                InputField("startTime", at: \.startTime)
            }
            Input(UpdateModelInput.self, as: "UpdateModelMutationInput") {
                InputField("id", at: \.id)
                InputField("name", at: \.name)
                InputField("provider", at: \.provider)
                InputField("namePattern", at: \.namePattern)
                InputField("costs", at: \.costs)
                InputField("startTime", at: \.startTime)
            }
            Input(DeleteModelInput.self, as: "DeleteModelMutationInput") { InputField("id", at: \.id) }
            Type(CreateModelPayload.self, as: "CreateModelMutationPayload") { Field("model", at: \.model) }
            Type(UpdateModelPayload.self, as: "UpdateModelMutationPayload") { Field("model", at: \.model) }
            Type(DeleteModelPayload.self, as: "DeleteModelMutationPayload") { Field("model", at: \.model) }
        }
        addConnection(builder, GenerativeModelNode.self, GenerativeModelNode.typeName)
    }
}
