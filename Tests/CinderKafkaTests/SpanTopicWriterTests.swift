import CinderKafka
import CinderKafkaIngest
import CinderModel
import CinderQueueFormat
import CinderStorage
import CinderTestSupport
import Foundation
import Logging
import Metrics
import MetricsTestKit
import Testing

@Suite struct SpanTopicWriterTests {
    static let logger: Logger = {
        var logger = Logger(label: "writer-test")
        logger.logLevel = .critical
        return logger
    }()

    /// A mock cluster with the topics "spans" and "spans.dlq", and a producer to it.
    struct Broker {
        let cluster: KafkaMockCluster
        let kafka: KafkaConfiguration
        let producer: KafkaProducer
        /// For writers: a short session, because librdkafka's mock coordinator waits out a departed
        /// member's session before the group's next member joins.
        let writerKafka: KafkaConfiguration

        init(spanPartitions: Int) throws {
            cluster = try KafkaMockCluster(brokers: 1)
            try cluster.createTopic("spans", partitions: spanPartitions)
            try cluster.createTopic("spans.dlq", partitions: 1)
            kafka = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers)
            producer = try KafkaProducer(configuration: kafka, logger: SpanTopicWriterTests.logger)
            writerKafka = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers, properties: ["session.timeout.ms": "6000"])
        }
    }

    /// Runs a writer on topic "spans" until `database` holds `count` spans (or 30 s pass), then stops it.
    static func runWriter(
        kafka: KafkaConfiguration, deadLetters: KafkaProducer, database: TestDatabase, batchSpans: Int, until count: Int64,
        settle: Duration = .zero
    ) async throws {
        try await database.withClient { client async throws in
            let writer = SpanTopicWriter(
                kafka: kafka, deadLetters: deadLetters, store: SpanIngestStore(database: Database(primary: client), logger: Self.logger),
                configuration: .init(
                    topic: "spans", deadLetterTopic: "spans.dlq", groupID: "writers", batchSpans: batchSpans, batchInterval: .milliseconds(20)),
                logger: Self.logger, metrics: NOOPMetricsHandler.instance)
            let running = Task { try await writer.run() }
            let deadline = ContinuousClock.now + .seconds(30)
            while try await database.scalar("SELECT count(*) FROM spans") < count, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            try await Task.sleep(for: settle)
            running.cancel()
            try await running.value
        }
    }

    /// Spans published by the collector's queue (some twice) and a poison message: every span is stored
    /// once, the poison message lands in the dead-letter topic with its reason, and the group's offsets
    /// are committed, so a new member reads nothing again.
    @Test func writesEverySpanOnceDeadLettersPoisonAndCommits() async throws {
        let broker = try Broker(spanPartitions: 3)
        let (kafka, producer) = (broker.kafka, broker.producer)
        defer { broker.producer.close() }  // and the cluster lives until then
        let queue = KafkaSpanQueue(producer: producer, configuration: .init(topic: "spans"), logger: Self.logger, metrics: NOOPMetricsHandler.instance)

        let traces = (0..<30).map { _ in
            let trace = Spans.hex(16)
            return (0..<3).map { i in Spans.make(trace: trace, name: "span-\(i)") }
        }
        let organization = OrganizationID(1)
        try await queue.publish([ProjectSpans(organizationID: organization, projectName: "writer-test", spans: traces.flatMap { $0 })])
        _ = try await producer.send(topic: "spans", key: Array("bad".utf8), value: [0xff, 0x00, 0x13])
        // An exporter retrying a request whose answer it lost: the same spans again.
        try await queue.publish([ProjectSpans(organizationID: organization, projectName: "writer-test", spans: traces.prefix(5).flatMap { $0 })])

        let database = try await TestDatabase.create()
        // The last batch's offsets are committed before stopping (stopping also commits).
        try await Self.runWriter(kafka: broker.writerKafka, deadLetters: producer, database: database, batchSpans: 20, until: 90, settle: .milliseconds(300))
        #expect(try await database.scalar("SELECT count(*) FROM spans") == 90)
        #expect(try await database.scalar("SELECT count(DISTINCT span_id) FROM spans") == 90)
        #expect(try await database.scalar("SELECT count(*) FROM traces") == 30)

        let deadLetters = try KafkaConsumer(configuration: kafka, groupID: "dlq-reader", topics: ["spans.dlq"], logger: Self.logger)
        var dead: [KafkaMessage] = []
        let until = ContinuousClock.now + .seconds(10)
        while dead.isEmpty, ContinuousClock.now < until {
            if let message = deadLetters.poll(timeout: .milliseconds(200)) { dead.append(message) }
        }
        deadLetters.close()
        #expect(dead.map(\.value) == [[0xff, 0x00, 0x13]])
        #expect(dead.map(\.key) == [Array("bad".utf8)])

        let again = try KafkaConsumer(configuration: kafka, groupID: "writers", topics: ["spans"], logger: Self.logger)
        var redelivered = 0
        let joined = ContinuousClock.now + .seconds(30)
        while again.assignment().isEmpty, ContinuousClock.now < joined {
            if again.poll(timeout: .milliseconds(200)) != nil { redelivered += 1 }
        }
        #expect(!again.assignment().isEmpty)
        let quiet = ContinuousClock.now + .seconds(2)
        while ContinuousClock.now < quiet {
            if again.poll(timeout: .milliseconds(200)) != nil { redelivered += 1 }
        }
        again.close()
        #expect(redelivered == 0)
    }

    /// A poison message that the dead-letter topic cannot take either (larger than the producer allows
    /// with its headers) is skipped and counted, not retried forever: later spans are still stored.
    @Test func poisonThatCannotBeDeadLetteredDoesNotBlockThePartition() async throws {
        let broker = try Broker(spanPartitions: 1)
        let (kafka, producer) = (broker.kafka, broker.producer)
        defer { broker.producer.close() }  // and the cluster lives until then
        let strict = try KafkaProducer(
            configuration: KafkaConfiguration(bootstrapServers: broker.cluster.bootstrapServers, properties: ["message.max.bytes": "1500"]),
            logger: Self.logger)
        defer { strict.close() }
        _ = try await producer.send(topic: "spans", key: [], value: [UInt8](repeating: 0xff, count: 1_480))
        let spans = (0..<4).map { i in Spans.make(name: "after-\(i)") }
        _ = try await producer.send(
            topic: "spans", key: [], value: SpanBatchCodec.encode(ProjectSpans(organizationID: OrganizationID(1), projectName: "p", spans: spans)))

        let database = try await TestDatabase.create()
        try await Self.runWriter(kafka: kafka, deadLetters: strict, database: database, batchSpans: 5_000, until: 4)
        #expect(try await database.scalar("SELECT count(*) FROM spans") == 4)
    }

    /// Mid-rollout, a collector of the next release writes a format version this writer does not read:
    /// the message is held (not dead-lettered, nothing after it committed) so the next writer of the group
    /// reads it again, instead of losing it as poison.
    @Test func holdsMessagesOfANewerFormatForANewerWriter() async throws {
        let broker = try Broker(spanPartitions: 1)
        let (kafka, producer) = (broker.kafka, broker.producer)
        defer { broker.producer.close() }  // and the cluster lives until then
        func batch(_ name: String) -> ProjectSpans {
            ProjectSpans(organizationID: OrganizationID(1), projectName: "p", spans: (0..<3).map { i in Spans.make(name: "\(name)-\(i)") })
        }
        var newer = SpanBatchCodec.encode(batch("newer"))
        newer[1] = UInt8(SpanBatchCodec.formatVersion + 1)
        let newerOffset = try await producer.send(topic: "spans", key: [], value: newer).offset
        _ = try await producer.send(topic: "spans", key: [], value: SpanBatchCodec.encode(batch("after")))

        let database = try await TestDatabase.create()
        let metrics = TestMetrics()
        try await database.withClient { client async throws in
            let writer = SpanTopicWriter(
                kafka: broker.writerKafka, deadLetters: producer, store: SpanIngestStore(database: Database(primary: client), logger: Self.logger),
                configuration: .init(
                    topic: "spans", deadLetterTopic: "spans.dlq", groupID: "writers", batchInterval: .milliseconds(20),
                    maxRetryDelay: .milliseconds(200), shutdownTimeout: .milliseconds(500)),
                logger: Self.logger, metrics: metrics)
            let running = Task { try await writer.run() }
            // Stopped once it has held the batch a few times (it joined the group and read the message);
            // stopping it earlier, mid-join, would leave the group waiting for it.
            let deadline = ContinuousClock.now + .seconds(30)
            while metrics.counters(label: "cinder_writer_write_retries_total").reduce(0, { $0 + $1.totalValue }) < 3,
                ContinuousClock.now < deadline
            {
                try await Task.sleep(for: .milliseconds(100))
            }
            running.cancel()
            try await running.value
        }
        // Nothing after the held message is written either: its offsets could not be committed past it.
        #expect(try await database.scalar("SELECT count(*) FROM spans") == 0)

        let deadLetters = try KafkaConsumer(configuration: kafka, groupID: "dlq-reader", topics: ["spans.dlq"], logger: Self.logger)
        var dead = 0
        let quiet = ContinuousClock.now + .seconds(2)
        while ContinuousClock.now < quiet {
            if deadLetters.poll(timeout: .milliseconds(200)) != nil { dead += 1 }
        }
        deadLetters.close()
        #expect(dead == 0)

        let next = try KafkaConsumer(configuration: kafka, groupID: "writers", topics: ["spans"], logger: Self.logger)
        var offsets: [Int64] = []
        let until = ContinuousClock.now + .seconds(30)
        while offsets.count < 2, ContinuousClock.now < until {
            if let message = next.poll(timeout: .milliseconds(200)) { offsets.append(message.offset) }
        }
        next.close()
        #expect(offsets == [newerOffset, newerOffset + 1])
    }

    /// The writer stores the topic's rows without parsing attributes; what it stores must be exactly what
    /// the all-in-one stores from the same spans (derived token counts, session, events included).
    @Test func rowsFromTheTopicEqualRowsWrittenInProcess() async throws {
        let trace = Spans.hex(16)
        var llm = Spans.make(
            trace: trace, name: "chat \u{0}model", kind: .llm,
            attributes: [
                "llm": ["token_count": ["prompt": 12, "completion": 7], "cost": ["prompt": 0.25, "completion": 0.5, "total": 0.75]],
                "session": ["id": " s-1 "], "input": ["value": "é \"q\""],
            ])
        llm.events = [
            SpanEvent(name: "exception", time: 1_700_000_000_000_000_123, attributes: ["exception.message": "boom", "n": 3]),
            SpanEvent(name: "checkpoint", time: 1_700_000_000_000_001_000, attributes: [:]),
        ]
        let root = Spans.make(
            trace: trace, span: Spans.hex(8), name: "root", kind: .chain, attributes: ["session": ["id": 42], "llm": ["cost": ["total": 9]]])
        let batch = ProjectSpans(organizationID: OrganizationID(1), projectName: "rows", spans: [llm, root])

        let direct = try await TestDatabase.create()
        let viaTopic = try await TestDatabase.create()
        try await direct.withClient { client async throws in
            _ = try await SpanIngestStore(database: Database(primary: client), logger: Self.logger).insert([EncodedSpans(batch)])
        }
        try await viaTopic.withClient { client async throws in
            let rows = try SpanBatchCodec.decodeRows(SpanBatchCodec.encode(batch))
            _ = try await SpanIngestStore(database: Database(primary: client), logger: Self.logger).insert([rows])
        }
        let dump = """
            SELECT string_agg(concat_ws('|', s.span_id, s.parent_id, s.name, s.span_kind, s.start_time, s.end_time, s.attributes::jsonb,
                s.events::jsonb, s.status_code, s.status_message, s.llm_token_count_prompt, s.llm_token_count_completion,
                s.llm_cost_prompt, s.llm_cost_completion, s.llm_cost_total, ps.session_id),
                E'\n' ORDER BY s.span_id)
            FROM spans s JOIN traces t ON t.id = s.trace_rowid LEFT JOIN project_sessions ps ON ps.id = t.project_session_id
            """
        let expected = try await direct.text(dump)
        #expect(expected.contains("|12|7|0.25|0.5|0.75|"))
        #expect(!expected.contains("|9|"))
        #expect(expected.contains("s-1"))
        #expect(try await viaTopic.text(dump) == expected)
    }

    /// The writer pauses consumption while it retries a failing write; resuming must continue exactly
    /// where the application left off, with nothing skipped and nothing repeated.
    @Test func pausedConsumerResumesWithoutGapsOrRepeats() async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        try cluster.createTopic("events", partitions: 1)
        let kafka = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers)
        let producer = try KafkaProducer(configuration: kafka, logger: Self.logger)
        for i in 0..<200 { _ = try await producer.send(topic: "events", key: [], value: Array("\(i)".utf8)) }
        producer.close()

        let consumer = try KafkaConsumer(configuration: kafka, groupID: "pausing", topics: ["events"], logger: Self.logger)
        defer { consumer.close() }
        var offsets: [Int64] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while offsets.count < 50, ContinuousClock.now < deadline {
            if let message = consumer.poll(timeout: .milliseconds(100)) { offsets.append(message.offset) }
        }
        consumer.pauseAll()
        var whilePaused = 0
        let pausedUntil = ContinuousClock.now + .seconds(1)
        while ContinuousClock.now < pausedUntil {
            if consumer.poll(timeout: .milliseconds(100)) != nil { whilePaused += 1 }
        }
        consumer.resumeAll()
        while offsets.count < 200, ContinuousClock.now < deadline + .seconds(10) {
            if let message = consumer.poll(timeout: .milliseconds(100)) { offsets.append(message.offset) }
        }
        #expect(whilePaused == 0)
        #expect(offsets == Array(0..<200))
    }
}
