import CinderAPI
import CinderAuth
import CinderHTTPSupport
import CinderModel
import CinderReceiver
import CinderStorage
import Hummingbird
import Logging
import ServiceLifecycle

/// How a process's requests get their access: with auth, sign-in routes, credentials verified at the
/// edge and viewers kept to reads; without, the local user of the default organization.
struct AccessControl: Sendable {
    let authenticator: Authenticator?
    let database: Database?
    let signIn: AuthAPI?

    /// Auth off: every caller is the local user.
    static let open = AccessControl(authenticator: nil, database: nil, signIn: nil)

    init(authenticator: Authenticator?, database: Database?, signIn: AuthAPI?) {
        self.authenticator = authenticator
        self.database = database
        self.signIn = signIn
    }

    init(_ configuration: CinderConfiguration, database: Database, logger: Logger) async throws {
        guard let settings = try configuration.authSettings() else {
            self = .open
            return
        }
        let authenticator = await Authenticator(settings: settings, database: database, logger: logger)
        let limits = SignInLimits(
            perEmail: configuration.bruteForceProtection ? SignInThrottle(maxFailures: configuration.bruteForceMaxAttempts) : nil,
            perClient: configuration.rateLimitSignIn ? RequestRateLimiter() : nil)
        self.init(
            authenticator: authenticator, database: database,
            signIn: AuthAPI(authenticator: authenticator, database: database, limits: limits, secureCookies: configuration.secureCookies))
    }

    /// Background work: creating the first admin account (once the database pool runs) on processes
    /// that serve people, and recording API keys' last use.
    func services(bootstrap: Bool) -> [any Service] {
        guard let authenticator, let database else { return [] }
        return [KeyUseService(authenticator: authenticator, database: database, bootstrap: bootstrap)]
    }

    /// Sign-in routes (which need no credential), then the middleware every later route is behind.
    func addRoutes(to router: Router<CinderRequestContext>) {
        guard let signIn else {
            AuthAPI.addDisabledRoutes(to: router)
            addMiddleware(to: router)
            return
        }
        signIn.addPublicRoutes(to: router)
        addMiddleware(to: router)
        signIn.addRoutes(to: router)
    }

    func addMiddleware(to router: Router<CinderRequestContext>) {
        guard let authenticator else {
            router.add(middleware: LocalAccessMiddleware())
            return
        }
        router.add(middleware: AuthenticationMiddleware(authenticator: authenticator))
        router.add(middleware: ViewerMiddleware(viewersMay: PhoenixAPI.viewersMay))
    }

    /// The gRPC receiver's check of a caller's bearer token.
    var callerAuthentication: CallerAuthentication {
        guard let authenticator else { return { _, _ throws(CinderError) in .local } }
        return { token, organization throws(CinderError) in
            guard let token else { throw CinderError.unauthenticated }
            return try await authenticator.access(presenting: token, organizationHeader: organization)
        }
    }
}

/// Creates the default admin if needed, then flushes API keys' last-use times until shutdown.
struct KeyUseService: Service {
    let authenticator: Authenticator
    let database: Database
    let bootstrap: Bool

    func run() async throws {
        if bootstrap {
            try await AuthBootstrap.ensureDefaultAdmin(database, settings: authenticator.settings, logger: authenticator.logger)
        }
        await cancelWhenGracefulShutdown { await authenticator.recordKeyUse() }
    }
}
