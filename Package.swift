// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "cinder",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cinder", targets: ["Cinder"]),
        .executable(name: "cinder-api", targets: ["CinderAPIService"]),
        .executable(name: "cinder-collector", targets: ["CinderCollectorService"]),
        .executable(name: "cinder-writer", targets: ["CinderWriterService"]),
        .executable(name: "cinder-runner", targets: ["CinderRunnerService"]),
        .executable(name: "cinder-kafka-mock", targets: ["KafkaMockBroker"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/GraphQLSwift/Graphiti.git", from: "3.1.0"),
        .package(url: "https://github.com/GraphQLSwift/GraphQL.git", from: "4.3.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // MARK: Libraries (all logic lives here; services only compose them)

        // Domain values: ids, span kinds, attributes, global ids. No I/O.
        .target(
            name: "CinderModel",
            path: "Libraries/CinderModel",
            swiftSettings: swiftSettings
        ),
        // Swift generated from the OTLP .proto files by scripts/generate-protos.sh.
        .target(
            name: "CinderOTLPProto",
            dependencies: [
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
            ],
            path: "Libraries/CinderOTLPProto"
        ),
        // OTLP request bodies (protobuf, JSON, gzip/deflate) to domain spans.
        .target(
            name: "CinderOTLP",
            dependencies: [
                "CinderModel",
                "CinderOTLPProto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Libraries/CinderOTLP",
            swiftSettings: swiftSettings
        ),
        // PostgreSQL: migrations, bulk span ingestion, tenant-scoped read queries.
        .target(
            name: "CinderStorage",
            dependencies: [
                "CinderResilience",
                "CinderModel",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Libraries/CinderStorage",
            resources: [.embedInCode("Migrations")],
            swiftSettings: swiftSettings
        ),
        // Credentials: password hashing (scrypt), signed tokens (HS256 JWTs naming revocable rows),
        // resolving a caller's credential to its organization and role, sign-in throttling.
        .target(
            name: "CinderAuth",
            dependencies: [
                "CinderModel",
                "CinderStorage",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Libraries/CinderAuth",
            swiftSettings: swiftSettings
        ),
        // The span queue seam and its in-process implementation with the batching writer.
        .target(
            name: "CinderIngest",
            dependencies: [
                "CinderCosts",
                "CinderResilience",
                "CinderModel",
                "CinderStorage",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Libraries/CinderIngest",
            swiftSettings: swiftSettings
        ),
        // OTLP receivers: HTTP route and gRPC TraceService, both publishing to a SpanQueue.
        .target(
            name: "CinderReceiver",
            dependencies: [
                "CinderModel",
                "CinderOTLP",
                "CinderOTLPProto",
                "CinderIngest",
                "CinderHTTPSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Libraries/CinderReceiver",
            swiftSettings: swiftSettings
        ),
        // Phoenix-compatible REST API (/v1).
        .target(
            name: "CinderAPI",
            dependencies: [
                "CinderAuth",
                "CinderModel",
                "CinderOTLP",
                "CinderStorage",
                "CinderIngest",
                "CinderHTTPSupport",
                "CinderProviders",
                "CinderRunner",
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            path: "Libraries/CinderAPI",
            swiftSettings: swiftSettings
        ),
        // Retries with jittered back-off honouring Retry-After, an adaptive (AIMD) limiter, a circuit
        // breaker and deadlines, all on an injected clock. No I/O.
        .target(
            name: "CinderResilience",
            path: "Libraries/CinderResilience",
            swiftSettings: swiftSettings
        ),
        // LLM provider clients behind one seam (ChatProvider): OpenAI's Chat Completions (also Azure and
        // OpenAI-compatible servers) and Anthropic's Messages, streamed over async-http-client.
        .target(
            name: "CinderProviders",
            dependencies: [
                "CinderModel", "CinderResilience",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Libraries/CinderProviders",
            swiftSettings: swiftSettings
        ),
        // Server-side experiments: the job queue's consumer, prompt rendering, provider calls with their
        // limits, the runs and LLM spans they record; and how a process reaches providers and secrets.
        .target(
            name: "CinderRunner",
            dependencies: [
                "CinderAuth", "CinderCosts", "CinderEvaluators", "CinderModel", "CinderProviders", "CinderResilience", "CinderSandbox", "CinderStorage",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Libraries/CinderRunner",
            swiftSettings: swiftSettings
        ),
        // Isolated execution of code users wrote (code evaluators): bubblewrap namespaces and kernel limits.
        .target(
            name: "CinderSandbox",
            dependencies: ["CinderModel", "CinderResilience"],
            path: "Libraries/CinderSandbox",
            swiftSettings: swiftSettings
        ),
        // Evaluators: the built-in ones, LLM-as-judge (its tool, its verdicts, the shipped judge prompts),
        // input mappings from a run or span to an evaluator's parameters. Pure: the runner executes them.
        .target(
            name: "CinderEvaluators",
            dependencies: ["CinderModel", "CinderProviders"],
            path: "Libraries/CinderEvaluators",
            swiftSettings: swiftSettings
        ),
        // Model prices (a built-in table, looked up by model name) and the costs of LLM spans from them.
        .target(
            name: "CinderCosts",
            dependencies: ["CinderModel"],
            path: "Libraries/CinderCosts",
            swiftSettings: swiftSettings
        ),
        // GraphQL (/graphql) over Cinder's storage: Phoenix's schema, Relay ids and connections, and
        // loaders that fetch a field for all sibling objects in one statement.
        .target(
            name: "CinderGraphQL",
            dependencies: [
                "CinderAuth",
                "CinderCosts",
                "CinderEvaluators",
                "CinderModel",
                "CinderProviders",
                "CinderRunner",
                "CinderStorage",
                "CinderHTTPSupport",
                .product(name: "Graphiti", package: "Graphiti"),
                .product(name: "GraphQL", package: "GraphQL"),
                .product(name: "OrderedCollections", package: "swift-collections"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Libraries/CinderGraphQL",
            swiftSettings: swiftSettings
        ),
        // The web UI: hand-written ES modules and CSS (Assets/, embedded at build time by the
        // EmbedUIAssets plugin), served versioned, compressed and cached on Phoenix's screen paths.
        .target(
            name: "CinderWebUI",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Libraries/CinderWebUI",
            exclude: ["Assets"],
            swiftSettings: swiftSettings,
            plugins: ["EmbedUIAssets"]
        ),
        .executableTarget(
            name: "UIAssetEmbedder",
            path: "Tools/UIAssetEmbedder"
        ),
        .plugin(
            name: "EmbedUIAssets",
            capability: .buildTool(),
            dependencies: ["UIAssetEmbedder"],
            path: "Plugins/EmbedUIAssets"
        ),
        // Shared HTTP plumbing: error mapping, health/readiness, Prometheus /metrics.
        .target(
            name: "CinderHTTPSupport",
            dependencies: [
                "CinderResilience",
                "CinderAuth",
                "CinderModel",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Libraries/CinderHTTPSupport",
            swiftSettings: swiftSettings
        ),
        // A private PostgreSQL cluster under the working directory for the all-in-one.
        .target(
            name: "CinderLocalPostgres",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Libraries/CinderLocalPostgres",
            swiftSettings: swiftSettings
        ),
        // The span topic's message format (span_batch.proto, generated code in Generated/): domain spans in
        // (collector), storage rows out (writer).
        .target(
            name: "CinderQueueFormat",
            dependencies: [
                "CinderModel",
                "CinderStorage",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Libraries/CinderQueueFormat",
            exclude: ["span_batch.proto"],
            swiftSettings: swiftSettings
        ),
        // librdkafka (Debian librdkafka-dev) and the Swift Kafka client over it.
        .systemLibrary(
            name: "CRdKafka",
            path: "Libraries/CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        .target(
            name: "CinderKafka",
            dependencies: [
                "CinderResilience",
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Libraries/CinderKafka",
            swiftSettings: swiftSettings
        ),
        // The Kafka side of the span queue (collector → topic → writer).
        .target(
            name: "CinderKafkaIngest",
            dependencies: [
                "CinderResilience",
                "CinderIngest",
                "CinderKafka",
                "CinderModel",
                "CinderQueueFormat",
                "CinderStorage",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Libraries/CinderKafkaIngest",
            swiftSettings: swiftSettings
        ),
        // What every service shares: configuration from the environment, logging, database set-up, access
        // control and server plumbing. Each executable's composition is a library of its own below, so that
        // an executable links only what it uses (cinder-api no librdkafka; collector and writer no GraphQL,
        // web UI or REST handlers).
        .target(
            name: "CinderApp",
            dependencies: [
                "CinderAuth",
                "CinderCosts",
                "CinderModel",
                "CinderStorage",
                "CinderIngest",
                "CinderOTLP",
                "CinderHTTPSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Libraries/CinderApp",
            swiftSettings: swiftSettings
        ),
        // The API's process: REST, GraphQL, the web UI and sign-in (cinder-api; cinder serve adds OTLP).
        .target(
            name: "CinderAPIApp",
            dependencies: [
                "CinderApp", "CinderAPI", "CinderAuth", "CinderCosts", "CinderGraphQL", "CinderHTTPSupport", "CinderIngest", "CinderRunner",
                "CinderStorage", "CinderWebUI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Libraries/CinderAPIApp",
            swiftSettings: swiftSettings
        ),
        // OTLP receivers with their per-organization limits, for cinder serve and the collector.
        .target(
            name: "CinderReceiverApp",
            dependencies: [
                "CinderApp", "CinderHTTPSupport", "CinderIngest", "CinderModel", "CinderReceiver", "CinderStorage",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Libraries/CinderReceiverApp",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CinderServeApp",
            dependencies: [
                "CinderApp", "CinderAPIApp", "CinderReceiverApp", "CinderRunnerApp", "CinderRunner", "CinderLocalPostgres", "CinderStorage",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Libraries/CinderServeApp",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CinderCollectorApp",
            dependencies: [
                "CinderApp", "CinderReceiverApp", "CinderHTTPSupport", "CinderKafka", "CinderKafkaIngest", "CinderStorage",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Libraries/CinderCollectorApp",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CinderWriterApp",
            dependencies: [
                "CinderApp", "CinderHTTPSupport", "CinderKafka", "CinderKafkaIngest", "CinderStorage",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Libraries/CinderWriterApp",
            swiftSettings: swiftSettings
        ),

        .target(
            name: "CinderRunnerApp",
            dependencies: [
                "CinderApp", "CinderCosts", "CinderHTTPSupport", "CinderResilience", "CinderRunner", "CinderStorage",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Libraries/CinderRunnerApp",
            swiftSettings: swiftSettings
        ),

        // MARK: Services (thin composition roots)

        .executableTarget(
            name: "Cinder",
            dependencies: [
                "CinderApp", "CinderServeApp",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Services/Cinder",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "CinderAPIService",
            dependencies: [
                "CinderApp", "CinderAPIApp",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Services/API",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "CinderCollectorService",
            dependencies: [
                "CinderApp", "CinderCollectorApp",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Services/Collector",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "CinderWriterService",
            dependencies: [
                "CinderApp", "CinderWriterApp",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Services/Writer",
            swiftSettings: swiftSettings
        ),

        .executableTarget(
            name: "CinderRunnerService",
            dependencies: [
                "CinderApp", "CinderRunnerApp",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Services/Runner",
            swiftSettings: swiftSettings
        ),

        // MARK: Tests

        // A mock Kafka cluster as its own process, for the distributed-ingestion tests.
        .executableTarget(
            name: "KafkaMockBroker",
            dependencies: ["CinderKafka", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Tests/KafkaMockBroker",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CinderTestSupport",
            dependencies: [
                "CinderModel",
                "CinderStorage",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/CinderTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CinderModelTests",
            dependencies: ["CinderModel"],
            path: "Tests/CinderModelTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CinderOTLPTests",
            dependencies: [
                "CinderOTLP", "CinderOTLPProto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            path: "Tests/CinderOTLPTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CinderAuthTests",
            dependencies: [
                "CinderAuth", "CinderReceiver", "CinderModel",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Tests/CinderAuthTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CinderStorageTests",
            dependencies: ["CinderStorage", "CinderTestSupport"],
            path: "Tests/CinderStorageTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CinderQueueFormatTests",
            dependencies: ["CinderQueueFormat", "CinderModel"],
            path: "Tests/CinderQueueFormatTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CinderKafkaTests",
            dependencies: [
                "CinderKafka", "CinderKafkaIngest", "CinderQueueFormat", "CinderModel", "CinderIngest", "CinderStorage",
                "CinderTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            path: "Tests/CinderKafkaTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CinderGraphQLTests",
            dependencies: [
                "CinderGraphQL", "CinderStorage", "CinderModel", "CinderTestSupport",
                .product(name: "GraphQL", package: "GraphQL"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/CinderGraphQLTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CinderCostsTests",
            dependencies: ["CinderCosts", "CinderModel"],
            path: "Tests/CinderCostsTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CinderEvaluatorsTests",
            dependencies: ["CinderEvaluators", "CinderModel", "CinderProviders", "CinderSandbox"],
            path: "Tests/CinderEvaluatorsTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CinderRunnerTests",
            dependencies: ["CinderResilience", "CinderProviders", "CinderRunner", "CinderAuth", "CinderModel"],
            path: "Tests/CinderRunnerTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CinderWebUITests",
            dependencies: ["CinderWebUI", .product(name: "NIOCore", package: "swift-nio")],
            path: "Tests/CinderWebUITests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CinderAppTests",
            dependencies: [
                "CinderApp", "CinderServeApp", "CinderTestSupport", "CinderOTLPProto",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            path: "Tests/CinderAppTests",
            swiftSettings: swiftSettings
        ),
    ]
)
