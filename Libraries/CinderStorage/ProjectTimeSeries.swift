import CinderModel
import PostgresNIO

/// How a time series is cut into bins: calendar units (Phoenix's `TimeBinScale`) in a fixed offset
/// from UTC, over `[startMicros, endMicros)`. With both ends every bin of the range is answered, empty
/// ones included, so charts need no gap filling; with an open end only the bins that hold data.
public struct TimeBinning: Sendable, Hashable {
    public enum Scale: String, Sendable, CaseIterable {
        case minute, hour, day, week, month, year

        /// The shortest a bin of this scale can be, to bound the number of bins of a range.
        var shortestMicros: Int64 {
            let minute: Int64 = 60_000_000
            switch self {
            case .minute: return minute
            case .hour: return 60 * minute
            case .day: return 1_440 * minute
            case .week: return 7 * 1_440 * minute
            case .month: return 28 * 1_440 * minute
            case .year: return 365 * 1_440 * minute
            }
        }
    }

    /// More bins than a chart can show; beyond it the caller is asked for a coarser scale.
    public static let maxBins: Int64 = 10_000

    public let scale: Scale
    public let utcOffsetMinutes: Int
    public let startMicros: Int64?
    public let endMicros: Int64?

    public init(scale: Scale, utcOffsetMinutes: Int = 0, startMicros: Int64?, endMicros: Int64?) throws(CinderError) {
        guard (-14 * 60...14 * 60).contains(utcOffsetMinutes) else {
            throw .unprocessable("utcOffsetMinutes must be between -840 and 840, got \(utcOffsetMinutes)")
        }
        if let startMicros, let endMicros {
            guard startMicros < endMicros else { throw .unprocessable("The time range's start must be before its end") }
            let bins = (endMicros - startMicros) / scale.shortestMicros + 1
            guard bins <= Self.maxBins else {
                throw .unprocessable(
                    "This time range has more than \(Self.maxBins) \(scale.rawValue) bins; choose a larger scale or a shorter range")
            }
        }
        self.scale = scale
        self.utcOffsetMinutes = utcOffsetMinutes
        self.startMicros = startMicros
        self.endMicros = endMicros
    }

    /// The bin (as local wall-clock `timestamp`) of a timestamptz expression.
    func bin(_ column: String, _ q: inout SQLBuilder) -> String {
        "date_trunc(\(q.bind(scale.rawValue)), (\(column) AT TIME ZONE 'UTC') + \(q.bind(utcOffsetMinutes)) * interval '1 minute')"
    }

    /// `AND <column> in range` for the rows binned.
    func rangeCondition(_ column: String, _ q: inout SQLBuilder) -> String {
        var sql = ""
        if let startMicros { sql += " AND \(column) >= \(timestamp(q.bind(startMicros)))" }
        if let endMicros { sql += " AND \(column) < \(timestamp(q.bind(endMicros)))" }
        return sql
    }

    /// Wraps `data` (a statement whose first column `b` is a bin, the rest its values) into one answering
    /// every bin of a bounded range in order, as microseconds of the bin's start; `nulls` stands for
    /// the values of an empty bin.
    func series(_ data: String, _ q: inout SQLBuilder) -> String {
        let offset = "\(q.bind(utcOffsetMinutes)) * interval '1 minute'"
        let start = "\(micros("(d.b - \(offset)) AT TIME ZONE 'UTC'"))"
        guard let startMicros, let endMicros else {
            return "SELECT \(start), d.* FROM (\(data)) d ORDER BY d.b"
        }
        let unit = q.bind(scale.rawValue)
        let first = "date_trunc(\(unit), (\(timestamp(q.bind(startMicros))) AT TIME ZONE 'UTC') + \(offset))"
        let last = "(\(timestamp(q.bind(endMicros - 1))) AT TIME ZONE 'UTC') + \(offset)"
        return """
            SELECT \(micros("(g.b - \(offset)) AT TIME ZONE 'UTC'")), d.*
            FROM generate_series(\(first), \(last), ('1 ' || \(unit))::interval) AS g(b)
            LEFT JOIN (\(data)) d ON d.b = g.b ORDER BY g.b
            """
    }
}

/// Counts of spans by status in one bin.
public struct SpanStatusBin: Sendable, Hashable {
    public var startMicros: Int64
    public var ok: Int, error: Int, unset: Int
    public var total: Int { ok + error + unset }
}

/// Traces in one bin, by the status of their root span (a trace whose root never arrived counts in neither).
public struct TraceStatusBin: Sendable, Hashable {
    public var startMicros: Int64
    public var ok: Int, error: Int, total: Int
}

/// Trace latencies (milliseconds) in one bin; nil where the bin holds no trace.
public struct LatencyBin: Sendable, Hashable {
    public var startMicros: Int64
    public var p50: Double?, p75: Double?, p90: Double?, p95: Double?, p99: Double?, p999: Double?, max: Double?
}

/// Token counts or costs of the spans in one bin; nil where the bin holds none.
public struct UsageBin: Sendable, Hashable {
    public var startMicros: Int64
    public var prompt: Double?, completion: Double?, total: Double?
}

/// The mean score of each annotation name over the spans in one bin.
public struct AnnotationScoreBin: Sendable, Hashable {
    public var startMicros: Int64
    public var meanScores: [String: Double]
}

/// Time series of one project. Each reads one index range of one table, except costs, which read the
/// attributes of LLM spans (see `ProjectStatistic.aggregate`).
extension ProjectRepository {
    private func bins<Values: Sendable>(
        _ build: (inout SQLBuilder) throws(CinderError) -> String, decode: @escaping @Sendable (PostgresRandomAccessRow) throws -> Values
    ) async throws -> [(Int64, Values)] {
        var q = SQLBuilder()
        let sql = try build(&q)
        q.append(sql)
        return try await scope.read(q.query) { rows in
            var out: [(Int64, Values)] = []
            for try await row in rows {
                let cells = row.makeRandomAccess()
                out.append((try cells[0].decode(Int64.self), try decode(cells)))
            }
            return out
        }
    }

    public func spanStatusSeries(
        projectID: Int64, binning: TimeBinning, condition: SpanFilterCondition? = nil
    ) async throws -> [SpanStatusBin] {
        let org = org
        return try await bins({ (q: inout SQLBuilder) throws(CinderError) in
            var data = """
                SELECT \(binning.bin("s.start_time", &q)) AS b,
                count(*) FILTER (WHERE s.status_code = 'OK'), count(*) FILTER (WHERE s.status_code = 'ERROR'),
                count(*) FILTER (WHERE s.status_code = 'UNSET')
                FROM spans s
                """
            // The filter may read the trace id.
            if condition != nil { data += " JOIN traces t ON t.org_id = s.org_id AND t.id = s.trace_rowid" }
            data += " WHERE s.org_id = \(q.bind(org)) AND s.project_id = \(q.bind(projectID))"
            data += binning.rangeCondition("s.start_time", &q)
            if let condition {
                var conditionSQL = SQLBuilder(sql: "", binds: q.binds)
                try condition.appendSQL(&conditionSQL)
                q.binds = conditionSQL.binds
                data += " AND " + conditionSQL.sql
            }
            return binning.series(data + " GROUP BY 1", &q)
        }, decode: { cells in
            (try cells[2].decode(Int64?.self) ?? 0, try cells[3].decode(Int64?.self) ?? 0, try cells[4].decode(Int64?.self) ?? 0)
        }).map { SpanStatusBin(startMicros: $0.0, ok: Int($0.1.0), error: Int($0.1.1), unset: Int($0.1.2)) }
    }

    /// Traces per bin by their start time, counted by root span status; `total` counts every trace.
    public func traceStatusSeries(projectID: Int64, binning: TimeBinning) async throws -> [TraceStatusBin] {
        let org = org
        return try await bins({ (q: inout SQLBuilder) in
            let orgID = q.bind(org)
            let data = """
                SELECT \(binning.bin("t.start_time", &q)) AS b,
                count(*) FILTER (WHERE r.status_code = 'OK'), count(*) FILTER (WHERE r.status_code = 'ERROR'), count(*)
                FROM traces t
                LEFT JOIN LATERAL (
                    SELECT s.status_code FROM spans s
                    WHERE s.org_id = \(orgID) AND s.trace_rowid = t.id AND s.parent_id IS NULL LIMIT 1
                ) r ON true
                WHERE t.org_id = \(orgID) AND t.project_id = \(q.bind(projectID))\(binning.rangeCondition("t.start_time", &q))
                GROUP BY 1
                """
            return binning.series(data, &q)
        }, decode: { cells in
            (try cells[2].decode(Int64?.self) ?? 0, try cells[3].decode(Int64?.self) ?? 0, try cells[4].decode(Int64?.self) ?? 0)
        }).map { TraceStatusBin(startMicros: $0.0, ok: Int($0.1.0), error: Int($0.1.1), total: Int($0.1.2)) }
    }

    public func traceLatencySeries(projectID: Int64, binning: TimeBinning) async throws -> [LatencyBin] {
        let org = org
        return try await bins({ (q: inout SQLBuilder) in
            let latency = "extract(epoch FROM t.end_time - t.start_time) * 1000"
            let data = """
                SELECT \(binning.bin("t.start_time", &q)) AS b,
                (percentile_cont(ARRAY[0.5, 0.75, 0.9, 0.95, 0.99, 0.999]) WITHIN GROUP (ORDER BY \(latency)))::float8[],
                max(\(latency))::float8
                FROM traces t
                WHERE t.org_id = \(q.bind(org)) AND t.project_id = \(q.bind(projectID))\(binning.rangeCondition("t.start_time", &q))
                GROUP BY 1
                """
            return binning.series(data, &q)
        }, decode: { cells in
            (try cells[2].decode([Double]?.self), try cells[3].decode(Double?.self))
        }).map { start, values in
            let p = values.0 ?? []
            func at(_ i: Int) -> Double? { i < p.count ? p[i] : nil }
            return LatencyBin(startMicros: start, p50: at(0), p75: at(1), p90: at(2), p95: at(3), p99: at(4), p999: at(5), max: values.1)
        }
    }

    /// Token counts (or, with `costs`, the costs) of the spans starting in each bin.
    public func usageSeries(projectID: Int64, binning: TimeBinning, costs: Bool) async throws -> [UsageBin] {
        let org = org
        return try await bins({ (q: inout SQLBuilder) in
            let statistics: [ProjectStatistic] =
                costs ? [.promptCost, .completionCost, .totalCost] : [.promptTokens, .completionTokens, .totalTokens]
            let aggregates = statistics.map { $0.aggregate(&q) }.joined(separator: ", ")
            let data = """
                SELECT \(binning.bin("r.start_time", &q)) AS b, \(aggregates)
                FROM spans r
                WHERE r.org_id = \(q.bind(org)) AND r.project_id = \(q.bind(projectID))\(binning.rangeCondition("r.start_time", &q))
                GROUP BY 1
                """
            return binning.series(data, &q)
        }, decode: { cells in
            (try cells[2].decode(Double?.self), try cells[3].decode(Double?.self), try cells[4].decode(Double?.self))
        }).map { start, values in
            // A bin without spans has no usage; one with spans but no token counts has zero tokens (the
            // total is a sum of coalesced counts, so non-null exactly when the bin has spans), while a
            // cost nobody recorded stays unknown.
            let zero: Double? = !costs && values.2 != nil ? 0 : nil
            return UsageBin(startMicros: start, prompt: values.0 ?? zero, completion: values.1 ?? zero, total: values.2)
        }
    }

    /// The mean score of each annotation name over the spans starting in each bin (unscored annotations
    /// are left out). Bins without scores are absent from `meanScores`, not zero.
    public func spanAnnotationScoreSeries(projectID: Int64, binning: TimeBinning) async throws -> [AnnotationScoreBin] {
        let org = org
        let rows: [(Int64, (String?, Double?))] = try await bins({ (q: inout SQLBuilder) in
            let orgID = q.bind(org)
            let data = """
                SELECT \(binning.bin("s.start_time", &q)) AS b, a.name, avg(a.score)::float8
                FROM spans s JOIN span_annotations a ON a.org_id = \(orgID) AND a.span_rowid = s.id
                WHERE s.org_id = \(orgID) AND s.project_id = \(q.bind(projectID))\(binning.rangeCondition("s.start_time", &q))
                AND a.score IS NOT NULL
                GROUP BY 1, 2
                """
            return binning.series(data, &q)
        }, decode: { cells in (try cells[2].decode(String?.self), try cells[3].decode(Double?.self)) })
        var out: [AnnotationScoreBin] = []
        for (start, value) in rows {
            if out.last?.startMicros != start { out.append(AnnotationScoreBin(startMicros: start, meanScores: [:])) }
            if let name = value.0, let score = value.1 { out[out.count - 1].meanScores[name] = score }
        }
        return out
    }
}
