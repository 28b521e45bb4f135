import CinderCosts
import CinderModel
import CinderProviders
import CinderResilience
import CinderSandbox
import CinderStorage
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Runs server-side experiments: claims runnable jobs from the installation's queue (with leases that
/// it renews while it works), runs each missing (example, repetition) through the job's prompt at the
/// job's concurrency (and within this replica's), records each run once, and ends the job when nothing
/// is missing, or stops it when its provider keeps failing. Another replica takes over a job whose
/// lease ran out; what one replica recorded the other does not run again.
public final class ExperimentRunner: Service, Sendable {
    public struct Configuration: Sendable {
        /// Provider calls in flight on this replica, across jobs.
        public var concurrency: Int
        public var lease: Duration
        /// How often an idle runner looks for work.
        public var pollInterval: Duration
        /// Failures in a row (after retries) that stop a job.
        public var breakerThreshold: Int
        /// Prices for the runs' LLM spans; nil with cost tracking off.
        public var prices: OrganizationPrices?

        public init(
            concurrency: Int = 64, lease: Duration = .seconds(30), pollInterval: Duration = .seconds(1), breakerThreshold: Int = 5,
            prices: OrganizationPrices? = nil
        ) {
            self.concurrency = concurrency
            self.lease = lease
            self.pollInterval = pollInterval
            self.breakerThreshold = breakerThreshold
            self.prices = prices
        }
    }

    let configuration: Configuration
    let queue: JobQueue
    let credentials: ProviderCredentials
    let caller: ProviderCaller
    let executor: EvaluatorExecutor
    let spans: SpanIngestStore
    let logger: Logger
    let slots: Permits
    let jobsRunning: Gauge
    let runsDone: Counter
    let runsFailed: Counter
    /// The jobs this replica works on (which it must not claim again while it does), and so how many.
    private let held = Mutex<Set<Int64>>([])

    public init(
        configuration: Configuration, queue: JobQueue, credentials: ProviderCredentials, caller: ProviderCaller, sandbox: (any CodeSandbox)?,
        spans: SpanIngestStore, metrics: any MetricsFactory, logger: Logger
    ) {
        self.configuration = configuration
        self.queue = queue
        self.credentials = credentials
        self.caller = caller
        self.executor = EvaluatorExecutor(caller: caller, credentials: credentials, sandbox: sandbox)
        self.spans = spans
        self.logger = logger
        self.slots = Permits(configuration.concurrency)
        self.jobsRunning = Gauge(label: "cinder_runner_jobs_running", factory: metrics)
        self.runsDone = Counter(label: "cinder_runner_runs_total", dimensions: [("outcome", "success")], factory: metrics)
        self.runsFailed = Counter(label: "cinder_runner_runs_total", dimensions: [("outcome", "error")], factory: metrics)
    }

    public func run() async throws {
        logger.info("runner started", metadata: ["cinder.runner": "\(queue.runner)", "cinder.concurrency": "\(configuration.concurrency)"])
        if let reason = await executor.sandbox?.unavailableReason() {
            logger.warning("code evaluators cannot run on this runner; their evaluations record the reason", metadata: ["cinder.reason": "\(reason)"])
        }
        // Jobs are cancelled on shutdown: their calls stop, their leases are handed back at once, and
        // the runs they had not recorded stay missing for the next runner.
        try await cancelWhenGracefulShutdown { await self.claimLoop() }
        logger.info("runner stopped")
    }

    private func claimLoop() async {
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled {
                var claimed: ClaimedJob?
                let holding = held.withLock { $0 }
                // One job per free slot at most: a replica with every slot busy leaves new jobs to others.
                if holding.count < configuration.concurrency {
                    do {
                        claimed = try await queue.claim(lease: configuration.lease, excluding: holding)
                    } catch {
                        logger.warning("cannot claim a job", metadata: ["cinder.error": "\(error)"])
                    }
                }
                guard let job = claimed else {
                    try? await Task.sleep(for: configuration.pollInterval)
                    continue
                }
                jobsRunning.record(held.withLock { $0.insert(job.jobID); return $0.count })
                group.addTask {
                    await self.execute(job)
                    self.jobsRunning.record(self.held.withLock { $0.remove(job.jobID); return $0.count })
                }
            }
        }
    }

    enum Ending {
        case completed, lostLease, breakerOpen(String), cancelled
    }

    /// Runs one claimed job until it ends, loses its lease or the runner stops.
    func execute(_ claimed: ClaimedJob) async {
        let scope = claimed.scope
        var logger = logger
        logger[metadataKey: "cinder.experiment"] = "\(claimed.jobID)"
        logger[metadataKey: "cinder.org"] = "\(claimed.organization.rawValue)"
        do {
            guard let job = try await scope.experimentJobs.job(id: claimed.jobID, onPrimary: true), job.status == .running,
                let experiment = try await scope.experiments.experiment(id: claimed.jobID, onPrimary: true)
            else {
                try await queue.release(claimed)
                return
            }
            let task: PromptTask
            do {
                task = try PromptTask(job.task)
            } catch {
                try await finish(claimed, .error, "The job's prompt cannot run: \(error)", level: "ERROR")
                return
            }
            let model: ResolvedModel
            let evaluators: [PreparedEvaluator]
            do {
                let given = try credentials.openJobCredentials(job.sealedCredentials, jobID: job.id, organization: scope.organization)
                let (family, provider) = try await credentials.provider(for: task.modelChoice, scope: scope, given: given)
                let prices = await configuration.prices?.book(for: scope.organization)
                model = ResolvedModel(family: family, provider: provider, prices: prices)
                let specs: [EvaluatorSpec]
                do {
                    specs = try EvaluatorSpec.ofTask(job.task)
                } catch {
                    try await finish(claimed, .error, "The job's evaluators cannot run: \(error)", level: "ERROR")
                    return
                }
                evaluators = await executor.prepare(specs, scope: scope, given: given, prices: prices)
            } catch let error as ProviderError {
                try await finish(claimed, .error, error.message, level: "ERROR")
                return
            }
            logger.info("job claimed", metadata: ["cinder.model": "\(model.family.prefix):\(task.model)"])
            switch try await work(claimed, experiment: experiment, job: job, task: task, model: model, evaluators: evaluators, logger: logger) {
            case .completed:
                try await finish(claimed, .completed, "Completed", level: "INFO")
                logger.info("job completed")
            case .breakerOpen(let reason):
                try await finish(claimed, .error, "Stopped after repeated failures: \(reason)", level: "ERROR")
                logger.warning("job stopped by its circuit breaker", metadata: ["cinder.reason": "\(reason)"])
            case .lostLease:
                logger.info("job stopped or taken over; letting it go")
            case .cancelled:
                await handBack(claimed)
            }
        } catch {
            if Task.isCancelled {
                await handBack(claimed)
                return
            }
            // The lease runs out and another replica (or this one) tries again.
            logger.error("job failed", metadata: ["cinder.error": "\(String(reflecting: error))"])
        }
    }

    /// Releases the lease from a cancelled job, in a task of its own that the cancellation does not reach.
    private func handBack(_ claimed: ClaimedJob) async {
        let queue = queue
        await Task { try? await queue.release(claimed) }.value
    }

    private func finish(_ claimed: ClaimedJob, _ status: ExperimentJobStatus, _ message: String, level: String) async throws {
        _ = try await claimed.scope.experimentJobs.finish(id: claimed.jobID, runner: queue.runner, status: status, message: message, level: level)
    }

    enum Event: Sendable {
        /// The provider answered (or failed): its slot is free; the run is still to be recorded.
        case called(RunKey, CallResult)
        /// The run is recorded (or, for a provider failure, known not to be).
        case ran(RunKey, RunOutcome)
        case leaseLost
    }

    /// What a call produced: a run to record (with its spans and its evaluators'), or a failure that records nothing.
    enum CallResult: Sendable {
        case run(RunnerRun, [Span], failure: String?)
        case providerFailure(ProviderError)
    }

    enum RunOutcome: Sendable {
        case recorded
        /// Specific to this example (a template variable missing, a refused request): recorded as the run's error.
        case recordedError(String)
        /// Not recorded, so that resuming runs it again: the provider refused or kept failing.
        case providerFailure(ProviderError)
    }

    private func work(
        _ claimed: ClaimedJob, experiment: ExperimentRow, job: ExperimentJobRow, task: PromptTask, model: ResolvedModel,
        evaluators: [PreparedEvaluator], logger: Logger
    ) async throws -> Ending {
        let concurrency = max(1, job.maxConcurrency)
        var breaker = CircuitBreaker(threshold: configuration.breakerThreshold)
        let recorder = RunRecorder(scope: claimed.scope, experiment: experiment, spans: spans, logger: logger)
        return try await withThrowingTaskGroup(of: Event.self) { group in
            group.addTask { try await self.heartbeat(claimed) }
            defer { group.cancelAll() }
            // Runs started and not yet recorded; of them, the calls still waiting on the provider.
            var inFlight = Set<RunKey>()
            var calling = 0
            // Pending runs are read in chunks, each after the last one read, so a large dataset is not
            // scanned again for every run; once the end is reached, one read from the start confirms that
            // nothing is missing (a run whose recording failed is found again then).
            var queue: [PendingRun] = []
            var next = 0
            var readFrom: RunKey?
            var reachedEnd = false
            let chunk = max(256, concurrency * 4)
            while true {
                while !breaker.isOpen, calling < concurrency {
                    if next == queue.count, !reachedEnd {
                        queue = try await claimed.scope.experimentJobs.pendingRuns(of: experiment, after: readFrom, limit: chunk)
                        next = 0
                        reachedEnd = queue.count < chunk
                        readFrom = queue.last?.key ?? readFrom
                    }
                    guard next < queue.count else { break }
                    let item = queue[next]
                    next += 1
                    guard !inFlight.contains(item.key) else { continue }
                    await slots.acquire()
                    inFlight.insert(item.key)
                    calling += 1
                    group.addTask {
                        let result = await self.call(item, task: task, model: model, evaluators: evaluators)
                        await self.slots.release()
                        return .called(item.key, result)
                    }
                }
                if inFlight.isEmpty, !breaker.isOpen, reachedEnd, next == queue.count {
                    let left = try await claimed.scope.experimentJobs.pendingRuns(of: experiment, limit: 1)
                    if left.isEmpty {
                        await recorder.flush()
                        return .completed
                    }
                    readFrom = nil
                    reachedEnd = false
                    continue
                }
                if breaker.isOpen, inFlight.isEmpty {
                    await recorder.flush()
                    return .breakerOpen(breaker.openReason ?? "failures")
                }
                guard let event = try await group.next() else { return .cancelled }
                switch event {
                case .leaseLost:
                    return .lostLease
                case .called(let key, let result):
                    calling -= 1
                    group.addTask { .ran(key, await Self.record(result, recorder: recorder)) }
                case .ran(let key, let outcome):
                    inFlight.remove(key)
                    switch outcome {
                    case .recorded:
                        breaker.recordSuccess()
                        runsDone.increment()
                    case .recordedError(let message):
                        runsFailed.increment()
                        breaker.recordFailure(message)
                        try? await claimed.scope.experimentJobs.log(
                            experimentID: experiment.id, category: "TASK", level: "ERROR", message: message,
                            detail: ["dataset_example_id": .string(GlobalID(NodeType.datasetExample, key.exampleID).encoded), "repetition_number": .int(Int64(key.repetition))])
                    case .providerFailure(let error):
                        breaker.recordFailure(error.description, fatal: error.kind == .unauthorized || error.kind == .missingCredential)
                        try? await claimed.scope.experimentJobs.log(
                            experimentID: experiment.id, category: "TASK", level: "ERROR", message: error.description,
                            detail: ["dataset_example_id": .string(GlobalID(NodeType.datasetExample, key.exampleID).encoded), "repetition_number": .int(Int64(key.repetition))])
                    }
                }
            }
        }
    }

    /// Renews the lease a third of its length before it runs out; returns when it is gone.
    private func heartbeat(_ claimed: ClaimedJob) async throws -> Event {
        while true {
            try await Task.sleep(for: configuration.lease / 3)
            do {
                if try await !queue.renew(claimed, lease: configuration.lease) { return .leaseLost }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                // A database hiccup: keep trying until the lease would have run out anyway.
                logger.warning("cannot renew a job lease", metadata: ["cinder.error": "\(error)"])
            }
        }
    }


    /// Renders the prompt for one example and calls the provider (retried within the toolkit's limits).
    private func call(_ item: PendingRun, task: PromptTask, model: ResolvedModel, evaluators: [PreparedEvaluator]) async -> CallResult {
        let started = LLMSpan.now()
        let traceID = LLMSpan.newTraceID()
        func run(output: JSONValue, error: String?, traced: Bool, usage: TokenUsage?) -> RunnerRun {
            RunnerRun(
                run: ExperimentRunInput(
                    exampleID: item.exampleID, repetition: item.repetition, output: output, startMicros: started / 1000,
                    endMicros: LLMSpan.now() / 1000, traceID: traced ? traceID : nil, error: error),
                promptTokens: usage?.prompt, completionTokens: usage?.completion)
        }
        let request: ChatRequest
        do {
            request = try task.request(input: item.input, reference: item.reference, metadata: item.metadata)
        } catch {
            return .run(run(output: .null, error: error.description, traced: false, usage: nil), [], failure: error.description)
        }
        do {
            let completion = try await caller.complete(request, family: model.family, provider: model.provider)
            var message: [String: JSONValue] = ["role": "assistant", "content": .string(completion.text)]
            if !completion.toolCalls.isEmpty {
                message["tool_calls"] = .array(
                    completion.toolCalls.map {
                        ["id": .string($0.id), "type": "function", "function": ["name": .string($0.name), "arguments": .string($0.arguments)]]
                    })
            }
            var span = LLMSpan.make(
                traceID: traceID, family: model.family, request: request, completion: completion, error: nil, start: started, end: LLMSpan.now())
            model.prices?.price(&span)
            var recorded = run(output: ["messages": [.object(message)]], error: nil, traced: true, usage: completion.usage)
            var spans = [span]
            if !evaluators.isEmpty {
                // Evaluated before the run is recorded, so that a run and its scores are written together.
                let context = EvaluationContext.experimentRun(
                    input: item.input, output: EvaluationContext.runOutput(recorded.run.output), reference: item.reference, metadata: item.metadata)
                for outcome in await executor.evaluate(evaluators, context: context) {
                    recorded.evaluations.append(outcome.evaluation)
                    spans += outcome.spans
                }
            }
            return .run(recorded, spans, failure: nil)
        } catch let error as ProviderError where error.kind == .badRequest {
            // Refused for this example's input: the run records why.
            let span = LLMSpan.make(
                traceID: traceID, family: model.family, request: request, completion: nil, error: error.message, start: started, end: LLMSpan.now())
            return .run(run(output: .null, error: error.description, traced: true, usage: nil), [span], failure: error.description)
        } catch let error as ProviderError {
            return .providerFailure(error)
        } catch {
            return .providerFailure(ProviderError(.unavailable, "\(error)"))
        }
    }

    private static func record(_ result: CallResult, recorder: RunRecorder) async -> RunOutcome {
        switch result {
        case .run(let run, let spans, let failure):
            let written = await recorder.record(run, spans: spans)
            if let failure, written { return .recordedError(failure) }
            return .recorded
        case .providerFailure(let error):
            return .providerFailure(error)
        }
    }
}
