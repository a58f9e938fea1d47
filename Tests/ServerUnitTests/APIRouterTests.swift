import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SecretFill
import SecretFillAPI
@testable import SecretFillServer
import Testing

/// The HTTP API in process: the router `serve` builds (`TeamServer.buildRouter`),
/// over a real SQLite store in a temporary file, driven through
/// HummingbirdTesting's router client. No process, no port.
@Suite("API routes in process")
struct APIRouterTests {
    /// A migrated SQLite store, its router, and an admin token.
    struct Harness {
        let store: ServerStore
        let router: Router<ServerRequestContext>
        let admin: String
        let pool: Task<Void, Never>
        let path: String

        static func make() async throws -> Harness {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("api-router-\(UUID().uuidString).db").path
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let database = try await openDatabase(.sqlite(path: path), logger: logger)
            let pool = Task { await database.run() }
            _ = try await Migrations.migrate(database)
            let key = StoreKey.generate()
            // Generous deadlines: Swift Testing runs this beside the whole suite on two cooperative
            // threads, which the end-to-end tests hold while they wait for their processes.
            let store = ServerStore(database: database, key: .file(try StoreKey(base64: key.encoded, source: "test")), logger: logger,
                                    deadlines: (read: 300, write: 300))
            let admin = try await store.createKey(name: "admin", grants: ["admin"], expiresIn: nil, by: .databaseOwner, client: "test")
            let health = HealthState()
            health.markMigrated()
            let router = try TeamServer.buildRouter(store: store, health: health, logger: logger, rateLimit: 0, tls: false)
            return Harness(store: store, router: router, admin: admin, pool: pool, path: path)
        }

        func close() async {
            await store.database.close()
            pool.cancel()
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
    }

    static func headers(_ token: String?) -> HTTPFields {
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        if let token { fields[.authorization] = "Bearer \(token)" }
        return fields
    }

    static func json(_ buffer: ByteBuffer) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))) as? [String: Any]
    }

    @Test("set, resolve through the chain, names, history: the answers the CLI reads, with the project beating the team")
    func setAndResolve() async throws {
        let harness = try await Harness.make()
        let app = Application(router: harness.router)
        let admin = harness.admin
        try await app.test(.router) { client in
            for (scope, id, value) in [("team", "null", "team-value"), ("project", "\"pr-1\"", "project-value")] {
                let body = "{\"scope\": \"\(scope)\", \"id\": \(id), \"secrets\": [{\"name\": \"db_password\", \"value\": \"\(value)\"}]}"
                try await client.execute(uri: "/v1/secrets/set", method: .post, headers: Self.headers(admin), body: ByteBuffer(string: body)) { response in
                    #expect(response.status == .ok, "\(String(buffer: response.body))")
                }
            }
            let resolve = "{\"project\": \"pr-1\", \"cluster\": null, \"names\": [\"db_password\", \"absent\"]}"
            try await client.execute(uri: "/v1/resolve", method: .post, headers: Self.headers(admin), body: ByteBuffer(string: resolve)) { response in
                #expect(response.status == .ok)
                let answer = try JSONDecoder().decode(ResolveResponse.self, from: Data(response.body.readableBytesView))
                #expect(answer.secrets["db_password"]?.value == "project-value" && answer.secrets["db_password"]?.scope == "project")
                #expect(answer.missing == ["absent"])
            }
            let history = "{\"scope\": \"team\", \"id\": null, \"name\": \"db_password\"}"
            try await client.execute(uri: "/v1/secrets/history", method: .post, headers: Self.headers(admin), body: ByteBuffer(string: history)) { response in
                #expect(response.status == .ok)
                #expect(!String(buffer: response.body).contains("team-value"), "history never carries a value")
            }
        }
        await harness.close()
    }

    @Test("refusals: no key 401, a names key reading values 403, bad JSON 400, an unknown name in history 404, a GET on a POST route 405; none echoes a value or a token")
    func refusals() async throws {
        let harness = try await Harness.make()
        let viewer = try await harness.store.createKey(name: "viewer", grants: ["team:names"], expiresIn: nil, by: .databaseOwner, client: "test")
        let app = Application(router: harness.router)
        let admin = harness.admin
        try await app.test(.router) { client in
            let resolve = ByteBuffer(string: "{\"project\": null, \"cluster\": null, \"names\": [\"x\"]}")
            try await client.execute(uri: "/v1/resolve", method: .post, headers: Self.headers(nil), body: resolve) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/v1/resolve", method: .post, headers: Self.headers(viewer), body: resolve) { response in
                #expect(response.status == .forbidden)
                let text = String(buffer: response.body)
                #expect(text.contains("viewer") && !text.contains(viewer), "names the key, never its token: \(text)")
            }
            try await client.execute(uri: "/v1/resolve", method: .post, headers: Self.headers(admin), body: ByteBuffer(string: "{\"names\": ")) { response in
                #expect(response.status == .badRequest)
                #expect(Self.json(response.body)?["error"] != nil)
            }
            let history = ByteBuffer(string: "{\"scope\": \"team\", \"id\": null, \"name\": \"never_set\"}")
            try await client.execute(uri: "/v1/secrets/history", method: .post, headers: Self.headers(admin), body: history) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/v1/resolve", method: .get, headers: Self.headers(admin)) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow]?.contains("POST") == true)
            }
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
        await harness.close()
    }

    @Test("a field the document does not name is refused with 400 and named, at any depth, on the hot path's fallback and on the empty bodies; null and the known fields pass")
    func unknownFieldsAreRefused() async throws {
        let harness = try await Harness.make()
        let app = Application(router: harness.router)
        let admin = harness.admin
        try await app.test(.router) { client in
            let cases: [(uri: String, body: String, named: String?)] = [
                ("/v1/resolve", #"{"names": ["x"], "projet": "pr-1"}"#, "'projet'"),
                ("/v1/resolve", #"{"names": ["x"], "project": null, "cluster": "c-1"}"#, nil),
                ("/v1/secrets/set", #"{"scope": "team", "secrets": [{"name": "a", "value": "v", "valu": "w"}]}"#, "'secrets[0].valu'"),
                ("/v1/names", #"{"scopes": [{"scope": "team", "id": null, "kind": "x"}]}"#, "'scopes[0].kind'"),
                ("/v1/scopes", #"{"all": true}"#, "'all'"),
                ("/v1/scopes", "{}", nil),
                ("/v1/keys/list", "", nil),
            ]
            for (uri, body, named) in cases {
                try await client.execute(uri: uri, method: .post, headers: Self.headers(admin), body: ByteBuffer(string: body)) { response in
                    let text = String(buffer: response.body)
                    if let named {
                        #expect(response.status == .badRequest, "\(uri) \(body): \(text)")
                        #expect(text.contains(named), "\(uri): the message names the field: \(text)")
                    } else {
                        #expect(response.status == .ok, "\(uri) \(body): \(text)")
                    }
                }
            }
        }
        await harness.close()
    }
}
