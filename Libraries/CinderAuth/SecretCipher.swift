import CinderModel
import Crypto
import Foundation

/// Seals an organization's secrets before they are stored: AES-256-GCM under a key derived from the
/// installation secret with HKDF-SHA256. The organization and the secret's name are authenticated with
/// the value, so a sealed value copied to another row or organization does not open.
public struct SecretCipher: Sendable {
    static let version: UInt8 = 1
    let key: SymmetricKey

    public init(installationSecret: String) {
        key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: Data(installationSecret.utf8)), salt: Data("cinder-secrets".utf8),
            info: Data("secret store v1".utf8), outputByteCount: 32)
    }

    public struct CannotOpen: Error, Sendable, CustomStringConvertible {
        public var description: String { "a stored secret cannot be decrypted (was PHOENIX_SECRET changed?)" }
    }

    public func seal(_ value: String, organization: OrganizationID, name: String) throws -> [UInt8] {
        let box = try AES.GCM.seal(Data(value.utf8), using: key, authenticating: Self.context(organization, name))
        return [Self.version] + Array(box.nonce) + Array(box.ciphertext) + Array(box.tag)
    }

    public func open(_ sealed: [UInt8], organization: OrganizationID, name: String) throws(CannotOpen) -> String {
        guard sealed.count >= 1 + 12 + 16, sealed[0] == Self.version else { throw CannotOpen() }
        do {
            let box = try AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: sealed[1..<13]), ciphertext: sealed[13..<(sealed.count - 16)], tag: sealed[(sealed.count - 16)...])
            let plain = try AES.GCM.open(box, using: key, authenticating: Self.context(organization, name))
            return String(decoding: plain, as: UTF8.self)
        } catch {
            throw CannotOpen()
        }
    }

    static func context(_ organization: OrganizationID, _ name: String) -> Data {
        Data("org:\(organization.rawValue)\u{0}secret:\(name)".utf8)
    }
}
