import CinderHTTPSupport
import CinderModel
import CinderStorage
import Foundation
import Hummingbird

/// Phoenix's cursor for keyset pages: base64 of `"<rowid>:<TYPE>:<value>"` (`DATETIME` values are
/// ISO-8601, `FLOAT` values Python-style floats).
enum SortCursor {
    static func encode(rowID: Int64, datetimeMicros: Int64) -> String {
        Data("\(rowID):DATETIME:\(Timestamp.iso8601(micros: datetimeMicros))".utf8).base64EncodedString()
    }

    static func encode(rowID: Int64, float: Double) -> String {
        Data("\(rowID):FLOAT:\(float)".utf8).base64EncodedString()
    }

    enum Value {
        case datetime(Int64)
        case float(Double)
    }

    static func decode(_ cursor: String) -> (rowID: Int64, value: Value)? {
        var text = cursor
        while text.utf8.count % 4 != 0 { text.append("=") }
        guard let data = Data(base64Encoded: text), let decoded = String(data: data, encoding: .utf8) else { return nil }
        let parts = decoded.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let rowID = Int64(parts[0]) else { return nil }
        switch parts[1] {
        case "DATETIME": return Timestamp.parseMicros(parts[2]).map { (rowID, .datetime($0)) }
        case "FLOAT":
            guard let value = Double(parts[2]), value.isFinite, abs(value) < 1e15 else { return nil }
            return (rowID, .float(value))
        default: return nil
        }
    }
}

/// Row ids from ID-style cursors (a global id of any type, as Phoenix does not check the type).
func rowIDCursor(_ cursor: String?) throws(CinderError) -> Int64? {
    guard let cursor, !cursor.isEmpty else { return nil }
    guard let id = GlobalID(encoded: cursor) else { throw CinderError.unprocessable("Invalid cursor format: \(cursor)") }
    return id.rowID
}

extension ProjectRepository {
    /// A project by global id or, failing that, by name (Phoenix's rule), with Phoenix's 404 texts.
    func resolve(_ identifier: String) async throws -> ProjectRow {
        if let id = GlobalID(encoded: identifier, type: NodeType.project) {
            guard let project = try await project(id: id.rowID) else {
                throw CinderError.notFound("Project with ID \(identifier) not found")
            }
            return project
        }
        guard let project = try await project(named: identifier) else {
            throw CinderError.notFound("Project with name \(identifier) not found")
        }
        return project
    }
}

extension GlobalID {
    static func project(_ id: Int64) -> JSONValue { .string(GlobalID(NodeType.project, id).encoded) }
    static func span(_ id: Int64) -> JSONValue { .string(GlobalID(NodeType.span, id).encoded) }
    static func trace(_ id: Int64) -> JSONValue { .string(GlobalID(NodeType.trace, id).encoded) }
    static func session(_ id: Int64) -> JSONValue { .string(GlobalID(NodeType.session, id).encoded) }
}

/// Phoenix's keyset page from rows fetched with one extra: that extra row is the next cursor, which
/// is null on the last page.
func pageResponse<Row>(_ rows: [Row], limit: Int, cursor: (Row) -> String, _ json: (Row) -> JSONValue) -> Response {
    let next: JSONValue = rows.count > limit ? .string(cursor(rows[limit])) : .null
    return jsonResponse(["data": .array(rows.prefix(limit).map(json)), "next_cursor": next])
}

func iso(_ micros: Int64) -> JSONValue { .string(Timestamp.iso8601(micros: micros)) }
