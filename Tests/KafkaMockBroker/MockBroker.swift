import ArgumentParser
import CinderKafka
import Foundation

/// Runs librdkafka's mock Kafka cluster as its own process, for tests and local experiments: prints the
/// bootstrap address on the first line of standard output, then serves until SIGTERM or SIGINT.
/// Lines on standard input control it: `down [broker]` takes a broker off the network as if it
/// crashed, `up [broker]` brings it back (broker ids start at 1).
@main
struct MockBroker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cinder-kafka-mock", abstract: "A mock Kafka cluster (librdkafka's) on loopback.")

    @Option(help: "Number of brokers.") var brokers = 1
    @Option(help: "Topics to create, as name:partitions (repeatable).") var topic: [String] = []

    func run() throws {
        let cluster = try KafkaMockCluster(brokers: brokers)
        for spec in topic {
            let parts = spec.split(separator: ":")
            guard let name = parts.first, let partitions = parts.count > 1 ? Int(parts[1]) : 1, partitions > 0 else {
                throw ValidationError("topic must be name or name:partitions, got '\(spec)'")
            }
            try cluster.createTopic(String(name), partitions: partitions)
        }
        // Written straight to the descriptor: a parent reading a pipe needs the line now, not at exit.
        FileHandle.standardOutput.write(Data((cluster.bootstrapServers + "\n").utf8))
        let stop = DispatchSemaphore(value: 0)
        var sources: [any DispatchSourceSignal] = []
        for signalNumber in [SIGTERM, SIGINT] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber)
            source.setEventHandler { stop.signal() }
            source.resume()
            sources.append(source)
        }
        let control = Thread {
            while let line = readLine() {
                let words = line.split(separator: " ")
                guard let command = words.first else { continue }
                let broker = words.count > 1 ? Int32(words[1]) ?? 1 : 1
                switch command {
                case "down": cluster.setBrokerDown(broker)
                case "up": cluster.setBrokerUp(broker)
                default: FileHandle.standardError.write(Data("unknown command '\(line)' (down [id] | up [id])\n".utf8))
                }
            }
        }
        control.start()
        stop.wait()
        withExtendedLifetime((cluster, sources)) {}
    }
}
