import Foundation

/// Relay global ids as Phoenix issues them: base64 of `"<TypeName>:<row id>"`, e.g. `Project:1` → `UHJvamVjdDox`.
public struct GlobalID: Sendable, Hashable, CustomStringConvertible {
    public var typeName: String
    public var rowID: Int64

    public init(_ typeName: String, _ rowID: Int64) {
        self.typeName = typeName
        self.rowID = rowID
    }

    /// Decodes a global id; nil if the text is not base64 of `Type:int`.
    public init?(encoded: some StringProtocol) {
        var text = String(encoded)
        // Clients sometimes drop base64 padding.
        while text.utf8.count % 4 != 0 { text.append("=") }
        guard let data = Data(base64Encoded: text),
            let decoded = String(data: data, encoding: .utf8),
            let colon = decoded.lastIndex(of: ":"),
            let rowID = Int64(decoded[decoded.index(after: colon)...])
        else { return nil }
        let typeName = String(decoded[..<colon])
        guard !typeName.isEmpty, typeName.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { return nil }
        self.init(typeName, rowID)
    }

    /// Decodes a global id of the given type only.
    public init?(encoded: some StringProtocol, type typeName: String) {
        guard let id = GlobalID(encoded: encoded), id.typeName == typeName else { return nil }
        self = id
    }

    public var encoded: String { Data("\(typeName):\(rowID)".utf8).base64EncodedString() }
    public var description: String { encoded }
}

/// Type names used in global ids (the GraphQL type names).
public enum NodeType {
    public static let project = "Project"
    public static let span = "Span"
    public static let trace = "Trace"
    public static let session = "ProjectSession"
    public static let dataset = "Dataset"
    public static let datasetVersion = "DatasetVersion"
    public static let datasetExample = "DatasetExample"
    public static let datasetSplit = "DatasetSplit"
    public static let datasetLabel = "DatasetLabel"
    public static let experiment = "Experiment"
    public static let experimentRun = "ExperimentRun"
    public static let experimentEvaluation = "ExperimentEvaluation"
    public static let prompt = "Prompt"
    public static let promptVersion = "PromptVersion"
    public static let promptVersionTag = "PromptVersionTag"
    public static let organization = "Organization"
    public static let user = "User"
    public static let userRole = "UserRole"
    public static let userAPIKey = "UserApiKey"
    public static let systemAPIKey = "SystemApiKey"
}

/// Random bytes as lowercase hex: trace and span ids, hidden project names, generated keys.
public enum RandomHex {
    public static func string(bytes count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return string(bytes: count, using: &generator)
    }

    public static func string(bytes count: Int, using generator: inout some RandomNumberGenerator) -> String {
        var out = ""
        out.reserveCapacity(count * 2)
        let digits = Array("0123456789abcdef")
        for _ in 0..<count {
            let byte = UInt8.random(in: 0...255, using: &generator)
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return out
    }
}
