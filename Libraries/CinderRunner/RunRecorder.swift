import CinderModel
import CinderStorage
import Logging

/// Writes a job's runs, and then the LLM spans of those it wrote, in batches: a run waits for the batch
/// it joined, and a batch is whatever arrived while the previous one was being written (group commit),
/// so a fast provider costs a transaction per batch, not two per run. Spans follow on their own queue,
/// so a run's slot is free as soon as the run itself is stored; `flush` waits for them.
///
/// A batch lingers a few milliseconds before it is written: a write takes about as long as the gap
/// between two fast answers, so without it each batch held one or two runs and PostgreSQL spent its time
/// on transactions rather than rows. Calls do not wait for it (a call's slot is freed when the provider
/// answers), so it costs a job only that much at its end.
actor RunRecorder {
    static let linger = Duration.milliseconds(15)
    static let maxBatch = 1000

    struct Entry {
        let run: RunnerRun
        let spans: [Span]
        let continuation: CheckedContinuation<Bool, Never>
    }

    let scope: TenantScope
    let experiment: ExperimentRow
    let spans: SpanIngestStore
    let logger: Logger
    private var pending: [Entry] = []
    private var writing = false
    private var spanQueue: [Span] = []
    private var writingSpans = false
    private var spansWritten: [CheckedContinuation<Void, Never>] = []

    init(scope: TenantScope, experiment: ExperimentRow, spans: SpanIngestStore, logger: Logger) {
        self.scope = scope
        self.experiment = experiment
        self.spans = spans
        self.logger = logger
    }

    /// Whether the run was written (false: one was there already, or the write failed and the run stays
    /// missing, to be run again).
    func record(_ run: RunnerRun, spans: [Span]) async -> Bool {
        await withCheckedContinuation { continuation in
            pending.append(Entry(run: run, spans: spans, continuation: continuation))
            if !writing {
                writing = true
                Task { await self.drain() }
            }
        }
    }

    private func drain() async {
        while !pending.isEmpty {
            if pending.count < Self.maxBatch { try? await Task.sleep(for: Self.linger) }
            let batch = pending
            pending = []
            let written = await write(batch)
            for entry in batch {
                entry.continuation.resume(returning: written.contains(RunKey(exampleID: entry.run.run.exampleID, repetition: entry.run.run.repetition)))
            }
        }
        writing = false
    }

    private func write(_ batch: [Entry]) async -> Set<RunKey> {
        let written: Set<RunKey>
        do {
            written = try await scope.experimentJobs.recordRuns(experimentID: experiment.id, batch.map(\.run))
        } catch {
            logger.error("cannot record runs", metadata: ["cinder.runs": "\(batch.count)", "cinder.error": "\(error)"])
            return []
        }
        // Spans only with the runs they belong to: a replica that lost the job and finished the same
        // calls records neither.
        let traced = batch.filter { written.contains(RunKey(exampleID: $0.run.run.exampleID, repetition: $0.run.run.repetition)) }.flatMap(\.spans)
        if !traced.isEmpty {
            spanQueue += traced
            if !writingSpans {
                writingSpans = true
                Task { await self.drainSpans() }
            }
        }
        return written
    }

    private func drainSpans() async {
        while !spanQueue.isEmpty {
            if spanQueue.count < Self.maxBatch { try? await Task.sleep(for: Self.linger) }
            let batch = spanQueue
            spanQueue = []
            guard let project = experiment.projectName else { continue }
            do {
                _ = try await spans.insert([ProjectSpans(organizationID: scope.organization, projectName: project, spans: batch)])
            } catch {
                logger.warning("cannot record the runs' spans", metadata: ["cinder.spans": "\(batch.count)", "cinder.error": "\(error)"])
            }
        }
        writingSpans = false
        for waiter in spansWritten { waiter.resume() }
        spansWritten = []
    }

    /// Returns once every span queued so far is written (before a job is reported finished).
    func flush() async {
        guard writingSpans || !spanQueue.isEmpty else { return }
        await withCheckedContinuation { spansWritten.append($0) }
    }
}
