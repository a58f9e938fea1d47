import Foundation
import Logging
import SecretFill
import SecretFillAPI
@testable import SecretFillServer
import SQLKit
import Testing

/// Envelope sealing (issue 27) on a SQLite database in process: values are
/// sealed under a data key wrapped by the store key; values written before
/// (under the store key itself) still open, and the rekeys convert them.
@Suite("envelope sealing and rekey, in process")
struct EnvelopeSealingTests {
    static func key() throws -> StoreKey { try StoreKey(base64: StoreKey.generate().encoded, source: "test") }

    /// A SQLite database at schema `version`, with its pool running.
    static func database(at version: Int = Migrations.latest) async throws -> (any ServerDatabase, Task<Void, Never>, String) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("envelope-\(UUID().uuidString).db").path
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let database = try await openDatabase(.sqlite(path: path), logger: logger)
        let pool = Task { await database.run() }
        _ = try await Migrations.migrate(database, upTo: version)
        return (database, pool, path)
    }

    static func store(_ database: any ServerDatabase, key: StoreKey) -> ServerStore {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return ServerStore(database: database, key: .file(key), logger: logger, deadlines: (read: 300, write: 300))
    }

    static func sealedTexts(_ database: any ServerDatabase) async throws -> [String] {
        try await database.session { sql in
            try await sql.raw("SELECT sealed FROM secret_versions ORDER BY name, version").all().map { try $0.decode(column: "sealed", as: String.self) }
        }
    }

    @Test("a data key wraps under one store key and id only; the sealed text names its key")
    func wrapping() throws {
        let storeKey = try Self.key(), other = try Self.key()
        let data = StoreKey.generateDataKey()
        #expect(data.id.hasPrefix("dk-") && data.id.count == 19)
        let wrapped = storeKey.wrap(data.key, id: data.id)
        #expect(storeKey.unwrap(wrapped, id: data.id)?.fingerprint == data.key.fingerprint)
        #expect(other.unwrap(wrapped, id: data.id) == nil, "another store key unwrapped the data key")
        #expect(storeKey.unwrap(wrapped, id: "dk-0000000000000000") == nil, "a wrapped key opened under another id")
        #expect(EnvelopeText.keyID(of: "dk-1:QUJD") == "dk-1")
        #expect(EnvelopeText.body(of: "dk-1:QUJD") == "QUJD")
        #expect(EnvelopeText.keyID(of: "QUJD") == nil && EnvelopeText.body(of: "QUJD") == "QUJD")
    }

    @Test("values written before schema 6 (under the store key) still resolve; new ones name the data key; rekey --data converts every one")
    func legacyValuesStayReadable() async throws {
        let (database, pool, path) = try await Self.database(at: 5)
        defer { pool.cancel(); for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let storeKey = try Self.key()
        try await Migrations.checkKey(database, fingerprint: storeKey.fingerprint)
        // As a secretfill before envelope sealing wrote it.
        let legacy = Data(VersionedSealer.seal(try SecretValue(validating: Array("old-value".utf8)), name: "old", scope: .team, version: 1, key: storeKey)).base64EncodedString()
        try await database.transaction { sql in
            try await sql.raw("INSERT INTO secrets (scope_kind, scope_id, name, current_version, deleted, updated_at, updated_by) VALUES ('team', '', 'old', 1, 0, 0, 'test')").run()
            try await sql.raw("INSERT INTO secret_versions (scope_kind, scope_id, name, version, sealed, created_at, created_by) VALUES ('team', '', 'old', 1, \(bind: legacy), 0, 'test')").run()
        }
        #expect(try await Migrations.migrate(database) == [6, 7])
        let store = Self.store(database, key: storeKey)
        _ = try await store.set([("new", try SecretValue(validating: Array("new-value".utf8)))], in: .team, by: .databaseOwner, client: "test")
        let before = try await store.resolve(chain: ScopeChain(project: nil, cluster: nil), names: ["old", "new"], by: .databaseOwner, client: "test")
        #expect(before.found["old"]?.value.revealed == "old-value")
        #expect(before.found["new"]?.value.revealed == "new-value")
        let texts = try await Self.sealedTexts(database)
        #expect(texts.count == 2)
        #expect(texts.contains(legacy), "the old value was rewritten by a migration that cannot hold the key")
        #expect(texts.filter { EnvelopeText.keyID(of: $0) != nil }.count == 1)
        await database.close()

        let outcome = try await DatabaseRekey.rotateData(.sqlite(path: path), key: .file(storeKey))
        #expect(outcome.summary.contains("2 value(s) re-encrypted"), "\(outcome.summary)")
        #expect(try await DatabaseRekey.status(.sqlite(path: path)) == "done")
        let (again, pool2, _) = try await Self.reopen(path)
        defer { pool2.cancel() }
        let after = try await Self.sealedTexts(again)
        let ids = Set(after.compactMap { EnvelopeText.keyID(of: $0).map(String.init) })
        #expect(ids.count == 1 && after.allSatisfy { EnvelopeText.keyID(of: $0) != nil }, "\(after)")
        #expect(Set(after).isDisjoint(with: texts), "a value kept its ciphertext through rekey --data")
        let keys = try await again.session { sql in try await sql.raw("SELECT id FROM data_keys").all().map { try $0.decode(column: "id", as: String.self) } }
        #expect(Set(keys) == ids, "the old data key was not destroyed, or the new one is missing")
        let reread = try await Self.store(again, key: storeKey).resolve(chain: ScopeChain(project: nil, cluster: nil), names: ["old", "new"], by: .databaseOwner, client: "test")
        #expect(reread.found["old"]?.value.revealed == "old-value" && reread.found["new"]?.value.revealed == "new-value")
        await again.close()
    }

    @Test("rekey --new-key-file: the data key re-wrapped, values untouched; the old store key is refused from then on, and opens nothing after rekey --data")
    func newStoreKey() async throws {
        let (database, pool, path) = try await Self.database()
        defer { pool.cancel(); for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let old = try Self.key(), new = try Self.key()
        try await Migrations.checkKey(database, fingerprint: old.fingerprint)
        let running = Self.store(database, key: old)
        _ = try await running.set([("a", try SecretValue(validating: Array("A".utf8)))], in: .team, by: .databaseOwner, client: "test")
        let texts = try await Self.sealedTexts(database)

        let outcome = try await DatabaseRekey.rewrap(.sqlite(path: path), current: .file(old), new: .file(new))
        #expect(outcome.summary.contains("re-wrapped 1 data key(s)") && outcome.summary.contains(new.fingerprint), "\(outcome.summary)")
        #expect(try await Self.sealedTexts(database) == texts, "a re-wrap re-encrypted values")
        // A server started before keeps serving reads and writes with the data key it holds.
        _ = try await running.set([("b", try SecretValue(validating: Array("B".utf8)))], in: .team, by: .databaseOwner, client: "test")
        let read = try await running.resolve(chain: ScopeChain(project: nil, cluster: nil), names: ["a", "b"], by: .databaseOwner, client: "test")
        #expect(read.found["a"]?.value.revealed == "A" && read.found["b"]?.value.revealed == "B")
        // A start with the old key is refused, naming the key expected.
        await #expect(throws: Migrations.KeyMismatch.self) { try await Migrations.checkKey(database, fingerprint: old.fingerprint) }
        do {
            _ = try await DatabaseRekey.rotateData(.sqlite(path: path), key: .file(old))
            Issue.record("rekey --data with the old key went ahead")
        } catch let error as Migrations.KeyMismatch {
            #expect(error.description.contains(new.fingerprint), "\(error.description)")
        }
        // Running it again is harmless.
        #expect(try await DatabaseRekey.rewrap(.sqlite(path: path), current: .file(old), new: .file(new)).summary.contains("nothing to do"))

        _ = try await DatabaseRekey.rotateData(.sqlite(path: path), key: .file(new))
        let wrapped = try await database.session { sql in
            try await sql.raw("SELECT id, wrapped FROM data_keys").all().map { (try $0.decode(column: "id", as: String.self), try $0.decode(column: "wrapped", as: String.self)) }
        }
        #expect(wrapped.count == 1)
        for (id, text) in wrapped {
            #expect(old.unwrap(text, id: id) == nil, "the old store key still unwraps a data key")
            #expect(new.unwrap(text, id: id) != nil)
        }
        let fresh = try await Self.store(database, key: new).resolve(chain: ScopeChain(project: nil, cluster: nil), names: ["a", "b"], by: .databaseOwner, client: "test")
        #expect(fresh.found["a"]?.value.revealed == "A" && fresh.found["b"]?.value.revealed == "B")
        await database.close()
    }

    @Test("a step missing below the highest recorded one is applied (a database that got step 6 before step 5)")
    func missingStepIsApplied() async throws {
        let (database, pool, path) = try await Self.database()
        defer { pool.cancel(); for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        try await database.transaction { sql in
            try await sql.raw("DROP TABLE members").run()
            try await sql.raw("DELETE FROM schema_migrations WHERE version = 5").run()
        }
        #expect(try await Migrations.migrate(database) == [5])
        #expect(try await Migrations.migrate(database) == [])
        let members = try await database.session { sql in try await sql.raw("SELECT COUNT(*) AS n FROM members").all().first?.decode(column: "n", as: Int.self) }
        #expect(members == 0)
        await database.close()
    }

    static func reopen(_ path: String) async throws -> (any ServerDatabase, Task<Void, Never>, String) {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let database = try await openDatabase(.sqlite(path: path), logger: logger)
        return (database, Task { await database.run() }, path)
    }
}
