import Foundation
import Logging
@testable import SecretFillServer
import SQLKit
import Testing

/// A transaction left open on the SQLite connection (its COMMIT and ROLLBACK
/// both failed) is rolled back when the next turn begins, instead of making
/// that and every later write fail with "cannot start a transaction within a
/// transaction".
@Suite("SQLite: a transaction nothing owns")
struct SQLiteOrphanTests {
    @Test("the next transaction rolls the orphan back (its write is gone) and commits its own")
    func orphanIsRolledBack() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("orphan-\(UUID().uuidString).db").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let database = try await openDatabase(.sqlite(path: path), logger: logger)
        try await database.session { sql in try await sql.raw("CREATE TABLE t (v TEXT)").run() }
        // An owner that began, wrote and then lost its transaction.
        try await database.session { sql in
            try await sql.raw("BEGIN IMMEDIATE").run()
            try await sql.raw("INSERT INTO t (v) VALUES ('orphan')").run()
        }
        let begun = await #expect(throws: (any Error).self) {
            try await database.session { sql in try await sql.raw("BEGIN IMMEDIATE").run() }
        }
        #expect("\(begun.map { "\($0)" } ?? "")".contains("within a transaction"), "the state this guards against")
        try await database.transaction { sql in try await sql.raw("INSERT INTO t (v) VALUES ('next')").run() }
        try await database.transaction { sql in try await sql.raw("INSERT INTO t (v) VALUES ('after')").run() }
        let values = try await database.session { sql in
            try await sql.raw("SELECT v FROM t ORDER BY rowid").all().map { try $0.decode(column: "v", as: String.self) }
        }
        #expect(values == ["next", "after"])
        await database.close()
    }
}
