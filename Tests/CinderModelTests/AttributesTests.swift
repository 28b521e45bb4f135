import CinderModel
import Testing

@Suite struct AttributesTests {
    @Test func nestsDottedKeys() {
        let nested = Attributes.unflatten([("llm.token_count.prompt", 12), ("llm.model_name", "gpt-4o"), ("input.value", "hi")])
        #expect(nested == ["llm": ["token_count": ["prompt": 12], "model_name": "gpt-4o"], "input": ["value": "hi"]])
    }

    @Test func indexFollowedBySegmentsMakesArraysOfObjects() {
        let nested = Attributes.unflatten([
            ("retrieval.documents.1.document.id", "b"),
            ("retrieval.documents.0.document.id", "a"),
            ("retrieval.documents.0.document.score", 0.5),
        ])
        #expect(nested == ["retrieval": ["documents": [["document": ["id": "a", "score": 0.5]], ["document": ["id": "b"]]]]])
    }

    @Test func trailingDigitSegmentStaysAKey() {
        #expect(Attributes.unflatten([("tags.0", "python"), ("tags.1", "ai")]) == ["tags": ["0": "python", "1": "ai"]])
    }

    @Test func gapsCloseAndLeadingZerosNormalize() {
        let nested = Attributes.unflatten([("m.7.x", 1), ("m.005.x", 2)])
        #expect(nested == ["m": [["x": 2], ["x": 1]]])  // ordered by index 5, 7; closed up
    }

    @Test func valueAndLongerKeyBothKept() {
        let nested = Attributes.unflatten([("a", ["b": 1]), ("a.c", 2)])
        #expect(nested == ["a": ["b": 1], "a.c": 2])
    }

    @Test func whitespaceTrimmedAndNullsDropped() {
        #expect(Attributes.unflatten([(" a . b ", 1), ("c", .null)]) == ["a": ["b": 1]])
    }

    @Test func flattenRoundTripsOpenInferenceShapes() {
        let flat: [(key: String, value: JSONValue)] = [
            ("llm.input_messages.0.message.role", "system"), ("llm.input_messages.1.message.content", "hi"),
            ("tag.tags", ["a", "b"]), ("metadata.tenant", "acme"),
        ]
        let back = Attributes.flatten(Attributes.unflatten(flat))
        #expect(back.map(\.key) == ["llm.input_messages.0.message.role", "llm.input_messages.1.message.content", "metadata.tenant", "tag.tags"])
        #expect(back.first { $0.key == "tag.tags" }?.value == ["a", "b"])
    }

    @Test func jsonStringAttributesAreParsed() {
        let pairs = Attributes.loadingJSONStrings([
            ("metadata", #"{"tier": "gold", "n": 3}"#), ("tool.parameters", "not json"), ("input.value", #"{"a":1}"#),
        ])
        #expect(pairs[0].value == ["tier": "gold", "n": 3])
        #expect(pairs[1].value == "not json")
        #expect(pairs[2].value == #"{"a":1}"#)
    }

    @Test func dataFrameColumnsKeepSemanticConventionsWhole() {
        let nested = Attributes.unflatten([
            ("llm.token_count.total", 7), ("llm.input_messages.0.message.role", "user"), ("metadata", ["k": "v"]),
            ("custom.deep.key", 1),
        ])
        let columns = Attributes.dataFrameColumns(nested)
        #expect(columns["llm.token_count.total"] == 7)
        #expect(columns["llm.input_messages"] == [["message.role": "user"]])
        #expect(columns["metadata"] == ["k": "v"])
        #expect(columns["custom"] == ["deep": ["key": 1]])
    }
}

@Suite struct JSONValueTests {
    @Test func roundTripsWithEscapes() throws {
        let value: JSONValue = ["s": "line\n\"quoted\" \\ tab\t \u{1} é 😀", "n": -12, "d": 1.5, "b": true, "z": nil, "a": [1, "x"]]
        #expect(try JSONValue(parsing: value.jsonString) == value)
    }

    @Test func nulCharactersBecomeReplacementCharacters() throws {
        #expect(JSONValue.string("a\u{0}b").jsonString == #""a\ufffdb""#)
    }

    @Test func parsesSurrogatePairsAndNumbers() throws {
        #expect(try JSONValue(parsing: #""\ud83d\ude00""#) == "😀")
        #expect(try JSONValue(parsing: "12345678901") == .int(12_345_678_901))
        #expect(try JSONValue(parsing: "1e3") == .double(1000))
        #expect(try JSONValue(parsing: "-0.25") == .double(-0.25))
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "tru", "\"unterminated", "01x", "{} extra"])
    func rejectsInvalidJSON(_ text: String) {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue(parsing: text) }
    }

    @Test func nonFiniteDoublesStayReadable() {
        #expect(JSONValue.double(.nan).jsonString == #""NaN""#)
        #expect(JSONValue.double(-.infinity).jsonString == #""-Infinity""#)
    }
}

@Suite struct IdentifierTests {
    @Test func globalIDsMatchPhoenix() {
        #expect(GlobalID("Project", 1).encoded == "UHJvamVjdDox")
        #expect(GlobalID("Trace", 1).encoded == "VHJhY2U6MQ==")
        #expect(GlobalID(encoded: "UHJvamVjdDox") == GlobalID("Project", 1))
        #expect(GlobalID(encoded: "VHJhY2U6MQ", type: "Trace") == GlobalID("Trace", 1))
        #expect(GlobalID(encoded: "UHJvamVjdDox", type: "Span") == nil)
        #expect(GlobalID(encoded: "default") == nil)
        #expect(GlobalID(encoded: "my project") == nil)
    }

    @Test func hexIDs() {
        #expect(HexID.encode([0x00, 0xab, 0xff]) == "00abff")
        #expect(HexID.decode("00ABff", byteCount: 3) == [0x00, 0xab, 0xff])
        #expect(HexID.decode("00ab", byteCount: 3) == nil)
        #expect(HexID.decode("zz", byteCount: 1) == nil)
        #expect(HexID.normalize("ABCDEF0123456789", byteCount: 8) == "abcdef0123456789")
    }

    @Test func spanKindsAreCaseInsensitive() {
        #expect(SpanKind(attribute: "llm") == .llm)
        #expect(SpanKind(attribute: "Retriever") == .retriever)
        #expect(SpanKind(attribute: "banana") == .unknown)
        #expect(SpanKind(attribute: nil) == .unknown)
    }
}

@Suite struct TimestampTests {
    @Test func formatsLikePythonIsoformat() {
        #expect(Timestamp.iso8601(micros: 0) == "1970-01-01T00:00:00+00:00")
        #expect(Timestamp.iso8601(micros: 1_700_000_000_223_457) == "2023-11-14T22:13:20.223457+00:00")
        #expect(Timestamp.iso8601(nanos: 1_700_000_000_500_000_999) == "2023-11-14T22:13:20.500000+00:00")
        #expect(Timestamp.iso8601(micros: -1) == "1969-12-31T23:59:59.999999+00:00")
        #expect(Timestamp.iso8601(micros: 951_782_400_000_000) == "2000-02-29T00:00:00+00:00")
    }

    @Test(arguments: [
        ("2023-11-14T22:13:20.223457+00:00", 1_700_000_000_223_457),
        ("2023-11-14T22:13:20Z", 1_700_000_000_000_000),
        ("2023-11-14T22:13:20", 1_700_000_000_000_000),
        ("2023-11-14 23:13:20.5+01:00", 1_700_000_000_500_000),
        ("2023-11-14T17:13:20-0500", 1_700_000_000_000_000),
        ("2023-11-14", 1_699_920_000_000_000),
        ("2023-11-14T22:13:20.1234567Z", 1_700_000_000_123_456),
    ] as [(String, Int64)])
    func parsesISO8601(_ text: String, _ micros: Int64) {
        #expect(Timestamp.parseMicros(text) == micros)
    }

    @Test(arguments: ["yesterday", "2023-13-01", "2023-11-14T25:00:00", "2023-11-14T22:13:20+", "2023-11-14T22:13:20.Z"])
    func rejectsNonsense(_ text: String) {
        #expect(Timestamp.parseMicros(text) == nil)
    }
}

@Suite struct UnflattenEquivalenceTests {
    /// The sorted fast path must agree with the trie (forced by a never-matching prefix exclusion).
    @Test func fastPathMatchesTrieOnGeneratedKeys() {
        var generator = SystemRandomNumberGenerator()
        let segments = ["a", "b", "0", "1", "2", "10", "007", " c ", "", "llm", "x"]
        for _ in 0..<3000 {
            var pairs: [(key: String, value: JSONValue)] = []
            for n in 0..<Int.random(in: 1...6, using: &generator) {
                let depth = Int.random(in: 1...4, using: &generator)
                let key = (0..<depth).map { _ in segments.randomElement(using: &generator)! }.joined(separator: ".")
                pairs.append((key, .int(Int64(n))))
            }
            let fast = Attributes.unflatten(pairs)
            let trie = Attributes.unflatten(pairs, prefixExclusions: ["\u{1}never"])
            #expect(fast == trie, "\(pairs)")
            if fast != trie { return }
        }
    }

    /// `NestedAttributes` (ingestion's path: no dictionaries) must give the trie's document, as
    /// canonical bytes, the same lookups, and the same document after a `set`.
    @Test func nestedAttributesMatchTheTrie() {
        var generator = SystemRandomNumberGenerator()
        let segments = ["a", "b", "0", "1", "2", "10", "007", " c ", "", "llm", "x", "é", "B"]
        let values: [JSONValue] = [1, 2.5, "s\"q\n", true, .null, ["k": ["z": 1, "a": [1, ["b": 2]]]], [3, "x"]]
        for _ in 0..<3000 {
            var pairs: [(key: String, value: JSONValue)] = []
            for _ in 0..<Int.random(in: 1...7, using: &generator) {
                let depth = Int.random(in: 1...4, using: &generator)
                let key = (0..<depth).map { _ in segments.randomElement(using: &generator)! }.joined(separator: ".")
                pairs.append((key, values.randomElement(using: &generator)!))
            }
            let tree = Attributes.unflatten(pairs, prefixExclusions: ["\u{1}never"])
            var nested = NestedAttributes(pairs)
            var canonical: [UInt8] = []
            JSONValue.object(tree).writeCanonical(to: &canonical)
            #expect(nested.json == canonical, "\(pairs)")
            for path in [["a"], ["a", "b"], ["llm", "x"], ["b", "k", "z"], ["x", "a", "b"], ["x"]] {
                #expect(nested.value(at: path) == JSONValue.object(tree)[path: path], "\(pairs) at \(path)")
            }
            let path = [["a", "b"], ["x"], ["llm", "k", "z"]].randomElement(using: &generator)!
            nested.set(path, "set")
            var expected = JSONValue.object(tree)
            expected.set(path, "set")
            var expectedBytes: [UInt8] = []
            expected.writeCanonical(to: &expectedBytes)
            #expect(nested.json == expectedBytes, "\(pairs) set \(path)")
            if nested.json != expectedBytes { return }
        }
    }

}

extension JSONValue {
    /// Sets a value at a path of object keys, replacing whatever is in the way (the test's reference).
    fileprivate mutating func set(_ path: [String], _ value: JSONValue) {
        guard let key = path.first else { return self = value }
        var members: [String: JSONValue] = [:]
        if case .object(let existing) = self { members = existing }
        var child = members[key] ?? .null
        child.set(Array(path.dropFirst()), value)
        members[key] = child
        self = .object(members)
    }
}

@Suite struct HostileInputTests {
    @Test func veryDeepKeysStayFlat() {
        let deep = Array(repeating: "a", count: 10_000).joined(separator: ".")
        let nested = Attributes.unflatten([(deep, 1), ("b.c", 2)])
        #expect(nested[deep] == 1)
        #expect(nested["b"] == ["c": 2])
        #expect(JSONValue.object(nested).jsonString.count > 10_000)
    }
}
