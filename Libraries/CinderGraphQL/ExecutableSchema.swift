import GraphQL
import OrderedCollections
import Synchronization

/// The schema as the executor reads it on every field: each object type's fields with their resolvers,
/// and each input object's fields, looked up once at start-up. GraphQLSwift's types rebuild these maps
/// from thunks on each access and read each resolver through a dispatch queue.
final class ExecutableSchema: Sendable {
    struct Field: Sendable {
        let type: any GraphQLOutputType
        let arguments: GraphQLArgumentConfigMap
        let resolve: GraphQLFieldResolve
    }

    let schema: GraphQLSchema
    let queryType: GraphQLObjectType
    /// What resolvers and `isTypeOf` checks are handed as their `info` argument (see `probeInfo`).
    let info: GraphQLResolveInfo
    private let objectFields: [String: [String: Field]]
    private let inputFields: [String: InputObjectFieldMap]

    init(_ schema: GraphQLSchema) async throws {
        guard let queryType = schema.queryType else { throw GraphQLError(message: "The schema has no query type") }
        var objectFields: [String: [String: Field]] = [:]
        var inputFields: [String: InputObjectFieldMap] = [:]
        for type in schema.typeMap.values {
            if let object = type as? GraphQLObjectType {
                var fields: [String: Field] = [:]
                for (name, field) in try object.fields() {
                    // Introspection types resolve through GraphQLSwift's defaults; their operations are
                    // run by GraphQLSwift's executor (`OperationRun.needsGraphQLSwift`).
                    guard let resolve = field.resolve else { continue }
                    fields[name] = Field(type: field.type, arguments: field.args, resolve: resolve)
                }
                objectFields[object.name] = fields
            } else if let input = type as? GraphQLInputObjectType {
                inputFields[input.name] = try input.fields()
            }
        }
        self.schema = schema
        self.queryType = queryType
        self.objectFields = objectFields
        self.inputFields = inputFields
        self.info = try await Self.probeInfo()
    }

    func field(_ name: String, of type: GraphQLObjectType) -> Field? { objectFields[type.name]?[name] }

    /// GraphQLSwift gives `GraphQLResolveInfo` no public initializer. The functions this executor calls
    /// with one ignore it: Graphiti's resolvers are `{ source, arguments, context, _ in … }` and its
    /// `isTypeOf` is `{ source, _ in source is ObjectType }`. So they get this one, which GraphQLSwift
    /// builds itself for a one-field probe schema. Operations whose resolvers do read it (introspection
    /// reads `info.schema`) run on GraphQLSwift's own executor instead.
    private static func probeInfo() async throws -> GraphQLResolveInfo {
        final class Captured: Sendable { let info = Mutex<GraphQLResolveInfo?>(nil) }
        let captured = Captured()
        let probe = try GraphQLSchema(
            query: GraphQLObjectType(
                name: "Probe",
                fields: [
                    "probe": GraphQLField(
                        type: GraphQLString,
                        resolve: { _, _, _, info in
                            captured.info.withLock { $0 = info }
                            return "probe"
                        })
                ]))
        let result = try await graphql(schema: probe, request: "{ probe }")
        guard let info = captured.info.withLock({ $0 }) else {
            throw GraphQLError(message: "GraphQLSwift did not run the probe resolver: \(result.errors)")
        }
        return info
    }

    // MARK: - Input values

    /// The input type a variable definition names.
    func inputType(_ ast: any GraphQL.`Type`) -> (any GraphQLInputType)? {
        switch ast {
        case let named as NamedType:
            return schema.getType(name: named.name.value) as? any GraphQLInputType
        case let list as ListType:
            return inputType(list.type).map { GraphQLList($0) }
        case let nonNull as NonNullType:
            return (inputType(nonNull.type) as? any GraphQLNullableType).map { GraphQLNonNull($0) }
        default:
            return nil
        }
    }

    /// Coerces a variable's JSON value to its type (the spec's CoerceVariableValues, per value).
    func coerce(_ value: Map, to type: any GraphQLType) throws -> Map {
        if let nonNull = type as? GraphQLNonNull {
            guard !value.isNullish else { throw GraphQLError(message: "Expected non-nullable type \"\(type)\" not to be null.") }
            return try coerce(value, to: nonNull.ofType)
        }
        guard !value.isNullish else { return .null }
        switch type {
        case let list as GraphQLList:
            if case .array(let items) = value { return .array(try items.map { try coerce($0, to: list.ofType) }) }
            return .array([try coerce(value, to: list.ofType)])
        case let object as GraphQLInputObjectType:
            guard case .dictionary(let members) = value else {
                throw GraphQLError(message: "Expected type \"\(object.name)\" to be an object.")
            }
            let fields = inputFields[object.name] ?? [:]
            if let unknown = members.keys.first(where: { fields[$0] == nil }) {
                throw GraphQLError(message: "Field \"\(unknown)\" is not defined by type \"\(object.name)\".")
            }
            var coerced = OrderedDictionary<String, Map>()
            for (name, field) in fields {
                if let member = members[name], member != .undefined {
                    coerced[name] = try coerce(member, to: field.type)
                } else if let defaultValue = field.defaultValue {
                    coerced[name] = defaultValue
                } else if field.type is GraphQLNonNull {
                    throw GraphQLError(message: "Field \"\(object.name).\(name)\" of required type \"\(field.type)\" was not provided.")
                }
            }
            return .dictionary(coerced)
        case let leaf as any GraphQLLeafType:
            return try leaf.parseValue(value: value)
        default:
            throw GraphQLError(message: "\"\(type)\" is not an input type.")
        }
    }

    /// Coerces a literal in the document, with the operation's (coerced) variables. A variable the
    /// request did not provide is `nil`, which callers treat as an absent value.
    func coerce(literal: any Value, to type: any GraphQLType, variables: [String: Map]) throws -> Map? {
        if let variable = literal as? Variable {
            // A variable with a default may still be sent as null; a non-null position refuses it.
            let value = variables[variable.name.value]
            if value == .null, type is GraphQLNonNull {
                throw GraphQLError(message: "Expected value of non-null type \"\(type)\" not to be null.", nodes: [literal])
            }
            return value
        }
        if let nonNull = type as? GraphQLNonNull {
            guard !(literal is NullValue) else {
                throw GraphQLError(message: "Expected value of non-null type \"\(type)\" not to be null.", nodes: [literal])
            }
            return try coerce(literal: literal, to: nonNull.ofType, variables: variables)
        }
        if literal is NullValue { return .null }
        switch type {
        case let list as GraphQLList:
            guard let items = literal as? ListValue else {
                return try coerce(literal: literal, to: list.ofType, variables: variables).map { .array([$0]) }
            }
            return .array(try items.values.map { try coerce(literal: $0, to: list.ofType, variables: variables) ?? .null })
        case let object as GraphQLInputObjectType:
            guard let members = literal as? ObjectValue else {
                throw GraphQLError(message: "Expected type \"\(object.name)\" to be an object.", nodes: [literal])
            }
            var coerced = OrderedDictionary<String, Map>()
            for (name, field) in inputFields[object.name] ?? [:] {
                if let member = members.fields.first(where: { $0.name.value == name }),
                    let value = try coerce(literal: member.value, to: field.type, variables: variables)
                {
                    coerced[name] = value
                } else if let defaultValue = field.defaultValue {
                    coerced[name] = defaultValue
                } else if field.type is GraphQLNonNull {
                    throw GraphQLError(
                        message: "Field \"\(object.name).\(name)\" of required type \"\(field.type)\" was not provided.",
                        nodes: [literal])
                }
            }
            return .dictionary(coerced)
        case let leaf as any GraphQLLeafType:
            return try leaf.parseLiteral(valueAST: literal)
        default:
            throw GraphQLError(message: "\"\(type)\" is not an input type.", nodes: [literal])
        }
    }

    /// A field's arguments as its resolver decodes them: given values, else defaults.
    func arguments(_ definitions: GraphQLArgumentConfigMap, _ given: [Argument], variables: [String: Map]) throws -> Map {
        var values = OrderedDictionary<String, Map>()
        for (name, definition) in definitions {
            if let argument = given.first(where: { $0.name.value == name }),
                let value = try coerce(literal: argument.value, to: definition.type, variables: variables)
            {
                if value == .null, definition.type is GraphQLNonNull {
                    throw GraphQLError(message: "Argument \"\(name)\" of non-null type \"\(definition.type)\" must not be null.", nodes: [argument.value])
                }
                values[name] = value
            } else if let defaultValue = definition.defaultValue {
                values[name] = defaultValue
            } else if definition.type is GraphQLNonNull {
                throw GraphQLError(message: "Argument \"\(name)\" of required type \"\(definition.type)\" was not provided.")
            }
        }
        return .dictionary(values)
    }
}

extension Map {
    fileprivate var isNullish: Bool {
        switch self {
        case .null, .undefined: return true
        default: return false
        }
    }
}
