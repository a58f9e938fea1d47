import Foundation
import Logging
import SecretFill
import SecretFillAPI
@testable import SecretFillServer
import Testing

/// Issue 25's schema step (5, members) against databases and backups made
/// before it: a schema 4 database migrates with its keys kept and no members,
/// and a backup taken at schema 4 (no members table) restores into a database
/// that then has one.
@Suite("members and older schemas")
struct MembersSchemaTests {
    static func open(_ path: String) async throws -> (any ServerDatabase, Task<Void, Never>) {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let database = try await openDatabase(.sqlite(path: path), logger: logger)
        return (database, Task { await database.run() })
    }

    static func schema(_ database: any ServerDatabase) async throws -> Int {
        try await database.session { sql in
            try await sql.raw("SELECT MAX(version) AS v FROM schema_migrations").all().first!.decode(column: "v", as: Int.self)
        }
    }

    @Test("a schema 4 database and a backup taken at schema 4 come to schema 5 with their keys and no members; members can be added then")
    func fromSchemaFour() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("members-schema-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let key = StoreKey.generate().key

        let (old, oldPool) = try await Self.open(folder + "/old.db")
        #expect(try await Migrations.migrate(old, upTo: 4) == [1, 2, 3, 4])
        let store = ServerStore(database: old, key: .file(key), logger: logger, deadlines: (read: 300, write: 300))
        _ = try await store.createKey(name: "admin", grants: ["admin"], expiresIn: nil, by: .databaseOwner, client: "test")
        let file = folder + "/old.backup"
        let summary = try await ServerBackup.write(old, key: .file(key), to: file, audit: true, progress: nil)
        #expect(summary.schema == 4)
        #expect(!summary.rows.contains { $0.table == "members" }, "a schema 4 backup has no members table: \(summary.rows)")

        // The old database itself migrates: steps 5, 6 (issue 27's data keys) and 7 (single sign-on), its key kept.
        #expect(try await Migrations.migrate(old) == [5, 6, 7])
        #expect(try await Self.schema(old) == Migrations.latest)
        #expect(try await store.listMembers(by: .databaseOwner, client: "test").isEmpty)
        #expect(try await store.listKeys(by: .databaseOwner, client: "test").map(\.name) == ["admin"])
        await old.close()
        oldPool.cancel()

        // The schema 4 backup restores into a new database at schema 5.
        let restored = try await ServerBackup.restore(.sqlite(path: folder + "/new.db"), key: .file(key), from: file)
        #expect(restored.schema == 4)
        let (new, newPool) = try await Self.open(folder + "/new.db")
        #expect(try await Self.schema(new) == Migrations.latest)
        let again = ServerStore(database: new, key: .file(key), logger: logger, deadlines: (read: 300, write: 300))
        #expect(try await again.listKeys(by: .databaseOwner, client: "test").map(\.name) == ["admin"])
        #expect(try await again.listMembers(by: .databaseOwner, client: "test").isEmpty)
        let added = try await again.addMember(name: "ana@acme.dev", grants: ["team:read"], by: .databaseOwner, client: "test")
        #expect(added.name == "ana@acme.dev" && !added.updated)
        await new.close()
        newPool.cancel()
    }
}
