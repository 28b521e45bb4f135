import CinderModel
import Foundation
import GraphQL

/// Runs one validated query operation and writes the response's JSON as it goes.
///
/// GraphQLSwift's executor starts a child task for every field and every list item, boxes each value
/// in a `Map` (unwrapping optionals through `Mirror`) and encodes the whole result afterwards; a page
/// of 100 traces with their spans (about 3,400 fields) spent some 60 ms there. Here fields resolve in
/// document order on the request's task. Batching does not depend on concurrency: the first resolver
/// that asks for a sibling group's field starts one load for the whole group (`SiblingLoads`), and the
/// other siblings find it done. A selection's plan (its collected fields, their resolvers and coerced
/// arguments) is built once per request and reused for every object of a list.
///
/// Errors follow the spec: a field error is recorded with its path and the field becomes null; null in
/// a non-null position makes the nearest nullable ancestor null instead (the `Bubble` below, which
/// truncates the output back to where that ancestor's value began).
final class OperationRun {
    private let schema: ExecutableSchema
    private let fragments: [String: FragmentDefinition]
    private let variables: [String: Map]
    private let context: GraphQLContext
    private var out: [UInt8] = []
    private var errors: [GraphQLError] = []
    private var path: [any IndexPathElement] = []
    /// The object type of each Swift type met in an abstract (`Node`) position.
    private var objectTypes: [ObjectIdentifier: GraphQLObjectType] = [:]
    /// Whether each Swift type met as a value is an `Optional`.
    private var optionalTypes: [ObjectIdentifier: Bool] = [:]

    /// Null reached a non-null position below; the error is already recorded.
    private struct Bubble: Error {}

    /// One field of a selection, ready to run for every object the selection applies to.
    private final class PlannedField {
        enum Kind {
            case typename
            case resolved(ExecutableSchema.Field, arguments: Result<Map, any Error>)
        }

        let responseKey: String
        let fieldName: String
        let parentTypeName: String
        let nodes: [Field]
        let kind: Kind
        /// The field's type, taken apart once rather than cast for every value.
        let shape: OutputShape
        /// Plans of the sub-selection, by the runtime object type they were collected for.
        var subplans: [String: [PlannedField]] = [:]
        /// The direct reader of this field for the Swift type of the last source (see `DirectFields`).
        private var direct: (type: ObjectIdentifier, read: (@Sendable (any Sendable) -> (any Sendable)?)?)?
        /// How this field's leaf values of the last Swift type seen are written.
        var leafWriter: (type: ObjectIdentifier, write: LeafWriter)?

        init(responseKey: String, fieldName: String, parentTypeName: String, nodes: [Field], kind: Kind) {
            self.responseKey = responseKey
            self.fieldName = fieldName
            self.parentTypeName = parentTypeName
            self.nodes = nodes
            self.kind = kind
            if case .resolved(let definition, _) = kind {
                shape = OutputShape(definition.type)
            } else {
                shape = .nonNull(.leaf(GraphQLString))
            }
        }

        func directReader(for source: any Sendable) -> (@Sendable (any Sendable) -> (any Sendable)?)? {
            let type = ObjectIdentifier(Swift.type(of: source))
            if let direct, direct.type == type { return direct.read }
            let read = (Swift.type(of: source) as? any DirectFields.Type)?.erasedField(fieldName)
            direct = (type, read)
            return read
        }
    }

    init(schema: ExecutableSchema, fragments: [String: FragmentDefinition], variables: [String: Map], context: GraphQLContext) {
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.context = context
    }

    /// `{"data": …, "errors": [...]}` for the operation.
    func run(_ operation: OperationDefinition, root: any Sendable) async -> [UInt8] {
        out.reserveCapacity(64 * 1024)
        out.append(contentsOf: #"{"data":"#.utf8)
        let dataStart = out.count
        do {
            let plan = try collect([operation.selectionSet], schema.queryType)
            try await writeObject(root, schema.queryType, plan)
        } catch {
            if !(error is Bubble) { record(error, nodes: []) }
            out.removeSubrange(dataStart...)
            out.append(contentsOf: "null".utf8)
        }
        if !errors.isEmpty {
            out.append(contentsOf: #","errors":"#.utf8)
            out.append(contentsOf: (try? GraphQLJSONEncoder().encode(errors)) ?? Data("[]".utf8))
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Whether GraphQLSwift's executor must run the operation instead: introspection's resolvers read
    /// the real `info`, and this executor runs queries only.
    static func needsGraphQLSwift(_ operation: OperationDefinition, fragments: [String: FragmentDefinition]) -> Bool {
        guard operation.operation == .query else { return true }
        var visited = Set<String>()
        func selects(_ set: SelectionSet) -> Bool {
            set.selections.contains { selection in
                switch selection {
                case let field as Field: return field.name.value == "__schema" || field.name.value == "__type"
                case let inline as InlineFragment: return selects(inline.selectionSet)
                case let spread as FragmentSpread:
                    guard visited.insert(spread.name.value).inserted, let fragment = fragments[spread.name.value] else { return false }
                    return selects(fragment.selectionSet)
                default: return false
                }
            }
        }
        return selects(operation.selectionSet)
    }

    // MARK: - Planning

    /// The fields a selection asks of an object of `type`, merged by response key in document order
    /// (the spec's CollectFields), each with its resolver and arguments.
    private func collect(_ selectionSets: [SelectionSet], _ type: GraphQLObjectType) throws -> [PlannedField] {
        var keys: [String] = []
        var nodesByKey: [String: [Field]] = [:]
        var visited = Set<String>()
        func visit(_ set: SelectionSet) throws {
            for selection in set.selections {
                switch selection {
                case let field as Field:
                    guard try included(field.directives) else { continue }
                    let key = field.alias?.value ?? field.name.value
                    if nodesByKey[key] == nil { keys.append(key) }
                    nodesByKey[key, default: []].append(field)
                case let spread as FragmentSpread:
                    guard try included(spread.directives), visited.insert(spread.name.value).inserted,
                        let fragment = fragments[spread.name.value], applies(fragment.typeCondition, to: type)
                    else { continue }
                    try visit(fragment.selectionSet)
                case let inline as InlineFragment:
                    guard try included(inline.directives) else { continue }
                    if let condition = inline.typeCondition, !applies(condition, to: type) { continue }
                    try visit(inline.selectionSet)
                default:
                    continue
                }
            }
        }
        for set in selectionSets { try visit(set) }

        return keys.map { key in
            let nodes = nodesByKey[key]!
            let name = nodes[0].name.value
            let kind: PlannedField.Kind
            if name == "__typename" {
                kind = .typename
            } else if let field = schema.field(name, of: type) {
                kind = .resolved(
                    field, arguments: Result { try schema.arguments(field.arguments, nodes[0].arguments, variables: variables) })
            } else {
                // Validation rejects unknown fields; this keeps a schema/executor mismatch a field error.
                kind = .resolved(
                    ExecutableSchema.Field(type: GraphQLString, arguments: [:], resolve: { _, _, _, _ in nil }),
                    arguments: .failure(GraphQLError(message: "Cannot query field \"\(name)\" on type \"\(type.name)\".")))
            }
            return PlannedField(responseKey: key, fieldName: name, parentTypeName: type.name, nodes: nodes, kind: kind)
        }
    }

    private func subplan(_ field: PlannedField, _ type: GraphQLObjectType) throws -> [PlannedField] {
        if let plan = field.subplans[type.name] { return plan }
        let plan = try collect(field.nodes.compactMap(\.selectionSet), type)
        field.subplans[type.name] = plan
        return plan
    }

    /// `@skip(if:)` and `@include(if:)`.
    private func included(_ directives: [Directive]) throws -> Bool {
        for directive in directives where directive.name.value == "skip" || directive.name.value == "include" {
            guard let argument = directive.arguments.first(where: { $0.name.value == "if" }),
                let condition = try schema.coerce(literal: argument.value, to: GraphQLNonNull(GraphQLBoolean), variables: variables)?.bool
            else { continue }
            if condition == (directive.name.value == "skip") { return false }
        }
        return true
    }

    private func applies(_ condition: NamedType, to type: GraphQLObjectType) -> Bool {
        let name = condition.name.value
        if name == type.name { return true }
        guard let abstract = schema.schema.getType(name: name) as? any GraphQLAbstractType else { return false }
        return schema.schema.isSubType(abstractType: abstract, maybeSubType: type)
    }

    // MARK: - Execution

    private func writeObject(_ source: any Sendable, _ type: GraphQLObjectType, _ plan: [PlannedField]) async throws {
        out.append(UInt8(ascii: "{"))
        for (index, field) in plan.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            JSONValue.writeString(field.responseKey, to: &out)
            out.append(UInt8(ascii: ":"))
            path.append(field.responseKey)
            defer { path.removeLast() }
            switch field.kind {
            case .typename:
                JSONValue.writeString(type.name, to: &out)
            case .resolved(let definition, let arguments):
                let value: (any Sendable)?
                do {
                    if let read = field.directReader(for: source) {
                        value = read(source)
                    } else {
                        value = try await definition.resolve(source, try arguments.get(), context, schema.info)
                    }
                } catch {
                    record(error, nodes: field.nodes)
                    if field.shape.isNonNull { throw Bubble() }
                    out.append(contentsOf: "null".utf8)
                    continue
                }
                try await complete(value, field.shape, field)
            }
        }
        out.append(UInt8(ascii: "}"))
    }

    /// Writes `value` as `type`. An error is recorded here, with this path; where the type cannot hold
    /// the resulting null, the caller gets a `Bubble`.
    private func complete(_ value: (any Sendable)?, _ type: OutputShape, _ field: PlannedField) async throws {
        let start = out.count
        do {
            if case .nonNull(let inner) = type {
                guard let value = unwrapped(value) else {
                    throw GraphQLError(message: "Cannot return null for non-nullable field \(field.parentTypeName).\(field.fieldName).")
                }
                try await write(value, inner, field)
            } else if let value = unwrapped(value) {
                try await write(value, type, field)
            } else {
                out.append(contentsOf: "null".utf8)
            }
        } catch {
            if !(error is Bubble) { record(error, nodes: field.nodes) }
            if type.isNonNull { throw Bubble() }
            out.removeSubrange(start...)
            out.append(contentsOf: "null".utf8)
        }
    }

    private func write(_ value: any Sendable, _ type: OutputShape, _ field: PlannedField) async throws {
        switch type {
        case .leaf(let leaf):
            try writeLeaf(value, leaf, field)
        case .object(let object):
            try await writeObject(value, object, try subplan(field, object))
        case .list(let itemType):
            guard let items = value as? [(any Sendable)?] else {
                throw GraphQLError(message: "Expected array, but did not find one for field \(field.parentTypeName).\(field.fieldName).")
            }
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                path.append(index)
                defer { path.removeLast() }
                try await complete(item, itemType, field)
            }
            out.append(UInt8(ascii: "]"))
        case .abstract(let abstract):
            let object = try objectType(of: value, abstract, field)
            try await writeObject(value, object, try subplan(field, object))
        case .nonNull(let inner):
            try await write(value, inner, field)
        case .unexpected(let type):
            throw GraphQLError(message: "Cannot complete value of unexpected type \"\(type)\".")
        }
    }

    private func writeLeaf(_ value: any Sendable, _ type: any GraphQLLeafType, _ field: PlannedField) throws {
        let valueType = ObjectIdentifier(Swift.type(of: value))
        let write: LeafWriter
        if let cached = field.leafWriter, cached.type == valueType {
            write = cached.write
        } else {
            write = Self.leafWriter(for: value, type)
            field.leafWriter = (valueType, write)
        }
        try write(value, &out)
    }

    /// How leaves of `value`'s Swift type are written as `type`: the common ones directly (the same JSON
    /// their type's `serialize` gives), anything else through `serialize`. Chosen once per field and
    /// Swift type, so that each value costs one cast to its known type rather than a search of casts.
    private static func leafWriter(for value: any Sendable, _ type: any GraphQLLeafType) -> LeafWriter {
        let serialize: LeafWriter = { value, out in writeMap(try type.serialize(value: value), to: &out) }
        let valueType = Swift.type(of: value)
        if let scalar = type as? GraphQLScalarType {
            if scalar === GraphQLString, valueType == String.self {
                return { value, out in JSONValue.writeString(value as! String, to: &out) }
            }
            if scalar === GraphQLInt, valueType == Int.self {
                return { value, out in
                    let int = value as! Int
                    guard Int(Int32.min)...Int(Int32.max) ~= int else { return try serialize(value, &out) }
                    out.append(contentsOf: String(int).utf8)
                }
            }
            if scalar === GraphQLFloat, valueType == Double.self {
                return { value, out in
                    let double = value as! Double
                    guard double.isFinite else { return try serialize(value, &out) }
                    out.append(contentsOf: double.description.utf8)
                }
            }
            if scalar === GraphQLBoolean, valueType == Bool.self {
                return { value, out in out.append(contentsOf: (value as! Bool ? "true" : "false").utf8) }
            }
            if let leaf = valueType as? any JSONLeaf.Type {
                return leaf.writer
            }
        } else if let enumType = type as? GraphQLEnumType, let raw = valueType as? any RawRepresentable<String>.Type {
            // Graphiti's enum values are their raw values, named by them; unknown ones still get
            // `serialize`'s error.
            var names: [String: String] = [:]
            for definition in enumType.values {
                if case .string(let value) = definition.value { names[value] = definition.name }
            }
            let rawValue = raw.rawValueReader
            return { [names] value, out in
                guard let name = names[rawValue(value)] else { return try serialize(value, &out) }
                JSONValue.writeString(name, to: &out)
            }
        }
        return serialize
    }

    private static func writeMap(_ map: Map, to out: inout [UInt8]) {
        switch map {
        case .undefined, .null: out.append(contentsOf: "null".utf8)
        case .bool(let bool): out.append(contentsOf: (bool ? "true" : "false").utf8)
        case .number(let number):
            switch number.storageType {
            case .bool: out.append(contentsOf: (number.boolValue ? "true" : "false").utf8)
            case .int: out.append(contentsOf: String(number.int64Value).utf8)
            case .double, .unknown:
                let double = number.doubleValue
                out.append(contentsOf: (double.isFinite ? double.description : "null").utf8)
            }
        case .string(let string): JSONValue.writeString(string, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                writeMap(item, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .dictionary(let members):
            out.append(UInt8(ascii: "{"))
            for (index, (key, item)) in members.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                writeMap(item, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// The object type of a value in an abstract position. Graphiti's `isTypeOf` is `source is
    /// ObjectType`, so the answer depends only on the value's Swift type and is remembered by it.
    private func objectType(of value: any Sendable, _ abstract: any GraphQLAbstractType, _ field: PlannedField) throws -> GraphQLObjectType {
        let key = ObjectIdentifier(Swift.type(of: value))
        if abstract.resolveType == nil, let known = objectTypes[key], schema.schema.isSubType(abstractType: abstract, maybeSubType: known) {
            return known
        }
        var found: GraphQLObjectType?
        if let resolveType = abstract.resolveType {
            switch try resolveType(value, schema.info).typeResolveResult {
            case .type(let type): found = type
            case .name(let name): found = schema.schema.getType(name: name) as? GraphQLObjectType
            }
        } else {
            found = try schema.schema.getPossibleTypes(abstractType: abstract).first { try $0.isTypeOf?(value, schema.info) ?? false }
            if let found { objectTypes[key] = found }
        }
        guard let found, schema.schema.isSubType(abstractType: abstract, maybeSubType: found) else {
            throw GraphQLError(
                message: "Abstract type \(abstract.name) must resolve to an Object type at runtime for field "
                    + "\(field.parentTypeName).\(field.fieldName) with value of type \(Swift.type(of: value)).")
        }
        return found
    }

    /// The value inside any depth of optionals, or nil; what GraphQLSwift does with `Mirror`.
    private func unwrapped(_ value: (any Sendable)?) -> (any Sendable)? {
        var current = value
        while let value = current {
            let type = ObjectIdentifier(Swift.type(of: value))
            let isOptional: Bool
            if let known = optionalTypes[type] {
                isOptional = known
            } else {
                isOptional = value is any OptionalValue
                optionalTypes[type] = isOptional
            }
            guard isOptional else { return value }
            current = (value as! any OptionalValue).payload
        }
        return nil
    }

    /// Records a field error at the current path (errors that already carry a path keep theirs).
    private func record(_ error: any Error, nodes: [Field]) {
        if let error = error as? GraphQLError, !error.path.elements.isEmpty {
            return errors.append(error)
        }
        let message = (error as? GraphQLError)?.message ?? (error as? CinderError)?.message ?? String(describing: error)
        errors.append(GraphQLError(message: message, nodes: nodes, path: IndexPath(path), originalError: error))
    }
}

/// Object types whose plain, argument-free fields the executor reads directly. Graphiti's resolvers
/// decode their arguments (none, for these) through `MapDecoder` and Foundation on every call, which
/// was the largest single cost of a page of traces and spans. Each reader must serve what the Graphiti
/// field of that name serves, the same property (`DirectFieldsTests` compares the two for every one).
protocol DirectFields: Sendable {
    static func directField(_ name: String) -> (@Sendable (Self) -> (any Sendable)?)?
}

extension DirectFields {
    static func erasedField(_ name: String) -> (@Sendable (any Sendable) -> (any Sendable)?)? {
        guard let read = directField(name) else { return nil }
        return { read($0 as! Self) }
    }
}

/// A leaf value that writes its own JSON: the same value its `Codable` encoding gives the scalar.
protocol JSONLeaf: Sendable {
    func writeJSON(to out: inout [UInt8])
}

/// An output type taken apart into the cases execution distinguishes.
indirect enum OutputShape {
    case nonNull(OutputShape)
    case list(OutputShape)
    case leaf(any GraphQLLeafType)
    case object(GraphQLObjectType)
    case abstract(any GraphQLAbstractType)
    case unexpected(any GraphQLType)

    init(_ type: any GraphQLType) {
        switch type {
        case let nonNull as GraphQLNonNull: self = .nonNull(OutputShape(nonNull.ofType))
        case let list as GraphQLList: self = .list(OutputShape(list.ofType))
        case let leaf as any GraphQLLeafType: self = .leaf(leaf)
        case let object as GraphQLObjectType: self = .object(object)
        case let abstract as any GraphQLAbstractType: self = .abstract(abstract)
        default: self = .unexpected(type)
        }
    }

    var isNonNull: Bool {
        if case .nonNull = self { return true }
        return false
    }
}

/// Writes one leaf value's JSON.
typealias LeafWriter = (any Sendable, inout [UInt8]) throws -> Void

extension JSONLeaf {
    static var writer: LeafWriter { { value, out in (value as! Self).writeJSON(to: &out) } }
}

extension RawRepresentable where RawValue == String {
    static var rawValueReader: (any Sendable) -> String { { ($0 as! Self).rawValue } }
}

/// Resolvers return optionals boxed in `any Sendable`, sometimes optionals of optionals.
private protocol OptionalValue {
    /// The wrapped value, nil for none.
    var payload: (any Sendable)? { get }
}

extension Optional: OptionalValue {
    fileprivate var payload: (any Sendable)? {
        // A conformance cannot be conditional on `Wrapped: Sendable` (a marker protocol), so the payload
        // is re-boxed by hand: it came out of an `any Sendable`, and `any Sendable` is laid out exactly
        // as `Any` (marker protocols have no witness tables).
        self.map { unsafeBitCast($0 as Any, to: (any Sendable).self) }
    }
}
