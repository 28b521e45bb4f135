import CinderModel
import CinderStorage
import Logging

/// Writes a job's runs, and then the LLM spans of those it wrote, in batches: a run waits for the batch
/// it joined, and a batch is whatever arrived while the previous one was being written (group commit),
/// so a fast provider costs a transaction per batch, not two per run.
actor RunRecorder {
    struct Entry {
        let run: RunnerRun
        let span: Span?
        let continuation: CheckedContinuation<Bool, Never>
    }

    let scope: TenantScope
    let experiment: ExperimentRow
    let spans: SpanIngestStore
    let logger: Logger
    private var pending: [Entry] = []
    private var writing = false

    init(scope: TenantScope, experiment: ExperimentRow, spans: SpanIngestStore, logger: Logger) {
        self.scope = scope
        self.experiment = experiment
        self.spans = spans
        self.logger = logger
    }

    /// Whether the run was written (false: one was there already, or the write failed and the run stays
    /// missing, to be run again).
    func record(_ run: RunnerRun, span: Span?) async -> Bool {
        await withCheckedContinuation { continuation in
            pending.append(Entry(run: run, span: span, continuation: continuation))
            if !writing {
                writing = true
                Task { await self.drain() }
            }
        }
    }

    private func drain() async {
        while !pending.isEmpty {
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
        let traced = batch.filter { written.contains(RunKey(exampleID: $0.run.run.exampleID, repetition: $0.run.run.repetition)) }.compactMap(\.span)
        if let project = experiment.projectName, !traced.isEmpty {
            do {
                _ = try await spans.insert([ProjectSpans(organizationID: scope.organization, projectName: project, spans: traced)])
            } catch {
                logger.warning("cannot record the runs' spans", metadata: ["cinder.error": "\(error)"])
            }
        }
        return written
    }
}
