import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import SecretFill
import SecretFillAPI
@testable import SecretFillServer
import Testing

/// Every route of the API document, in process (`APIRouterTests.Harness`):
/// the answer a good request gets, 401 without a key, 403 with a key that
/// may only list names, 405 with the methods allowed for another method,
/// 413 for a body over the limit, and the headers every JSON answer carries.
/// A route added to openapi.yaml without a row here fails `everyRouteHasARow`.
@Suite("API routes of the document, one by one")
struct APIRouteTableTests {
    struct Route: Sendable, CustomTestStringConvertible {
        let method: HTTPRequest.Method
        /// The document's path (`{name}` as written there).
        let path: String
        /// The URI asked, with the path's parameters and query filled in.
        let uri: String
        let body: String?
        /// What a good request with the admin key answers.
        let ok: HTTPResponse.Status
        /// Whether a key that may only list team names is refused (403).
        let namesKeyRefused: Bool
        var testDescription: String { "\(method) \(path)" }
    }

    static let routes: [Route] = [
        Route(method: .get, path: "/healthz", uri: "/healthz", body: nil, ok: .ok, namesKeyRefused: false),
        Route(method: .head, path: "/healthz", uri: "/healthz", body: nil, ok: .ok, namesKeyRefused: false),
        Route(method: .post, path: "/v1/resolve", uri: "/v1/resolve", body: #"{"names": ["route_a"]}"#, ok: .ok, namesKeyRefused: true),
        Route(method: .post, path: "/v1/values", uri: "/v1/values", body: "{}", ok: .ok, namesKeyRefused: true),
        Route(method: .post, path: "/v1/names", uri: "/v1/names", body: #"{"scopes": [{"scope": "team"}]}"#, ok: .ok, namesKeyRefused: false),
        Route(method: .post, path: "/v1/scopes", uri: "/v1/scopes", body: "{}", ok: .ok, namesKeyRefused: false),
        Route(method: .post, path: "/v1/secrets/set", uri: "/v1/secrets/set",
              body: #"{"scope": "team", "secrets": [{"name": "route_b", "value": "v1"}]}"#, ok: .ok, namesKeyRefused: true),
        Route(method: .post, path: "/v1/secrets/history", uri: "/v1/secrets/history", body: #"{"scope": "team", "name": "route_a"}"#, ok: .ok, namesKeyRefused: true),
        Route(method: .post, path: "/v1/secrets/rollback", uri: "/v1/secrets/rollback",
              body: #"{"scope": "team", "name": "route_a", "version": 1}"#, ok: .ok, namesKeyRefused: true),
        Route(method: .post, path: "/v1/secrets/delete", uri: "/v1/secrets/delete", body: #"{"scope": "team", "name": "route_c"}"#, ok: .ok, namesKeyRefused: true),
        Route(method: .post, path: "/v1/keys", uri: "/v1/keys", body: #"{"name": "route_key", "grants": ["team:names"]}"#, ok: .ok, namesKeyRefused: true),
        Route(method: .post, path: "/v1/keys/list", uri: "/v1/keys/list", body: nil, ok: .ok, namesKeyRefused: true),
        Route(method: .post, path: "/v1/keys/revoke", uri: "/v1/keys/revoke", body: #"{"name": "route_old"}"#, ok: .ok, namesKeyRefused: true),
        // No key is needed to exchange a CI job's token: without a valid one it is 401, for everyone.
        Route(method: .post, path: "/v1/auth/oidc", uri: "/v1/auth/oidc", body: #"{"role": "no_such_role", "jwt": "not.a.jwt"}"#,
              ok: .unauthorized, namesKeyRefused: false),
        Route(method: .post, path: "/v1/roles", uri: "/v1/roles",
              body: #"{"name": "route_role2", "issuer": "https://issuer.example", "audiences": ["a"], "boundClaims": {"ref": "main"}, "grants": ["team:read"], "ttl": 900, "maxTTL": 3600}"#,
              ok: .ok, namesKeyRefused: true),
        Route(method: .post, path: "/v1/roles/list", uri: "/v1/roles/list", body: nil, ok: .ok, namesKeyRefused: true),
        Route(method: .post, path: "/v1/roles/delete", uri: "/v1/roles/delete", body: #"{"name": "route_role"}"#, ok: .ok, namesKeyRefused: true),
        Route(method: .post, path: "/v1/members", uri: "/v1/members", body: #"{"name": "Route.Person@Example.com", "grants": ["team:read"]}"#,
              ok: .ok, namesKeyRefused: true),
        Route(method: .post, path: "/v1/members/list", uri: "/v1/members/list", body: nil, ok: .ok, namesKeyRefused: true),
        Route(method: .post, path: "/v1/members/remove", uri: "/v1/members/remove", body: #"{"name": "group:route-group"}"#, ok: .ok, namesKeyRefused: true),
        Route(method: .post, path: "/v1/audit", uri: "/v1/audit", body: #"{"limit": 5}"#, ok: .ok, namesKeyRefused: true),
        Route(method: .post, path: "/v1/backup", uri: "/v1/backup", body: #"{"audit": false}"#, ok: .ok, namesKeyRefused: true),
        Route(method: .post, path: "/v1/rekey", uri: "/v1/rekey", body: #"{"operation": "status"}"#, ok: .ok, namesKeyRefused: true),
        // No key is needed for secretfill login's exchange: an unknown code is 401, for everyone.
        Route(method: .post, path: "/v1/login/token", uri: "/v1/login/token", body: #"{"code": "no-such-code", "verifier": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#,
              ok: .unauthorized, namesKeyRefused: false),
        // logout ends a person's CLI token: an API key is told to use keys revoke (400).
        Route(method: .post, path: "/v1/logout", uri: "/v1/logout", body: nil, ok: .badRequest, namesKeyRefused: false),
        Route(method: .post, path: "/v1/whoami", uri: "/v1/whoami", body: nil, ok: .ok, namesKeyRefused: false),
        Route(method: .get, path: "/teams/secrets", uri: "/teams/secrets", body: nil, ok: .ok, namesKeyRefused: false),
        Route(method: .put, path: "/teams/secrets/{name}", uri: "/teams/secrets/route_d", body: #"{"value": "v"}"#, ok: .noContent, namesKeyRefused: true),
        Route(method: .delete, path: "/teams/secrets/{name}", uri: "/teams/secrets/route_e", body: nil, ok: .noContent, namesKeyRefused: true),
        Route(method: .get, path: "/projects/secrets", uri: "/projects/secrets?projectId=pr-1", body: nil, ok: .ok, namesKeyRefused: true),
        Route(method: .put, path: "/projects/secrets/{name}", uri: "/projects/secrets/route_d?projectId=pr-1", body: #"{"value": "v"}"#, ok: .noContent, namesKeyRefused: true),
        Route(method: .delete, path: "/projects/secrets/{name}", uri: "/projects/secrets/route_f?projectId=pr-1", body: nil, ok: .noContent, namesKeyRefused: true),
        Route(method: .get, path: "/clusters/secrets", uri: "/clusters/secrets?clusterId=c-1", body: nil, ok: .ok, namesKeyRefused: true),
        Route(method: .put, path: "/clusters/secrets/{name}", uri: "/clusters/secrets/route_d?clusterId=c-1", body: #"{"value": "v"}"#, ok: .noContent, namesKeyRefused: true),
        Route(method: .delete, path: "/clusters/secrets/{name}", uri: "/clusters/secrets/route_g?clusterId=c-1", body: nil, ok: .noContent, namesKeyRefused: true),
    ]

    /// The document's paths and methods, read from its `paths:` section.
    static func documented() throws -> Set<String> {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("Sources/SecretFillAPI/openapi.yaml"), encoding: .utf8)
        var found: Set<String> = []
        var path: String?
        var inPaths = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" { inPaths = true; continue }
            if inPaths, let first = line.first, first != " " { break }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":") { path = String(line.dropFirst(2).dropLast()) }
            for method in ["get", "head", "put", "post", "delete"] where line == "    \(method):" {
                found.insert("\(method.uppercased()) \(path ?? "?")")
            }
        }
        return found
    }

    @Test("every path and method of openapi.yaml has a row here, and every row is in the document")
    func everyRouteHasARow() throws {
        let rows = Set(Self.routes.map(\.testDescription))
        let documented = try Self.documented()
        #expect(!documented.isEmpty)
        #expect(documented.subtracting(rows).isEmpty, "documented without a row: \(documented.subtracting(rows).sorted())")
        #expect(rows.subtracting(documented).isEmpty, "rows the document lacks: \(rows.subtracting(documented).sorted())")
    }

    /// route_a (two versions), route_c, route_e, route_f, route_g exist; key route_old, role route_role and member group:route-group exist.
    static func seed(_ store: ServerStore) async throws {
        for (scope, name) in [(Scope.team, "route_a"), (.team, "route_a"), (.team, "route_c"), (.team, "route_e"),
                              (try Scope(kind: .project, id: "pr-1"), "route_f"), (try Scope(kind: .cluster, id: "c-1"), "route_g")] {
            _ = try await store.set([(name, try SecretValue(validating: "seed-\(name)"))], in: scope, by: .databaseOwner, client: "test")
        }
        _ = try await store.createKey(name: "route_old", grants: ["team:names"], expiresIn: nil, by: .databaseOwner, client: "test")
        try await store.createRole(RoleEntry(name: "route_role", issuer: "https://issuer.example", audiences: ["a"], boundClaims: [:],
                                             boundSubject: nil, grants: ["team:read"], ttl: 900, maxTTL: 3600, jwks: nil),
                                   by: .databaseOwner, client: "test")
        _ = try await store.addMember(name: "group:route-group", grants: ["team:names"], by: .databaseOwner, client: "test")
    }

    @Test("each route: its answer with the admin key, 401 without a key, 403 for a names key where it needs more, JSON answers not cached",
          arguments: routes)
    func route(_ route: Route) async throws {
        let harness = try await APIRouterTests.Harness.make()
        try await Self.seed(harness.store)
        let viewer = try await harness.store.createKey(name: "viewer", grants: ["team:names"], expiresIn: nil, by: .databaseOwner, client: "test")
        let app = Application(router: harness.router)
        let admin = harness.admin
        let body = route.body.map { ByteBuffer(string: $0) }
        try await app.test(.router) { client in
            try await client.execute(uri: route.uri, method: route.method, headers: APIRouterTests.headers(admin), body: body) { response in
                #expect(response.status == route.ok, "\(route): \(String(buffer: response.body))")
                if response.headers[.contentType] == "application/json" {
                    #expect(response.headers[.cacheControl] == "no-store")
                }
            }
            guard route.path != "/healthz" else { return }
            try await client.execute(uri: route.uri, method: route.method, headers: APIRouterTests.headers(nil), body: body) { response in
                #expect(response.status == .unauthorized, "\(route) without a key")
                #expect(!String(buffer: response.body).contains(admin))
            }
            if route.namesKeyRefused {
                try await client.execute(uri: route.uri, method: route.method, headers: APIRouterTests.headers(viewer), body: body) { response in
                    #expect(response.status == .forbidden, "\(route) with a names key: \(String(buffer: response.body))")
                    #expect(!String(buffer: response.body).contains(viewer))
                }
            }
        }
        await harness.close()
    }

    @Test("a method the document does not list for a path is 405 with Allow; a body over 2 MiB is 413")
    func methodsAndSizes() async throws {
        let harness = try await APIRouterTests.Harness.make()
        let app = Application(router: harness.router)
        let admin = harness.admin
        try await app.test(.router) { client in
            for path in ["/v1/resolve", "/v1/values", "/v1/names", "/v1/scopes", "/v1/secrets/set", "/v1/secrets/delete",
                         "/v1/secrets/history", "/v1/secrets/rollback", "/v1/keys", "/v1/keys/list", "/v1/keys/revoke", "/v1/audit",
                         "/v1/auth/oidc", "/v1/roles", "/v1/roles/list", "/v1/roles/delete", "/v1/members", "/v1/members/list",
                         "/v1/members/remove", "/v1/backup", "/v1/rekey", "/v1/login/token", "/v1/logout", "/v1/whoami"] {
                try await client.execute(uri: path, method: .get, headers: APIRouterTests.headers(admin)) { response in
                    #expect(response.status == .methodNotAllowed, "GET \(path)")
                    #expect(response.headers[.allow]?.contains("POST") == true, "GET \(path): Allow")
                }
            }
            try await client.execute(uri: "/healthz", method: .post, headers: APIRouterTests.headers(admin)) { response in
                #expect(response.status == .methodNotAllowed)
            }
            let big = ByteBuffer(string: #"{"names": ["a"], "project": ""# + String(repeating: "x", count: (2 << 20) + 16) + #""}"#)
            try await client.execute(uri: "/v1/resolve", method: .post, headers: APIRouterTests.headers(admin), body: big) { response in
                #expect(response.status == .contentTooLarge)
            }
            let many = #"{"names": ["# + (0...APILimits.resolveNames).map { "\"n\($0)\"" }.joined(separator: ",") + "]}"
            try await client.execute(uri: "/v1/resolve", method: .post, headers: APIRouterTests.headers(admin), body: ByteBuffer(string: many)) { response in
                #expect(response.status == .contentTooLarge, "over \(APILimits.resolveNames) names")
            }
        }
        await harness.close()
    }
}
