import CinderKafka
import CinderKafkaIngest
import CinderModel
import CinderQueueFormat
import Logging
import Metrics
import Testing

@Suite(.serialized) struct KafkaSpanQueueTests {
    static var logger: Logger {
        var logger = Logger(label: "kafka-queue-test")
        logger.logLevel = .critical
        return logger
    }

    static func span(_ trace: String, _ id: String) -> Span {
        Span(
            traceID: trace, spanID: id, parentID: nil, name: "op-\(id)", kind: .llm, startTime: 1_000, endTime: 2_000,
            statusCode: .ok, statusMessage: "", attributes: ["llm": ["model_name": "m"]], events: [])
    }

    @Test func publishesOneAcknowledgedBatchPerTraceKeyedByTraceID() async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        try cluster.createTopic("cinder.spans.v1", partitions: 4)
        let configuration = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers)
        let producer = try KafkaProducer(configuration: configuration, logger: Self.logger)
        let queue = KafkaSpanQueue(producer: producer, configuration: .init(), logger: Self.logger, metrics: NOOPMetricsHandler.instance)
        let traces = ["aa", "bb", "cc"].map { String(repeating: $0, count: 16) }
        let spans = traces.flatMap { t in (0..<3).map { Self.span(t, "\(t.prefix(2))\($0)") } }
        try await queue.publish([ProjectSpans(organizationID: .default, projectName: "p", spans: spans)])
        producer.close()

        let consumer = try KafkaConsumer(configuration: configuration, groupID: "w", topics: ["cinder.spans.v1"], logger: Self.logger)
        var received: [String: ProjectSpans] = [:]
        let deadline = ContinuousClock.now + .seconds(30)
        while received.count < 3, ContinuousClock.now < deadline {
            if let message = consumer.poll(timeout: .milliseconds(200)) {
                received[String(decoding: message.key, as: UTF8.self)] = try SpanBatchCodec.decode(message.value)
            }
        }
        consumer.close()
        #expect(Set(received.keys) == Set(traces))
        for (trace, batch) in received {
            #expect(batch.projectName == "p")
            #expect(batch.spans.count == 3)
            #expect(batch.spans.allSatisfy { $0.traceID == trace })
        }
        #expect(received.values.flatMap(\.spans).sorted { $0.spanID < $1.spanID } == spans.sorted { $0.spanID < $1.spanID })
    }

    @Test func unreachableBrokerIsBackPressureWithinTheDeliveryTimeout() async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        try cluster.createTopic("cinder.spans.v1", partitions: 1)
        let configuration = KafkaConfiguration(
            bootstrapServers: cluster.bootstrapServers, properties: ["message.timeout.ms": "2000"])
        let producer = try KafkaProducer(configuration: configuration, logger: Self.logger)
        let queue = KafkaSpanQueue(producer: producer, configuration: .init(), logger: Self.logger, metrics: NOOPMetricsHandler.instance)
        cluster.setBrokerDown()
        let started = ContinuousClock.now
        let error = await #expect(throws: CinderError.self) {
            try await queue.publish([ProjectSpans(organizationID: .default, projectName: "p", spans: [Self.span(String(repeating: "d", count: 32), "d1")])])
        }
        #expect(error?.code == .overloaded)
        #expect(ContinuousClock.now - started < .seconds(20))  // bounded, on a loaded machine too
        cluster.setBrokerUp()
        // Reconnecting can outlast one acknowledgement timeout on a loaded machine: retry as an exporter
        // would, and require success well within the deadline.
        let batch = [ProjectSpans(organizationID: .default, projectName: "p", spans: [Self.span(String(repeating: "e", count: 32), "e1")])]
        let recovery = ContinuousClock.now + .seconds(30)
        var recovered = false
        while !recovered, ContinuousClock.now < recovery {
            recovered = (try? await queue.publish(batch)) != nil
            if !recovered { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(recovered)
        producer.close()
    }

    @Test func theAckTimeoutBoundsARefusalWhateverLibrdkafkaWaitsFor() async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        try cluster.createTopic("cinder.spans.v1", partitions: 1)
        // librdkafka alone would keep the request waiting 60 s.
        let configuration = KafkaConfiguration(
            bootstrapServers: cluster.bootstrapServers, properties: ["message.timeout.ms": "60000"])
        let producer = try KafkaProducer(configuration: configuration, logger: Self.logger)
        let queue = KafkaSpanQueue(
            producer: producer, configuration: .init(ackTimeout: .milliseconds(500)), logger: Self.logger,
            metrics: NOOPMetricsHandler.instance)
        cluster.setBrokerDown()
        let started = ContinuousClock.now
        let error = await #expect(throws: CinderError.self) {
            try await queue.publish([ProjectSpans(organizationID: .default, projectName: "p", spans: [Self.span(String(repeating: "f", count: 32), "f1")])])
        }
        #expect(error?.code == .overloaded)
        let waited = ContinuousClock.now - started
        // The upper bound only has to tell our deadline from librdkafka's 60 s: other suites running
        // at the same time block the cooperative threads in librdkafka calls, so the wake-up after
        // 500 ms can come seconds late on a small machine.
        #expect(waited >= .milliseconds(500) && waited < .seconds(20))
        cluster.setBrokerUp()
        producer.close(timeout: .seconds(30))
    }
}
