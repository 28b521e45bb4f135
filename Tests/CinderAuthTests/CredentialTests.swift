import CinderAuth
import CinderModel
import CinderStorage
import Foundation
import Testing

@Suite struct PasswordHashingTests {
    @Test func recordsVerifyTheirPasswordOnly() async throws {
        let parameters = PasswordHashing.Parameters(log2N: 10, r: 8, p: 1)
        let record = try await PasswordHashing.hash("correct horse", parameters: parameters)
        #expect(record.hasPrefix("scrypt$10$8$1$"))
        #expect(try await PasswordHashing.verify("correct horse", against: record))
        #expect(try await !PasswordHashing.verify("correct hors", against: record))
        #expect(try await !PasswordHashing.verify("", against: record))
        // Salted: the same password twice gives two records.
        #expect(try await PasswordHashing.hash("correct horse", parameters: parameters) != record)
        // Anything that is not a record verifies nothing (and costs nothing).
        for bad in ["", "scrypt$10$8$1$", "bcrypt$x", "scrypt$99$8$1$AAAA$AAAA", record.replacingOccurrences(of: "scrypt", with: "crypt")] {
            #expect(try await !PasswordHashing.verify("correct horse", against: bad), "\(bad)")
        }
    }
}

@Suite struct CredentialClaimsTests {
    @Test func signedClaimsNameTheirRowOrganizationAndPerson() async throws {
        let signer = await CredentialSigner(secret: "test-secret-0123456789abcdefghijklmnop")
        let claims = CredentialClaims(
            kind: .apiKey, id: 42, organization: OrganizationID(7), user: UserID(3), issued: Date(), expires: nil)
        let token = try await signer.sign(claims)
        let verified = try #require(await signer.verify(token))
        #expect(verified.jti == "ApiKey:42")
        let parsed = try #require(verified.parsed)
        #expect(parsed.kind == .apiKey && parsed.id == 42 && parsed.organization == OrganizationID(7) && parsed.user == UserID(3))

        let system = CredentialClaims(kind: .apiKey, id: 1, organization: OrganizationID(2), user: nil, issued: Date(), expires: nil)
        #expect(try #require(await signer.verify(try await signer.sign(system))).parsed?.user == nil)

        // Another secret, a tampered payload, garbage: nothing.
        let other = await CredentialSigner(secret: "other-secret-0123456789abcdefghijklmno")
        #expect(await other.verify(token) == nil)
        let parts = token.split(separator: ".")
        let payload = Data(#"{"jti":"ApiKey:1","sub":"1","org":"1","iat":0}"#.utf8).base64EncodedString()
        let forged = [String(parts[0]), payload, String(parts[2])].joined(separator: ".")
        #expect(await signer.verify(forged) == nil)
        #expect(await signer.verify("not.a.jwt") == nil)
        // Claims that do not describe a credential of this installation.
        for (jti, sub, org) in [("Nope:1", "1", "1"), ("ApiKey:x", "1", "1"), ("AccessToken:1", "system", "1"), ("ApiKey:1", "1", "0")] {
            var bad = claims
            bad.jti = jti
            bad.sub = sub
            bad.org = org
            #expect(bad.parsed == nil, "\(jti) \(sub) \(org)")
        }
    }
}

@Suite struct SignInLimitTests {
    @Test func fiveFailuresLockAnEmailForFiveMinutes() {
        let throttle = SignInThrottle()
        let t0 = ContinuousClock.now
        for i in 0..<5 {
            #expect(throttle.retryAfter("a@x.io", now: t0 + .seconds(i)) == nil)
            throttle.recordFailure("a@x.io", now: t0 + .seconds(i))
        }
        #expect(throttle.retryAfter("a@x.io", now: t0 + .seconds(5)) == 299)
        #expect(throttle.retryAfter("b@x.io", now: t0 + .seconds(5)) == nil)
        #expect(throttle.retryAfter("a@x.io", now: t0 + .seconds(305)) == nil)
        // A success before the lock clears the count.
        for i in 0..<4 { throttle.recordFailure("c@x.io", now: t0 + .seconds(i)) }
        throttle.recordSuccess("c@x.io")
        for i in 0..<4 { throttle.recordFailure("c@x.io", now: t0 + .seconds(10 + i)) }
        #expect(throttle.retryAfter("c@x.io", now: t0 + .seconds(20)) == nil)
    }

    @Test func eachClientGetsABucketOfTwelveRefilledEveryFiveSeconds() {
        let limiter = RequestRateLimiter()
        let t0 = ContinuousClock.now
        for _ in 0..<12 { #expect(limiter.take("10.0.0.1", now: t0) == nil) }
        #expect(limiter.take("10.0.0.1", now: t0) == 5)
        #expect(limiter.take("10.0.0.2", now: t0) == nil)
        #expect(limiter.take("10.0.0.1", now: t0 + .seconds(5)) == nil)
        #expect(limiter.take("10.0.0.1", now: t0 + .seconds(5)) != nil)
    }
}
