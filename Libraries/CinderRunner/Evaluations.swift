import CinderCosts
import CinderEvaluators
import CinderModel
import CinderProviders
import CinderSandbox
import CinderStorage

/// A dataset evaluator as a job runs it: copied into the job's task when the experiment starts, so a
/// change to the dataset's evaluators during a run does not mix two versions in one experiment.
public struct EvaluatorSpec: Sendable {
    public enum Runs: Sendable {
        case builtIn(BuiltInEvaluator)
        case judge(LLMJudge, prompt: PromptTask, stored: JSONValue)
        case code(CodeEvaluator)
    }

    /// The annotation name its results are recorded under.
    public let name: String
    public let runs: Runs
    public let mapping: InputMapping

    public var kind: EvaluatorKind {
        switch runs {
        case .builtIn: .builtIn
        case .judge: .llm
        case .code: .code
        }
    }

    public init(name: String, runs: Runs, mapping: InputMapping) {
        self.name = name
        self.runs = runs
        self.mapping = mapping
    }

    /// From a dataset evaluator as stored: its output config is the dataset evaluator's own (first) one,
    /// or else the evaluator's.
    public init(_ row: DatasetEvaluatorRow) throws(EvaluatorFailure) {
        let mapping = try InputMapping(json: row.inputMapping)
        let ownConfig: JSONValue? = if case .array(let configs) = row.outputConfigs, let first = configs.first { first } else { nil }
        if let key = row.builtinKey {
            guard let builtIn = BuiltInEvaluator.named(key) else { throw EvaluatorFailure("Unknown built-in evaluator \(key)") }
            self.init(name: row.name, runs: .builtIn(builtIn), mapping: mapping)
        } else if let evaluator = row.evaluator, evaluator.kind == "LLM" {
            let config = try OutputConfig(json: ownConfig ?? evaluator.definition["output_config"] ?? .null)
            try self.init(name: row.name, judgePrompt: evaluator.definition["prompt"] ?? .null, config: config, mapping: mapping)
        } else if let evaluator = row.evaluator, evaluator.kind == "CODE" {
            self.init(name: row.name, runs: .code(try evaluator.codeEvaluator(outputConfig: ownConfig)), mapping: mapping)
        } else {
            throw EvaluatorFailure("Evaluator \(row.name) is of a kind this server cannot run yet")
        }
    }

    public init(name: String, judgePrompt: JSONValue, config: OutputConfig, mapping: InputMapping) throws(EvaluatorFailure) {
        let prompt: PromptTask
        do {
            prompt = try PromptTask(judgePrompt)
        } catch {
            throw EvaluatorFailure("The judge's prompt cannot run: \(error.description)")
        }
        self.init(name: name, runs: .judge(try LLMJudge(outputConfig: config), prompt: prompt, stored: judgePrompt), mapping: mapping)
    }

    /// A code evaluator from its stored definition (`language`, `source_code`).
    static func code(_ definition: JSONValue, config: OutputConfig?) throws(EvaluatorFailure) -> CodeEvaluator {
        try CodeEvaluator(
            language: definition["language"]?.stringValue ?? "", source: definition["source_code"]?.stringValue ?? "", outputConfig: config)
    }

    /// The form a job's task holds (`task.evaluators`).
    public var json: JSONValue {
        var out: [String: JSONValue] = ["name": .string(name), "input_mapping": mapping.json]
        switch runs {
        case .builtIn(let builtIn):
            out["kind"] = "BUILTIN"
            out["builtin_key"] = .string(builtIn.key)
        case .judge(let judge, _, let stored):
            out["kind"] = "LLM"
            out["prompt"] = stored
            out["output_config"] = judge.outputConfig.json
        case .code(let code):
            out["kind"] = "CODE"
            out["language"] = .string(code.language)
            out["source_code"] = .string(code.source)
            out["output_config"] = code.outputConfig?.json ?? .null
        }
        return .object(out)
    }

    public init(json: JSONValue) throws(EvaluatorFailure) {
        guard let name = json["name"]?.stringValue else { throw EvaluatorFailure("An evaluator of the job has no name") }
        let mapping = try InputMapping(json: json["input_mapping"])
        switch json["kind"]?.stringValue {
        case "BUILTIN":
            guard let key = json["builtin_key"]?.stringValue, let builtIn = BuiltInEvaluator.named(key) else {
                throw EvaluatorFailure("Unknown built-in evaluator \(json["builtin_key"]?.stringValue ?? "")")
            }
            self.init(name: name, runs: .builtIn(builtIn), mapping: mapping)
        case "LLM":
            try self.init(name: name, judgePrompt: json["prompt"] ?? .null, config: OutputConfig(json: json["output_config"] ?? .null), mapping: mapping)
        case "CODE":
            let config = try OutputConfig.optional(json: json["output_config"])
            self.init(name: name, runs: .code(try Self.code(json, config: config)), mapping: mapping)
        default:
            throw EvaluatorFailure("Evaluator \(name) is of a kind this server cannot run")
        }
    }

    /// A job's evaluators, from its task (none when it has none).
    public static func ofTask(_ task: JSONValue) throws(EvaluatorFailure) -> [EvaluatorSpec] {
        guard case .array(let items)? = task["evaluators"] else { return [] }
        var specs: [EvaluatorSpec] = []
        for item in items { specs.append(try EvaluatorSpec(json: item)) }
        return specs
    }
}

/// An evaluator ready to run: for a judge, its model's client (or why there is none: every evaluation
/// then records that error, and the runs themselves go on).
public struct PreparedEvaluator: Sendable {
    public let spec: EvaluatorSpec
    let model: Result<ResolvedModel, EvaluatorFailure>?
}

/// The context evaluators read for an experiment run: the example and the run's output — for a
/// prompt's run, the answer's text (or, when it called tools, the message with its calls).
public enum EvaluationContext {
    public static func experimentRun(input: JSONValue, output: JSONValue, reference: JSONValue, metadata: JSONValue) -> JSONValue {
        ["input": input, "output": output, "reference": reference, "metadata": metadata]
    }

    static func answer(text: String, toolCalls: [JSONValue]) -> JSONValue {
        toolCalls.isEmpty ? .string(text) : ["content": .string(text), "tool_calls": .array(toolCalls)]
    }

    /// A recorded run's output as evaluators read it: for a run of a prompt (`{"messages": [one
    /// assistant message]}`) its answer, as when the run was scored live; any other output as it is.
    public static func runOutput(_ stored: JSONValue) -> JSONValue {
        guard case .object(let members) = stored, members.count == 1, case .array(let messages)? = members["messages"], messages.count == 1,
            messages[0]["role"]?.stringValue == "assistant"
        else { return stored }
        let toolCalls: [JSONValue] = if case .array(let calls)? = messages[0]["tool_calls"] { calls } else { [] }
        return answer(text: messages[0]["content"]?.stringValue ?? "", toolCalls: toolCalls)
    }
}

/// Runs evaluators: built-ins in place, judges through the provider caller (with its retries and
/// limits), code in the sandbox. Each evaluation has its own trace — an EVALUATOR span with what it was
/// given and what it concluded, and under it the judge's LLM span — written where the caller writes its spans.
public struct EvaluatorExecutor: Sendable {
    let caller: ProviderCaller
    let credentials: ProviderCredentials
    /// Nil where code evaluators are not run.
    let sandbox: (any CodeSandbox)?
    let limits: SandboxLimits

    public init(caller: ProviderCaller, credentials: ProviderCredentials, sandbox: (any CodeSandbox)?, limits: SandboxLimits = SandboxLimits()) {
        self.caller = caller
        self.credentials = credentials
        self.sandbox = sandbox
        self.limits = limits
    }

    public func prepare(_ specs: [EvaluatorSpec], scope: TenantScope, given: [String: String], prices: PriceBook?) async -> [PreparedEvaluator] {
        var prepared: [PreparedEvaluator] = []
        for spec in specs {
            guard case .judge(_, let prompt, _) = spec.runs else {
                prepared.append(PreparedEvaluator(spec: spec, model: nil))
                continue
            }
            do {
                let (family, provider) = try await credentials.provider(for: prompt.modelChoice, scope: scope, given: given)
                prepared.append(PreparedEvaluator(spec: spec, model: .success(ResolvedModel(family: family, provider: provider, prices: prices))))
            } catch let error as ProviderError {
                prepared.append(PreparedEvaluator(spec: spec, model: .failure(EvaluatorFailure("The judge's model cannot be called: \(error.message)"))))
            } catch {
                prepared.append(PreparedEvaluator(spec: spec, model: .failure(EvaluatorFailure("The judge's model cannot be called: \(error)"))))
            }
        }
        return prepared
    }

    public struct Outcome: Sendable {
        public let evaluation: RunEvaluation
        public let spans: [Span]
    }

    /// Every evaluator on one context, at once; results in the evaluators' order.
    public func evaluate(_ evaluators: [PreparedEvaluator], context: JSONValue) async -> [Outcome] {
        await withTaskGroup(of: (Int, Outcome).self) { group in
            for (index, evaluator) in evaluators.enumerated() {
                group.addTask { (index, await self.evaluate(evaluator, context: context)) }
            }
            var outcomes: [(Int, Outcome)] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    func evaluate(_ evaluator: PreparedEvaluator, context: JSONValue) async -> Outcome {
        switch evaluator.spec.runs {
        case .builtIn(let builtIn):
            guard let source = builtIn.sandboxedSource else { return Self.evaluateBuiltIn(evaluator.spec, context: context) }
            let trace = Trace()
            let arguments: [String: JSONValue]
            do {
                arguments = try builtIn.arguments(mapping: evaluator.spec.mapping, context: context)
            } catch {
                return Self.outcome(evaluator.spec, inputs: .null, result: .failure(error), trace: trace, judgeSpans: [])
            }
            let result = await sandboxed(source: source, arguments: arguments) { returned throws(EvaluatorFailure) in
                try builtIn.verdict(fromSandboxed: returned)
            }
            return Self.outcome(evaluator.spec, inputs: .object(arguments), result: result, trace: trace, judgeSpans: [])
        case .judge(let judge, let prompt, _):
            let trace = Trace()
            let variables = evaluator.spec.mapping.inputs(prompt.templateParameters, context: context)
            var spans: [Span] = []
            let result = await self.judge(judge, prompt: prompt, variables: variables, model: evaluator.model, trace: trace, spans: &spans)
            return Self.outcome(evaluator.spec, inputs: .object(variables), result: result, trace: trace, judgeSpans: spans)
        case .code(let code):
            let trace = Trace()
            let arguments = code.arguments(mapping: evaluator.spec.mapping, context: context)
            let result = await sandboxed(source: code.source, arguments: arguments) { returned throws(EvaluatorFailure) in
                try code.verdict(from: returned)
            }
            return Self.outcome(evaluator.spec, inputs: .object(arguments), result: result, trace: trace, judgeSpans: [])
        }
    }

    /// Python's `evaluate` called in the sandbox, its answer read as a verdict.
    private func sandboxed(
        source: String, arguments: [String: JSONValue], verdict: (JSONValue) throws(EvaluatorFailure) -> Verdict
    ) async -> Result<Verdict, EvaluatorFailure> {
        guard let sandbox else { return .failure(EvaluatorFailure("Code evaluators do not run in this process")) }
        switch await sandbox.call(source: source, function: CodeEvaluator.function, arguments: arguments, limits: limits) {
        case .success(let returned): return Result { () throws(EvaluatorFailure) in try verdict(returned) }
        case .failure(let failure): return .failure(EvaluatorFailure(failure.description))
        }
    }

    /// A built-in evaluator's outcome: nothing to call, so any process computes it in place.
    public static func evaluateBuiltIn(_ spec: EvaluatorSpec, context: JSONValue) -> Outcome {
        let trace = Trace()
        guard case .builtIn(let builtIn) = spec.runs else {
            return outcome(spec, inputs: .null, result: .failure(EvaluatorFailure("\(spec.name) is not a built-in evaluator")), trace: trace, judgeSpans: [])
        }
        let inputs = spec.mapping.inputs(builtIn.parameters.map(\.name), context: context)
        let result = Result { () throws(EvaluatorFailure) in try builtIn.evaluate(mapping: spec.mapping, context: context) }
        return outcome(spec, inputs: .object(inputs), result: result, trace: trace, judgeSpans: [])
    }

    /// An evaluation's trace: its ids and when it started.
    struct Trace {
        let id = LLMSpan.newTraceID()
        let rootSpanID = LLMSpan.newSpanID()
        let start = LLMSpan.now()
    }

    /// The evaluation as recorded, and its trace: an EVALUATOR span over the judge's spans.
    static func outcome(_ spec: EvaluatorSpec, inputs: JSONValue, result: Result<Verdict, EvaluatorFailure>, trace: Trace, judgeSpans: [Span]) -> Outcome {
        let end = LLMSpan.now()
        let verdict = try? result.get()
        let failure: String? = if case .failure(let error) = result { error.description } else { nil }
        var output: [String: JSONValue] = [:]
        if let verdict {
            output["label"] = verdict.label.map { .string($0) } ?? .null
            output["score"] = verdict.score.map { .double($0) } ?? .null
            output["explanation"] = verdict.explanation.map { .string($0) } ?? .null
        }
        let root = Span(
            traceID: trace.id, spanID: trace.rootSpanID, parentID: nil, name: "Evaluation: \(spec.name)", kind: .evaluator, startTime: trace.start,
            endTime: end, statusCode: failure == nil ? .ok : .error, statusMessage: failure ?? "",
            attributes: [
                "openinference.span.kind": "EVALUATOR", "input.mime_type": "application/json", "input.value": .string(inputs.jsonString),
                "output.mime_type": "application/json", "output.value": .string(JSONValue.object(output).jsonString),
                "metadata": ["evaluator": .string(spec.name), "evaluator_kind": .string(spec.kind.rawValue)],
            ],
            events: failure.map { [SpanEvent(name: "exception", time: end, attributes: ["exception.message": .string($0)])] } ?? [])
        let evaluation = RunEvaluation(
            name: spec.name, annotatorKind: spec.kind.annotatorKind, label: verdict?.label, score: verdict?.score, explanation: verdict?.explanation,
            error: failure, metadata: verdict?.metadata ?? .object([:]), traceID: trace.id, startMicros: trace.start / 1000, endMicros: end / 1000)
        return Outcome(evaluation: evaluation, spans: [root] + judgeSpans)
    }

    private func judge(
        _ judge: LLMJudge, prompt: PromptTask, variables: [String: JSONValue], model: Result<ResolvedModel, EvaluatorFailure>?, trace: Trace,
        spans: inout [Span]
    ) async -> Result<Verdict, EvaluatorFailure> {
        guard let model else { return .failure(EvaluatorFailure("The judge has no model")) }
        let resolved: ResolvedModel
        switch model {
        case .success(let value): resolved = value
        case .failure(let error): return .failure(error)
        }
        var request: ChatRequest
        do {
            request = try prompt.request(variables: .object(variables))
        } catch {
            return .failure(EvaluatorFailure(error.description.replacingOccurrences(of: "in the example's input", with: "in the evaluator's inputs")))
        }
        judge.prepare(&request, family: resolved.family)
        let started = LLMSpan.now()
        do {
            let completion = try await caller.complete(request, family: resolved.family, provider: resolved.provider)
            var span = LLMSpan.make(traceID: trace.id, family: resolved.family, request: request, completion: completion, error: nil, start: started, end: LLMSpan.now())
            span.parentID = trace.rootSpanID
            resolved.prices?.price(&span)
            spans.append(span)
            return Result { () throws(EvaluatorFailure) in try judge.verdict(from: completion) }
        } catch {
            let failure = (error as? ProviderError)?.description ?? "\(error)"
            var span = LLMSpan.make(traceID: trace.id, family: resolved.family, request: request, completion: nil, error: failure, start: started, end: LLMSpan.now())
            span.parentID = trace.rootSpanID
            spans.append(span)
            return .failure(EvaluatorFailure("The judge's call failed: \(failure)"))
        }
    }
}

extension PromptTask {
    /// The top-level names the prompt's template reads (the parameters an input mapping fills).
    var templateParameters: [String] {
        TemplateVariables.parameters(in: messages.map { Self.text($0["content"]) }, format: templateFormat)
    }
}

extension EvaluatorRow {
    /// A stored code evaluator as it runs now: its current source, and its output config unless
    /// `outputConfig` (a dataset evaluator's own) replaces it.
    public func codeEvaluator(outputConfig: JSONValue? = nil) throws(EvaluatorFailure) -> CodeEvaluator {
        try CodeEvaluator(
            language: definition["language"]?.stringValue ?? "", source: sourceCode ?? "",
            outputConfig: OutputConfig.optional(json: outputConfig ?? definition["output_config"]))
    }
}

extension EvaluatorSpec {
    /// The evaluators a new server-side experiment over `datasetID` runs, in the form its task holds:
    /// the dataset's evaluators, or those of `selection` (each a dataset evaluator, or a built-in one,
    /// under a name and mapping of the caller's).
    public static func forJob(scope: TenantScope, datasetID: Int64, selection: [Selected] = []) async throws -> JSONValue {
        let rows = try await scope.evaluators.datasetEvaluators(datasetID: datasetID)
        var specs: [EvaluatorSpec] = []
        do {
            if selection.isEmpty {
                for row in rows { specs.append(try EvaluatorSpec(row)) }
            }
            for selected in selection {
                switch selected.evaluator {
                case .datasetEvaluator(let id):
                    guard let row = rows.first(where: { $0.id == id }) else { throw CinderError.notFound("The dataset has no evaluator \(id)") }
                    let stored = try EvaluatorSpec(row)
                    specs.append(EvaluatorSpec(name: selected.name ?? stored.name, runs: stored.runs, mapping: selected.mapping ?? stored.mapping))
                case .builtIn(let builtIn):
                    specs.append(EvaluatorSpec(name: selected.name ?? builtIn.key, runs: .builtIn(builtIn), mapping: selected.mapping ?? builtIn.defaultMapping))
                }
            }
        } catch let error as EvaluatorFailure {
            throw CinderError.unprocessable("The dataset's evaluators cannot run: \(error.description)")
        }
        var names = Set<String>()
        for spec in specs where !names.insert(spec.name).inserted {
            throw CinderError.unprocessable("Two evaluators are named \(spec.name): each names the annotations it records, so names must differ")
        }
        return .array(specs.map(\.json))
    }

    /// An evaluator chosen for one experiment.
    public struct Selected: Sendable {
        public enum Evaluator: Sendable {
            case datasetEvaluator(id: Int64)
            case builtIn(BuiltInEvaluator)
        }

        public let evaluator: Evaluator
        public let name: String?
        public let mapping: InputMapping?

        public init(_ evaluator: Evaluator, name: String?, mapping: InputMapping?) {
            self.evaluator = evaluator
            self.name = name
            self.mapping = mapping
        }
    }
}
