import CinderEvaluators
import CinderModel
import Testing

@Suite struct BuiltInEvaluatorTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let evaluator: String
        let literals: [String: JSONValue]
        let label: String?
        let score: Double?
        var testDescription: String { "\(evaluator) \(literals)" }

        init(_ evaluator: String, _ literals: [String: JSONValue], label: String?, score: Double?) {
            self.evaluator = evaluator
            self.literals = literals
            self.label = label
            self.score = score
        }
    }

    static let cases: [Case] = [
        Case("exact_match", ["expected": "Paris", "actual": "Paris"], label: "true", score: 1),
        Case("exact_match", ["expected": "Paris", "actual": " Paris\n"], label: "true", score: 1),
        Case("exact_match", ["expected": "Paris", "actual": " Paris\n", "strip_whitespace": false], label: "false", score: 0),
        Case("exact_match", ["expected": "Paris", "actual": "paris"], label: "false", score: 0),
        Case("exact_match", ["expected": "Paris", "actual": "paris", "case_sensitive": false], label: "true", score: 1),
        Case("exact_match", ["expected": 42, "actual": "42"], label: "true", score: 1),
        Case("contains", ["words": "paris, lyon", "text": "I live in Lyon"], label: "true", score: 1),
        Case("contains", ["words": "paris, lyon", "text": "I live in Lyon", "case_sensitive": true], label: "false", score: 0),
        Case("contains", ["words": ["paris", "lyon"], "text": "paris or lyon", "require_all": true], label: "true", score: 1),
        Case("contains", ["words": ["paris", "nice"], "text": "paris or lyon", "require_all": true], label: "false", score: 0),
        Case("json_distance", ["expected": ["a": 1, "b": [1, 2]], "actual": "{\"b\": [1, 2], \"a\": 1.0}"], label: "equal", score: 0),
        Case("json_distance", ["expected": ["a": 1, "b": [1, 2]], "actual": ["a": 2, "b": [1], "c": true]], label: "different", score: 3),
        Case("json_distance", ["expected": "not json", "actual": "not json"], label: "equal", score: 0),
        Case("levenshtein_distance", ["expected": "kitten", "actual": "sitting"], label: nil, score: 3),
        Case("levenshtein_distance", ["expected": "Paris", "actual": "paris", "case_sensitive": false], label: nil, score: 0),
        Case("levenshtein_distance", ["expected": "", "actual": "abc"], label: nil, score: 3),
        Case("levenshtein_distance", ["expected": "café", "actual": "cafe"], label: nil, score: 1),
    ]

    @Test(arguments: cases)
    func verdicts(_ c: Case) throws {
        let evaluator = try #require(BuiltInEvaluator.named(c.evaluator))
        let verdict = try evaluator.evaluate(mapping: InputMapping(literalMapping: c.literals), context: .object([:]))
        #expect(verdict.label == c.label)
        #expect(verdict.score == c.score)
        #expect(verdict.explanation?.isEmpty == false)
    }

    @Test func defaultsReadTheRunsOutputAndReference() throws {
        let context: JSONValue = ["input": ["question": "capital of France?"], "output": "Paris", "reference": "Paris", "metadata": [:]]
        let verdict = try BuiltInEvaluator.named("exact_match")!.evaluate(mapping: InputMapping(), context: context)
        #expect(verdict.score == 1)
        // A path mapping replaces one default and keeps the other.
        let nested: JSONValue = ["output": "Lyon", "reference": ["answer": "Lyon"]]
        let mapped = try BuiltInEvaluator.named("exact_match")!.evaluate(mapping: InputMapping(pathMapping: ["expected": "$.reference.answer"]), context: nested)
        #expect(mapped.score == 1)
    }

    @Test func missingAndBadInputsAreEvaluatorErrors() {
        #expect(throws: EvaluatorFailure.self) {
            try BuiltInEvaluator.named("regex")!.evaluate(mapping: InputMapping(), context: ["output": "x"])
        }
        // The regular expression built-in runs in the sandbox (SandboxTests), never in place.
        #expect(throws: EvaluatorFailure.self) {
            try BuiltInEvaluator.named("regex")!.evaluate(mapping: InputMapping(literalMapping: ["pattern": "x", "text": "x"]), context: [:])
        }
        #expect(throws: EvaluatorFailure.self) {
            try BuiltInEvaluator.named("contains")!.evaluate(mapping: InputMapping(literalMapping: ["words": " , ", "text": "x"]), context: [:])
        }
        #expect(throws: EvaluatorFailure.self) {
            try BuiltInEvaluator.named("exact_match")!.evaluate(
                mapping: InputMapping(literalMapping: ["expected": "a", "actual": "a", "case_sensitive": "maybe"]), context: [:])
        }
    }

    @Test func idsAreStableAndNegative() {
        for evaluator in BuiltInEvaluator.all {
            #expect(evaluator.id < 0)
            #expect(BuiltInEvaluator.with(id: evaluator.id)?.key == evaluator.key)
        }
        #expect(BuiltInEvaluator.with(id: 5) == nil)
    }

    @Test func jsonPathsFindWhatTheySay() throws {
        let context: JSONValue = ["output": ["messages": [["content": "a"], ["content": "b"]]], "input": ["q": "x"]]
        let mapping = try InputMapping(json: [
            "pathMapping": ["first": "$.output.messages[0].content", "last": "output.messages[-1]['content']", "all": "$.output.messages[*].content", "none": "$.nope"],
            "literalMapping": ["first": "literal wins"],
        ])
        let inputs = mapping.inputs(["input"], context: context)
        #expect(inputs["first"] == "literal wins")
        #expect(inputs["last"] == "b")
        #expect(inputs["all"] == ["a", "b"])
        #expect(inputs["none"] == nil)
        #expect(inputs["input"] == ["q": "x"])
        #expect(throws: EvaluatorFailure.self) { try InputMapping(json: ["pathMapping": ["x": "$.a[b"]]) }
        #expect(throws: EvaluatorFailure.self) { try InputMapping(json: ["pathMapping": ["x": 3]]) }
    }
}
