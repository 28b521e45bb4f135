import CinderAuth
import CinderCosts
import CinderModel
import CinderProviders
import Foundation
import Logging
import Metrics
import CinderResilience
import CinderSandbox
import ServiceLifecycle

/// What a process needs to call models and run evaluators: the HTTP client (a service, shut down last),
/// the provider directory, the cipher of the secret store, and the sandbox of code evaluators.
public struct ModelAccess: Sendable {
    public let credentials: ProviderCredentials
    public let client: ProviderClientService
    public let sandbox: any CodeSandbox

    public struct Settings: Sendable {
        public var installationSecret: String?
        /// Where `cinder serve` keeps a generated secret-store key when no installation secret is set.
        public var localKeyFile: String?
        public var environment: [String: String]
        public var environmentCredentials: Bool
        public var callTimeout: Duration
        /// Attempts per provider call (retries included) for calls made for jobs and evaluators.
        public var maxAttempts: Int

        public init(
            installationSecret: String?, localKeyFile: String?, environment: [String: String], environmentCredentials: Bool, callTimeout: Duration,
            maxAttempts: Int
        ) {
            self.installationSecret = installationSecret
            self.localKeyFile = localKeyFile
            self.environment = environment
            self.environmentCredentials = environmentCredentials
            self.callTimeout = callTimeout
            self.maxAttempts = maxAttempts
        }
    }

    let settings: Settings

    /// A caller for calls that retry and back off (jobs, judges), with the process's limits.
    public func caller(metrics: any MetricsFactory) -> ProviderCaller {
        ProviderCaller(configuration: .init(callTimeout: settings.callTimeout, backoff: Backoff(maxAttempts: settings.maxAttempts)), metrics: metrics)
    }

    /// Runs evaluators with this process's providers, keys and sandbox.
    public func evaluators(metrics: any MetricsFactory) -> EvaluatorExecutor {
        EvaluatorExecutor(caller: caller(metrics: metrics), credentials: credentials, sandbox: sandbox)
    }

    public init(_ settings: Settings, logger: Logger) throws {
        self.settings = settings
        self.sandbox = BubblewrapSandbox()
        let httpClient = ProviderHTTPClient(stallTimeout: settings.callTimeout)
        client = ProviderClientService(client: httpClient)
        let directory = ProviderDirectory(
            transport: ProviderTransport(client: httpClient, timeout: settings.callTimeout), environment: settings.environment,
            environmentCredentials: settings.environmentCredentials)
        var cipher: SecretCipher?
        if let secret = settings.installationSecret {
            cipher = SecretCipher(installationSecret: secret)
        } else if let path = settings.localKeyFile {
            cipher = SecretCipher(installationSecret: try Self.localKey(at: path))
        } else {
            logger.notice("the secret store is off: set PHOENIX_SECRET to store provider keys per organization")
        }
        credentials = ProviderCredentials(directory: directory, cipher: cipher)
    }

    /// A random key kept beside the private database, readable by this user only: a single-machine
    /// server without PHOENIX_SECRET still stores its secrets encrypted.
    static func localKey(at path: String) throws -> String {
        if let existing = try? String(contentsOfFile: path, encoding: .utf8), existing.count >= 64 {
            return existing.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let key = RandomHex.string(bytes: 32)
        guard FileManager.default.createFile(atPath: path, contents: Data(key.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        return key
    }
}

/// The provider HTTP client's lifetime: it outlives the calls, and is shut down when the process stops.
public struct ProviderClientService: Service {
    let client: ProviderHTTPClient

    public func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}

/// The client a job calls, and the family whose wire format and span attributes it uses.
struct ResolvedModel: Sendable {
    let family: ProviderFamily
    let provider: any ChatProvider
    /// The organization's prices as the job started; nil with cost tracking off.
    let prices: PriceBook?
}
