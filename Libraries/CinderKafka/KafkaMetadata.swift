import CRdKafka

/// Cluster metadata and topic creation, on any client handle.
enum KafkaMetadata {
    /// Partition counts of every topic in the cluster. Asking for all topics (rather than one by name)
    /// keeps brokers with `auto.create.topics.enable` from creating the topic with their defaults.
    static func topics(_ handle: OpaquePointer, timeout: Duration) throws(KafkaError) -> [String: Int] {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(handle, 1, nil, &metadata, timeout.milliseconds)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { throw KafkaError(err, context: "metadata request failed") }
        defer { rd_kafka_metadata_destroy(metadata) }
        var result: [String: Int] = [:]
        for index in 0..<Int(metadata.pointee.topic_cnt) {
            let topic = metadata.pointee.topics[index]
            guard topic.err == RD_KAFKA_RESP_ERR_NO_ERROR else { continue }
            result[String(cString: topic.topic)] = Int(topic.partition_cnt)
        }
        return result
    }

    static func ensureTopic(
        _ handle: OpaquePointer, name: String, partitions: Int, replicationFactor: Int, timeout: Duration
    ) throws(KafkaError) -> Int {
        if let existing = try topics(handle, timeout: timeout)[name] { return existing }
        try createTopic(handle, name: name, partitions: partitions, replicationFactor: replicationFactor, timeout: timeout)
        return partitions
    }

    private static func createTopic(
        _ handle: OpaquePointer, name: String, partitions: Int, replicationFactor: Int, timeout: Duration
    ) throws(KafkaError) {
        var errstr = [CChar](repeating: 0, count: 512)
        guard let newTopic = rd_kafka_NewTopic_new(name, Int32(partitions), Int32(replicationFactor), &errstr, errstr.count) else {
            throw KafkaError(message: "invalid topic \(name): \(errorText(errstr))")
        }
        defer { rd_kafka_NewTopic_destroy(newTopic) }
        let queue = rd_kafka_queue_new(handle)
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeout.milliseconds, &errstr, errstr.count)
        var newTopics: [OpaquePointer?] = [newTopic]
        rd_kafka_CreateTopics(handle, &newTopics, 1, options, queue)
        guard let event = rd_kafka_queue_poll(queue, timeout.milliseconds + 1000) else {
            throw KafkaError(message: "creating topic \(name) timed out")
        }
        defer { rd_kafka_event_destroy(event) }
        let eventError = rd_kafka_event_error(event)
        guard eventError == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(eventError, context: "creating topic \(name)") }
        var count = 0
        guard let result = rd_kafka_event_CreateTopics_result(event),
            let results = rd_kafka_CreateTopics_result_topics(result, &count), count > 0
        else { throw KafkaError(message: "creating topic \(name): no result") }
        let topicError = rd_kafka_topic_result_error(results[0])
        guard topicError == RD_KAFKA_RESP_ERR_NO_ERROR || topicError == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS else {
            throw KafkaError(topicError, context: "creating topic \(name)")
        }
    }
}

extension Duration {
    /// Milliseconds, as librdkafka's timeouts take them: rounded up, and never negative (-1 would mean
    /// "wait forever" to librdkafka).
    var milliseconds: Int32 {
        guard self > .zero else { return 0 }
        let (seconds, attoseconds) = components
        let partial = attoseconds % 1_000_000_000_000_000 == 0 ? 0 : 1
        return Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + Int64(partial))
    }
}
