/// Incremental parser of a `text/event-stream` body (the WHATWG rules that OpenAI and Anthropic
/// follow): feed it bytes as they arrive, take the complete events out.
public struct ServerSentEventParser: Sendable {
    public struct Event: Sendable, Hashable {
        public var name: String?
        public var data: String
    }

    private var line: [UInt8] = []
    private var name: String?
    private var data: [String] = []
    private var hasData = false
    private var lastWasCR = false

    public init() {}

    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [Event] {
        var events: [Event] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n"), lastWasCR {
                lastWasCR = false
                continue
            }
            lastWasCR = byte == UInt8(ascii: "\r")
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                if let event = endLine() { events.append(event) }
            } else {
                line.append(byte)
            }
        }
        return events
    }

    private mutating func endLine() -> Event? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            defer { name = nil; data = []; hasData = false }
            return hasData ? Event(name: name, data: data.joined(separator: "\n")) : nil
        }
        if line.first == UInt8(ascii: ":") { return nil }
        let colon = line.firstIndex(of: UInt8(ascii: ":"))
        let field = String(decoding: line[..<(colon ?? line.endIndex)], as: UTF8.self)
        var value = colon.map { line[line.index(after: $0)...] } ?? []
        if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
        let text = String(decoding: value, as: UTF8.self)
        switch field {
        case "data":
            data.append(text)
            hasData = true
        case "event":
            name = text
        default:
            break
        }
        return nil
    }
}
