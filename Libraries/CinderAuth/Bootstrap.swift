import CinderModel
import CinderStorage
import Logging

/// What an installation with auth needs before its first sign-in.
public enum AuthBootstrap {
    public static let defaultAdminEmail = "admin@localhost"
    public static let defaultAdminUsername = "admin"

    /// Creates the first account, as Phoenix does: `admin@localhost` with the initial password, which
    /// must be changed, administering the installation and the default organization (which owns the
    /// data that existed before auth was turned on). Does nothing once any account exists.
    public static func ensureDefaultAdmin(_ database: Database, settings: AuthSettings, logger: Logger) async throws {
        let installation = database.installation(logger: logger)
        guard try await !installation.hasAccounts() else { return }
        let hash = try await PasswordHashing.hash(settings.defaultAdminInitialPassword, parameters: settings.passwordParameters)
        // Another replica starting at the same moment may win the race; the email is unique.
        guard
            let admin = try await installation.createAccount(
                email: defaultAdminEmail, username: defaultAdminUsername, passwordHash: hash, passwordNeedsReset: true,
                installationAdmin: true)
        else { return }
        try await installation.addMember(admin.id, to: .default, role: .admin)
        logger.notice(
            "created the default admin account; sign in and change its password",
            metadata: ["cinder.user.email": "\(defaultAdminEmail)"])
    }
}
