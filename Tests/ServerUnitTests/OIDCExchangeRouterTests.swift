import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import OIDCTestSupport
import SecretFill
import SecretFillAPI
import SecretFillJWT
@testable import SecretFillServer
import SQLKit
import Testing

/// `POST /v1/auth/oidc` in process, over a role whose keys are a JWKS
/// document (`--jwks-file`: nothing fetched).
@Suite("OIDC exchange in process")
struct OIDCExchangeRouterTests {
    static func claims(ref: String = "refs/heads/main", aud: String = "sf") -> [String: ClaimValue] {
        let now = Double(Int(Date().timeIntervalSince1970))
        return ["iss": .string("https://ci.example"), "aud": .string(aud), "sub": .string("repo:acme/api:ref:\(ref)"), "ref": .string(ref),
                "iat": .number(now), "nbf": .number(now), "exp": .number(now + 300)]
    }

    @Test("a good token gets a short-lived token with the role's grants; refusals are 401 naming the check; both audited without the JWT")
    func exchange() async throws {
        let harness = try await APIRouterTests.Harness.make()
        let key = try TestKey.rsa("ci-1")
        let role = RoleEntry(name: "ci", issuer: "https://ci.example", audiences: ["sf"], boundClaims: ["ref": "refs/heads/main"], boundSubject: nil,
                             grants: ["project:pr-1:read", "team:read"], ttl: 900, maxTTL: 3600, jwks: "{\"keys\":[\(key.publicJWK)]}")
        try await harness.store.createRole(role, by: .databaseOwner, client: "test")
        _ = try await harness.store.set([("db", try SecretValue(validating: "pr1-value"))], in: .project("pr-1"), by: .databaseOwner, client: "test")
        let good = try await key.sign(Self.claims())
        let branch = try await key.sign(Self.claims(ref: "refs/heads/dev"))
        let audience = try await key.sign(Self.claims(aud: "other"))
        let app = Application(router: harness.router)
        let issued = try await app.test(.router) { client -> String in
            let issued = try await client.execute(uri: "/v1/auth/oidc", method: .post, headers: APIRouterTests.headers(nil),
                                                  body: ByteBuffer(string: "{\"role\": \"ci\", \"jwt\": \"\(good)\"}")) { response -> String in
                #expect(response.status == .ok, "\(String(buffer: response.body))")
                let answer = try JSONDecoder().decode(OIDCExchangeResponse.self, from: Data(response.body.readableBytesView))
                #expect(answer.grants == ["project:pr-1:read", "team:read"])
                #expect(answer.token.hasPrefix("sf_"))
                return answer.token
            }
            let resolve = ByteBuffer(string: "{\"project\": \"pr-1\", \"cluster\": null, \"names\": [\"db\"]}")
            try await client.execute(uri: "/v1/resolve", method: .post, headers: APIRouterTests.headers(issued), body: resolve) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("pr1-value"))
            }
            try await client.execute(uri: "/v1/secrets/set", method: .post, headers: APIRouterTests.headers(issued),
                                     body: ByteBuffer(string: "{\"scope\": \"team\", \"id\": null, \"secrets\": [{\"name\": \"x\", \"value\": \"y\"}]}")) { response in
                #expect(response.status == .forbidden)
            }
            for (jwt, check, words) in [(branch, "bound-claim", "claim 'ref' did not match 'refs/heads/main'"), (audience, "audience", "audience"),
                                        ("not-a-jwt", "malformed", "not a JWT")] {
                try await client.execute(uri: "/v1/auth/oidc", method: .post, headers: APIRouterTests.headers(nil),
                                         body: ByteBuffer(string: "{\"role\": \"ci\", \"jwt\": \"\(jwt)\"}")) { response in
                    #expect(response.status == .unauthorized)
                    let body = APIRouterTests.json(response.body)
                    #expect(body?["check"] as? String == check)
                    #expect((body?["message"] as? String)?.contains(words) == true, "\(String(buffer: response.body))")
                    #expect(!String(buffer: response.body).contains(jwt))
                }
            }
            try await client.execute(uri: "/v1/auth/oidc", method: .post, headers: APIRouterTests.headers(nil),
                                     body: ByteBuffer(string: "{\"role\": \"nope\", \"jwt\": \"\(good)\"}")) { response in
                #expect(response.status == .unauthorized)
                #expect(APIRouterTests.json(response.body)?["check"] as? String == "role")
            }
            return issued
        }
        let (entries, _) = try await harness.store.auditEntries(since: nil, key: nil, secret: nil, role: "ci", by: .databaseOwner, client: "test")
        #expect(entries.contains { $0.action == "oidc.exchange" && $0.outcome == "ok" && $0.subject == "repo:acme/api:ref:refs/heads/main" })
        #expect(entries.contains { $0.action == "read" && $0.actor == "role:ci" && $0.subject == "repo:acme/api:ref:refs/heads/main" })
        #expect(entries.contains { $0.action == "oidc.exchange" && $0.outcome == "denied" && ($0.detail ?? "").contains("check=bound-claim") })
        for entry in entries {
            let text = "\(entry)"
            #expect(!text.contains(good) && !text.contains(branch) && !text.contains(issued))
        }
        // roles delete: the issued token is refused at once.
        try await harness.store.deleteRole(name: "ci", by: .databaseOwner, client: "test")
        await #expect(throws: ServerRefusal.self) { try await harness.store.authenticate(token: issued) }
        await harness.close()
    }

    @Test("a flood of refused exchanges from one address is a row or two per failed check, their counts adding up, the check kept")
    func refusedExchangesAreCounted() async throws {
        let harness = try await APIRouterTests.Harness.make()
        let key = try TestKey.rsa("ci-1")
        let role = RoleEntry(name: "ci", issuer: "https://ci.example", audiences: ["sf"], boundClaims: ["ref": "refs/heads/main"], boundSubject: nil,
                             grants: ["team:read"], ttl: 900, maxTTL: 3600, jwks: "{\"keys\":[\(key.publicJWK)]}")
        try await harness.store.createRole(role, by: .databaseOwner, client: "test")
        let branch = try await key.sign(Self.claims(ref: "refs/heads/dev"))
        let audience = try await key.sign(Self.claims(aud: "other"))
        let started = ContinuousClock.now
        for (jwt, times) in [(branch, 40), (audience, 10)] {
            for _ in 0..<times {
                await #expect(throws: OIDCExchangeRefusal.self) { try await harness.store.exchange(role: "ci", jwt: jwt, client: "192.0.2.7") }
            }
        }
        // Another address is a window of its own.
        await #expect(throws: OIDCExchangeRefusal.self) { try await harness.store.exchange(role: "ci", jwt: branch, client: "192.0.2.8") }
        let took = ContinuousClock.now - started
        try await Task.sleep(for: .milliseconds(1_500))   // the windows end and write their counts
        let (entries, _) = try await harness.store.auditEntries(since: nil, key: nil, secret: nil, role: "ci", by: .databaseOwner, client: "test")
        let denied = entries.filter { $0.action == "oidc.exchange" && $0.outcome == "denied" }
        func rows(_ check: String, _ client: String) -> [AuditEntry] {
            denied.filter { ($0.detail ?? "").contains("check=\(check)") && $0.client == client }
        }
        let branchRows = rows("bound-claim", "192.0.2.7"), audienceRows = rows("audience", "192.0.2.7")
        // Each window is a second: the 40 (and the 10) took well under one here, or a few more rows.
        let windows = Int(took / .seconds(1)) + 2
        #expect(!branchRows.isEmpty && branchRows.count <= windows, "\(branchRows.count) rows for 40 refusals in \(took)")
        #expect(branchRows.reduce(0) { $0 + ($1.count ?? 1) } == 40)
        #expect(!audienceRows.isEmpty && audienceRows.count <= windows)
        #expect(audienceRows.reduce(0) { $0 + ($1.count ?? 1) } == 10)
        #expect(rows("bound-claim", "192.0.2.8").count == 1)
        #expect(branchRows.allSatisfy { ($0.detail ?? "").contains("claim 'ref' did not match 'refs/heads/main'") && !($0.detail ?? "").contains(branch) })
        await harness.close()
    }

    @Test("role settings are checked: https discovery, ttl within max-ttl, a readable JWKS")
    func validation() {
        func role(issuer: String = "https://ci.example", ttl: Int = 900, maxTTL: Int = 3600, jwks: String? = nil) -> RoleEntry {
            RoleEntry(name: "r", issuer: issuer, audiences: ["a"], boundClaims: [:], boundSubject: nil, grants: ["team:read"], ttl: ttl, maxTTL: maxTTL, jwks: jwks)
        }
        #expect(throws: ServerRefusal.self) { try ServerStore.validate(role(issuer: "http://ci.example")) }
        #expect(throws: Never.self) { try ServerStore.validate(role(issuer: "http://127.0.0.1:9000")) }
        #expect(throws: ServerRefusal.self) { try ServerStore.validate(role(ttl: 7200)) }
        #expect(throws: ServerRefusal.self) { try ServerStore.validate(role(maxTTL: 100_000)) }
        #expect(throws: ServerRefusal.self) { try ServerStore.validate(role(jwks: "{}")) }
    }
}
