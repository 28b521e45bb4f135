import CinderModel
import Crypto
import CryptoExtras
import Foundation
import NIOPosix

/// Passwords are kept as scrypt records (RFC 7914, BoringSSL's implementation through swift-crypto):
/// `scrypt$<log2 N>$<r>$<p>$<salt>$<key>`, salt and key in base64. The parameters travel with each
/// record, so they can be raised later without invalidating stored passwords.
public enum PasswordHashing {
    /// N = 2^15, r = 8, p = 1: RFC 7914's interactive-login parameters (32 MiB, tens of milliseconds).
    public struct Parameters: Sendable, Hashable {
        public var log2N: Int
        public var r: Int
        public var p: Int

        public init(log2N: Int, r: Int, p: Int) {
            self.log2N = log2N
            self.r = r
            self.p = p
        }

        public static let standard = Parameters(log2N: 15, r: 8, p: 1)
    }

    static let keyBytes = 32
    static let saltBytes = 16

    /// Hashing is deliberately slow; it runs on NIO's blocking pool, not on the request's executor.
    public static func hash(_ password: String, parameters: Parameters = .standard) async throws -> String {
        var salt = [UInt8](repeating: 0, count: saltBytes)
        var generator = SystemRandomNumberGenerator()
        for i in salt.indices { salt[i] = UInt8.random(in: .min ... .max, using: &generator) }
        let key = try await derive(password, salt: salt, parameters: parameters)
        return ["scrypt", String(parameters.log2N), String(parameters.r), String(parameters.p),
                Data(salt).base64EncodedString(), Data(key).base64EncodedString()].joined(separator: "$")
    }

    /// Whether `password` matches the record; false for a record that is not one of these.
    public static func verify(_ password: String, against record: String) async throws -> Bool {
        let parts = record.split(separator: "$", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 6, parts[0] == "scrypt",
            let log2N = Int(parts[1]), let r = Int(parts[2]), let p = Int(parts[3]),
            (1...20).contains(log2N), (1...32).contains(r), (1...16).contains(p),
            let salt = Data(base64Encoded: parts[4]), let expected = Data(base64Encoded: parts[5]), expected.count == keyBytes
        else { return false }
        let key = try await derive(password, salt: Array(salt), parameters: Parameters(log2N: log2N, r: r, p: p))
        return constantTimeEqual(key, Array(expected))
    }

    private static func derive(_ password: String, salt: [UInt8], parameters: Parameters) async throws -> [UInt8] {
        try await NIOThreadPool.singleton.runIfActive {
            let key = try KDF.Scrypt.deriveKey(
                from: Array(password.utf8), salt: salt, outputByteCount: keyBytes, rounds: 1 << parameters.log2N,
                blockSize: parameters.r, parallelism: parameters.p)
            return key.withUnsafeBytes { Array($0) }
        }
    }
}

/// Compares secrets without an early exit, so the time taken says nothing about where they differ.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for i in a.indices { difference |= a[i] ^ b[i] }
    return difference == 0
}

/// Credentials are stored as SHA-256 digests: a copy of the table yields no usable key.
public enum CredentialDigest {
    public static func of(_ token: String) -> [UInt8] {
        Array(SHA256.hash(data: Array(token.utf8)))
    }
}
