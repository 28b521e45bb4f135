import CinderAuth
import CinderModel
import CinderProviders
import CinderStorage

/// Finds the client for a provider family in an organization: its stored secrets first (opened with the
/// installation's cipher), then the environment where the operator allows it.
public struct ProviderCredentials: Sendable {
    public let directory: ProviderDirectory
    /// Nil without an installation secret: the secret store is then unavailable.
    public let cipher: SecretCipher?

    public init(directory: ProviderDirectory, cipher: SecretCipher?) {
        self.directory = directory
        self.cipher = cipher
    }

    public func provider(_ family: ProviderFamily, scope: TenantScope) async throws -> any ChatProvider {
        var secrets: [String: String] = [:]
        if let cipher {
            let names = [family.apiKeyVariable, family.baseURLVariable, "OPENAI_API_VERSION"].compactMap { $0 }
            for (name, sealed) in try await scope.secrets.sealed(keys: names) {
                do {
                    secrets[name] = try cipher.open(sealed, organization: scope.organization, name: name)
                } catch {
                    throw ProviderError(.missingCredential, "The stored secret \(name) cannot be decrypted (was PHOENIX_SECRET changed?)")
                }
            }
        }
        return try directory.provider(family, secrets: secrets)
    }
}
