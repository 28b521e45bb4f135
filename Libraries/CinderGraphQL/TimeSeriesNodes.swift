import CinderModel
import CinderStorage
import Graphiti

// A project's time series, with Phoenix's field and type names (the metrics screens read them).

enum TimeBinScaleValue: String, Codable, CaseIterable, Sendable {
    case MINUTE, HOUR, DAY, WEEK, MONTH, YEAR

    var scale: TimeBinning.Scale {
        switch self {
        case .MINUTE: .minute
        case .HOUR: .hour
        case .DAY: .day
        case .WEEK: .week
        case .MONTH: .month
        case .YEAR: .year
        }
    }
}

struct TimeBinConfig: Codable, Sendable {
    var scale: TimeBinScaleValue = .HOUR
    var utcOffsetMinutes: Int = 0
}

struct SpanCountPoint: Sendable {
    var timestamp: DateTime
    var okCount: Int?
    var errorCount: Int?
    var unsetCount: Int?
    var totalCount: Int?
}

struct SpanCountTimeSeriesValue: Sendable { var data: [SpanCountPoint] }

protocol TimeSeriesFields: Sendable {
    var data: [TimeSeriesPoint] { get }
}

struct TimeSeriesPoint: Sendable {
    var timestamp: DateTime
    var value: Double?
}

struct TraceCountTimeSeriesValue: TimeSeriesFields { var data: [TimeSeriesPoint] }

struct TraceCountByStatusPoint: Sendable {
    var timestamp: DateTime
    var okCount: Int
    var errorCount: Int
    var totalCount: Int
}

struct TraceCountByStatusTimeSeriesValue: Sendable { var data: [TraceCountByStatusPoint] }

struct LatencyPercentilePoint: Sendable {
    var timestamp: DateTime
    var p50: Double?
    var p75: Double?
    var p90: Double?
    var p95: Double?
    var p99: Double?
    var p999: Double?
    var max: Double?
}

struct LatencyPercentileTimeSeriesValue: Sendable { var data: [LatencyPercentilePoint] }

struct TokenCountDetailEntry: Sendable {
    var tokenType: String
    var tokenCount: Double?
}

struct TokenCountPoint: Sendable {
    var timestamp: DateTime
    var promptTokenCount: Double?
    var completionTokenCount: Double?
    var totalTokenCount: Double?
    /// Cinder stores prompt and completion totals only (no cache/reasoning breakdown yet): empty.
    var promptTokenCountDetails: [TokenCountDetailEntry] = []
    var completionTokenCountDetails: [TokenCountDetailEntry] = []
}

struct TokenCountTimeSeriesValue: Sendable { var data: [TokenCountPoint] }

struct TokenCostPoint: Sendable {
    var timestamp: DateTime
    var promptCost: Double?
    var completionCost: Double?
    var totalCost: Double?
}

struct TokenCostTimeSeriesValue: Sendable { var data: [TokenCostPoint] }

struct AnnotationScoreWithLabelValue: Sendable {
    var label: String
    var score: Double
}

struct AnnotationScorePoint: Sendable {
    var timestamp: DateTime
    var scoresWithLabels: [AnnotationScoreWithLabelValue]
}

struct AnnotationScoreTimeSeriesValue: Sendable {
    var data: [AnnotationScorePoint]
    var names: [String]
}

extension ProjectNode {
    struct TimeSeriesArguments: Codable, Sendable {
        var timeRange: TimeRange
        var timeBinConfig: TimeBinConfig?
    }

    struct FilteredTimeSeriesArguments: Codable, Sendable {
        var timeRange: TimeRange
        var timeBinConfig: TimeBinConfig?
        var filterCondition: String?
    }

    private static func binning(_ range: TimeRange, _ config: TimeBinConfig?) throws(GraphQLFailure) -> TimeBinning {
        let config = config ?? TimeBinConfig()
        do {
            return try TimeBinning(
                scale: config.scale.scale, utcOffsetMinutes: config.utcOffsetMinutes,
                startMicros: range.start?.micros, endMicros: range.end?.micros)
        } catch {
            throw GraphQLFailure(error.message)
        }
    }

    func spanCountTimeSeries(context: GraphQLContext, arguments: FilteredTimeSeriesArguments) async throws -> SpanCountTimeSeriesValue {
        let binning = try Self.binning(arguments.timeRange, arguments.timeBinConfig)
        let condition = try Self.condition(arguments.filterCondition)
        let bins = try await context.scope.projects.spanStatusSeries(projectID: row.id, binning: binning, condition: condition)
        return SpanCountTimeSeriesValue(data: bins.map {
            SpanCountPoint(timestamp: DateTime(micros: $0.startMicros), okCount: $0.ok, errorCount: $0.error, unsetCount: $0.unset, totalCount: $0.total)
        })
    }

    func traceCountTimeSeries(context: GraphQLContext, arguments: TimeSeriesArguments) async throws -> TraceCountTimeSeriesValue {
        let bins = try await context.scope.projects.traceStatusSeries(
            projectID: row.id, binning: try Self.binning(arguments.timeRange, arguments.timeBinConfig))
        return TraceCountTimeSeriesValue(data: bins.map { TimeSeriesPoint(timestamp: DateTime(micros: $0.startMicros), value: Double($0.total)) })
    }

    func traceCountByStatusTimeSeries(context: GraphQLContext, arguments: TimeSeriesArguments) async throws -> TraceCountByStatusTimeSeriesValue {
        let bins = try await context.scope.projects.traceStatusSeries(
            projectID: row.id, binning: try Self.binning(arguments.timeRange, arguments.timeBinConfig))
        return TraceCountByStatusTimeSeriesValue(data: bins.map {
            TraceCountByStatusPoint(timestamp: DateTime(micros: $0.startMicros), okCount: $0.ok, errorCount: $0.error, totalCount: $0.total)
        })
    }

    func traceLatencyMsPercentileTimeSeries(context: GraphQLContext, arguments: TimeSeriesArguments) async throws -> LatencyPercentileTimeSeriesValue {
        let bins = try await context.scope.projects.traceLatencySeries(
            projectID: row.id, binning: try Self.binning(arguments.timeRange, arguments.timeBinConfig))
        return LatencyPercentileTimeSeriesValue(data: bins.map {
            LatencyPercentilePoint(
                timestamp: DateTime(micros: $0.startMicros), p50: $0.p50, p75: $0.p75, p90: $0.p90, p95: $0.p95, p99: $0.p99,
                p999: $0.p999, max: $0.max)
        })
    }

    func traceTokenCountTimeSeries(context: GraphQLContext, arguments: TimeSeriesArguments) async throws -> TokenCountTimeSeriesValue {
        let bins = try await context.scope.projects.usageSeries(
            projectID: row.id, binning: try Self.binning(arguments.timeRange, arguments.timeBinConfig), costs: false)
        return TokenCountTimeSeriesValue(data: bins.map {
            TokenCountPoint(
                timestamp: DateTime(micros: $0.startMicros), promptTokenCount: $0.prompt, completionTokenCount: $0.completion,
                totalTokenCount: $0.total)
        })
    }

    func traceTokenCostTimeSeries(context: GraphQLContext, arguments: TimeSeriesArguments) async throws -> TokenCostTimeSeriesValue {
        let bins = try await context.scope.projects.usageSeries(
            projectID: row.id, binning: try Self.binning(arguments.timeRange, arguments.timeBinConfig), costs: true)
        return TokenCostTimeSeriesValue(data: bins.map {
            TokenCostPoint(timestamp: DateTime(micros: $0.startMicros), promptCost: $0.prompt, completionCost: $0.completion, totalCost: $0.total)
        })
    }

    func spanAnnotationScoreTimeSeries(context: GraphQLContext, arguments: TimeSeriesArguments) async throws -> AnnotationScoreTimeSeriesValue {
        let bins = try await context.scope.projects.spanAnnotationScoreSeries(
            projectID: row.id, binning: try Self.binning(arguments.timeRange, arguments.timeBinConfig))
        let names = Set(bins.flatMap(\.meanScores.keys)).sorted()
        return AnnotationScoreTimeSeriesValue(
            data: bins.map { bin in
                AnnotationScorePoint(
                    timestamp: DateTime(micros: bin.startMicros),
                    scoresWithLabels: bin.meanScores.sorted { $0.key < $1.key }.map { AnnotationScoreWithLabelValue(label: $0.key, score: $0.value) })
            },
            names: names)
    }
}

extension CinderSchema {
    static func addTimeSeries(_ builder: Builder) {
        builder.add {
            Enum(TimeBinScaleValue.self, as: "TimeBinScale") {
                Value(.MINUTE)
                Value(.HOUR)
                Value(.DAY)
                Value(.WEEK)
                Value(.MONTH)
                Value(.YEAR)
            }
            Input(TimeBinConfig.self, as: "TimeBinConfig") {
                InputField("scale", at: \.scale).defaultValue(.HOUR)
                InputField("utcOffsetMinutes", at: \.utcOffsetMinutes).defaultValue(0)
            }
            Interface((any TimeSeriesFields).self, as: "TimeSeries") {
                Field("data", at: \.data)
            }
            Type(TimeSeriesPoint.self, as: "TimeSeriesDataPoint") {
                Field("timestamp", at: \.timestamp)
                Field("value", at: \.value)
            }
            Type(TraceCountTimeSeriesValue.self, as: "TraceCountTimeSeries", interfaces: [(any TimeSeriesFields).self]) {
                Field("data", at: \.data)
            }
            Type(SpanCountPoint.self, as: "SpanCountTimeSeriesDataPoint") {
                Field("timestamp", at: \.timestamp)
                Field("okCount", at: \.okCount)
                Field("errorCount", at: \.errorCount)
                Field("unsetCount", at: \.unsetCount)
                Field("totalCount", at: \.totalCount)
            }
            Type(SpanCountTimeSeriesValue.self, as: "SpanCountTimeSeries") {
                Field("data", at: \.data)
            }
            Type(TraceCountByStatusPoint.self, as: "TraceCountByStatusTimeSeriesDataPoint") {
                Field("timestamp", at: \.timestamp)
                Field("okCount", at: \.okCount)
                Field("errorCount", at: \.errorCount)
                Field("totalCount", at: \.totalCount)
            }
            Type(TraceCountByStatusTimeSeriesValue.self, as: "TraceCountByStatusTimeSeries") {
                Field("data", at: \.data)
            }
            Type(LatencyPercentilePoint.self, as: "TraceLatencyMsPercentileTimeSeriesDataPoint") {
                Field("timestamp", at: \.timestamp)
                Field("p50", at: \.p50)
                Field("p75", at: \.p75)
                Field("p90", at: \.p90)
                Field("p95", at: \.p95)
                Field("p99", at: \.p99)
                Field("p999", at: \.p999)
                Field("max", at: \.max)
            }
            Type(LatencyPercentileTimeSeriesValue.self, as: "TraceLatencyPercentileTimeSeries") {
                Field("data", at: \.data)
            }
            Type(TokenCountDetailEntry.self, as: "TraceTokenCountDetailsTimeSeriesEntry") {
                Field("tokenType", at: \.tokenType)
                Field("tokenCount", at: \.tokenCount)
            }
            Type(TokenCountPoint.self, as: "TraceTokenCountTimeSeriesDataPoint") {
                Field("timestamp", at: \.timestamp)
                Field("promptTokenCount", at: \.promptTokenCount)
                Field("completionTokenCount", at: \.completionTokenCount)
                Field("totalTokenCount", at: \.totalTokenCount)
                Field("promptTokenCountDetails", at: \.promptTokenCountDetails)
                Field("completionTokenCountDetails", at: \.completionTokenCountDetails)
            }
            Type(TokenCountTimeSeriesValue.self, as: "TraceTokenCountTimeSeries") {
                Field("data", at: \.data)
            }
            Type(TokenCostPoint.self, as: "TraceTokenCostTimeSeriesDataPoint") {
                Field("timestamp", at: \.timestamp)
                Field("promptCost", at: \.promptCost)
                Field("completionCost", at: \.completionCost)
                Field("totalCost", at: \.totalCost)
            }
            Type(TokenCostTimeSeriesValue.self, as: "TraceTokenCostTimeSeries") {
                Field("data", at: \.data)
            }
            Type(AnnotationScoreWithLabelValue.self, as: "AnnotationScoreWithLabel") {
                Field("label", at: \.label)
                Field("score", at: \.score)
            }
            Type(AnnotationScorePoint.self, as: "AnnotationScoreTimeSeriesDataPoint") {
                Field("timestamp", at: \.timestamp)
                Field("scoresWithLabels", at: \.scoresWithLabels)
            }
            Type(AnnotationScoreTimeSeriesValue.self, as: "AnnotationScoreTimeSeries") {
                Field("data", at: \.data)
                Field("names", at: \.names)
            }
        }
    }
}
