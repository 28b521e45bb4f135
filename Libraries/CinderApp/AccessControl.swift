import CinderAuth
import CinderHTTPSupport
import CinderStorage
import Hummingbird
import Logging
import ServiceLifecycle

/// How a process's requests get their access: with auth, credentials verified at the edge and viewers
/// kept to reads; without, the local user of the default organization. Sign-in routes, which only
/// processes that serve people have, are added by the API's composition.
package struct AccessControl: Sendable {
    package let authenticator: Authenticator?
    package let database: Database?

    /// Auth off: every caller is the local user.
    package static let open = AccessControl(authenticator: nil, database: nil)

    init(authenticator: Authenticator?, database: Database?) {
        self.authenticator = authenticator
        self.database = database
    }

    package init(_ configuration: CinderConfiguration, database: Database, logger: Logger) async throws {
        guard let settings = try configuration.authSettings() else {
            self = .open
            return
        }
        self.init(authenticator: await Authenticator(settings: settings, database: database, logger: logger), database: database)
    }

    /// Background work: creating the first admin account (once the database pool runs) on processes
    /// that serve people, and recording API keys' last use.
    package func services(bootstrap: Bool) -> [any Service] {
        guard let authenticator, let database else { return [] }
        return [KeyUseService(authenticator: authenticator, database: database, bootstrap: bootstrap)]
    }

    /// The middleware every later route is behind; `viewersMay` names the changes viewers may make.
    package func addMiddleware(
        to router: Router<CinderRequestContext>, viewersMay: @escaping @Sendable (HTTPRequest.Method, String) -> Bool
    ) {
        guard let authenticator else {
            router.add(middleware: LocalAccessMiddleware())
            return
        }
        router.add(middleware: AuthenticationMiddleware(authenticator: authenticator))
        router.add(middleware: ViewerMiddleware(viewersMay: viewersMay))
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
