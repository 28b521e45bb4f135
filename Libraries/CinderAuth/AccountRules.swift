/// What makes an acceptable account, checked before anything is hashed or stored (by REST and
/// GraphQL alike).
public enum UserAccounts {
    public static let minimumPasswordLength = 4

    /// `local@domain` with a dotted domain (or `localhost`, the default admin's).
    public static func isEmail(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !text.contains(where: \.isWhitespace) else { return false }
        let domain = parts[1]
        return domain == "localhost" || (domain.contains(".") && !domain.hasPrefix(".") && !domain.hasSuffix(".") && !domain.contains(".."))
    }

    /// Why a password is refused, or nil when it is acceptable.
    public static func passwordProblem(_ password: String) -> String? {
        if password.count < minimumPasswordLength { return "Password must be at least \(minimumPasswordLength) characters long" }
        if password.contains(where: \.isWhitespace) { return "Password must not contain whitespace" }
        return nil
    }

    /// A password nobody knows, for accounts created without one.
    public static func randomPassword() -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<32).map { _ in "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789".randomElement(using: &generator)! })
    }
}
