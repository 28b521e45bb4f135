import CinderEvaluators
import CinderModel
import CinderProviders
import Testing

@Suite struct LLMJudgeTests {
    let judge = try! LLMJudge(outputConfig: JudgeTemplate.named("correctness")!.outputConfig)

    func completion(text: String = "", arguments: String? = nil) -> ChatCompletion {
        var completion = ChatCompletion()
        completion.text = text
        if let arguments { completion.toolCalls = [ToolCall(id: "call_1", name: LLMJudge.toolName, arguments: arguments)] }
        return completion
    }

    @Test func labelsBecomeScoresWithTheirExplanation() throws {
        let verdict = try judge.verdict(from: completion(arguments: #"{"label": "correct", "explanation": "Same city."}"#))
        #expect(verdict == Verdict(label: "correct", score: 1, explanation: "Same city."))
        let wrong = try judge.verdict(from: completion(arguments: #"{"label": "INCORRECT"}"#))
        #expect(wrong.label == "incorrect")
        #expect(wrong.score == 0)
        // Without the tool: a JSON answer or a bare label is still read.
        #expect(try judge.verdict(from: completion(text: #"{"label": "correct"}"#)).score == 1)
        #expect(try judge.verdict(from: completion(text: " Incorrect\n")).label == "incorrect")
    }

    @Test func malformedAnswersAreErrors() {
        for bad in [completion(arguments: "{not json"), completion(arguments: #"{"label": "maybe"}"#), completion(arguments: #"{"explanation": "x"}"#),
                    completion(text: "I think it is probably right"), completion(text: "")] {
            #expect(throws: EvaluatorFailure.self) { try judge.verdict(from: bad) }
        }
    }

    @Test func theRequestForcesTheJudgementTool() throws {
        var request = ChatRequest(model: "m", messages: [])
        judge.prepare(&request, family: ProviderFamily.named("OPENAI")!)
        #expect(request.tools.map(\.name) == [LLMJudge.toolName])
        #expect(request.tools[0].parameters[path: ["properties", "label", "enum"]] == ["correct", "incorrect"])
        #expect(request.parameters["tool_choice"]?[path: ["function", "name"]] == .string(LLMJudge.toolName))
        var anthropic = ChatRequest(model: "m", messages: [])
        judge.prepare(&anthropic, family: ProviderFamily.named("ANTHROPIC")!)
        #expect(anthropic.parameters["tool_choice"] == ["type": "tool", "name": .string(LLMJudge.toolName)])
        #expect(throws: EvaluatorFailure.self) { try LLMJudge(outputConfig: OutputConfig(name: "x", direction: .none, shape: .freeform)) }
    }

    @Test func templatesNameTheirVariables() {
        #expect(TemplateVariables.parameters(in: ["{{input.question}} vs {{ output }} and {{input.x}}"], format: "MUSTACHE") == ["input", "output"])
        #expect(TemplateVariables.names(in: "{a} {{literal}} {b}", format: "F_STRING") == ["a", "b"])
        for template in JudgeTemplate.all {
            let variables = TemplateVariables.parameters(in: template.messages.map(\.text), format: "MUSTACHE")
            #expect(variables.contains("output") || variables.contains("documents"), "\(template.name)")
            #expect(template.outputConfig.labels.count == 2)
        }
    }
}

@Suite struct CodeEvaluatorResultTests {
    let evaluator = try! CodeEvaluator(
        language: "PYTHON", source: "def evaluate(output):\n    return True\n",
        outputConfig: OutputConfig(name: "q", direction: .maximize, shape: .categorical([("good", 1), ("bad", 0)])))

    @Test func returnedValuesBecomeVerdicts() throws {
        #expect(try evaluator.verdict(from: true) == Verdict(label: "true", score: 1))
        #expect(try evaluator.verdict(from: 0.25) == Verdict(score: 0.25))
        #expect(try evaluator.verdict(from: "good") == Verdict(label: "good", score: 1))
        #expect(try evaluator.verdict(from: ["label": "bad", "explanation": "too long", "metadata": ["n": 3]])
            == Verdict(label: "bad", score: 0, explanation: "too long", metadata: ["n": 3]))
        #expect(try evaluator.verdict(from: ["score": false]) == Verdict(score: 0))
        for bad: JSONValue in [nil, [1, 2], ["label": 3], ["score": "high"], ["other": 1]] {
            #expect(throws: EvaluatorFailure.self) { try evaluator.verdict(from: bad) }
        }
    }

    @Test func argumentsIncludeTheReferenceAsExpected() {
        let arguments = evaluator.arguments(
            mapping: InputMapping(pathMapping: ["answer": "$.reference.answer"]), context: ["output": "x", "reference": ["answer": "y"], "input": [:]])
        #expect(arguments["expected"] == ["answer": "y"] && arguments["answer"] == "y" && arguments["output"] == "x")
        #expect(throws: EvaluatorFailure.self) { try CodeEvaluator(language: "TYPESCRIPT", source: "def evaluate(): pass", outputConfig: nil) }
        #expect(throws: EvaluatorFailure.self) { try CodeEvaluator(language: "PYTHON", source: "def other(): pass", outputConfig: nil) }
    }
}
