import Foundation
import Logging
import NIOCore
import SecretFill
import SQLKit
@testable import SecretFillServer
import Testing

/// The PostgreSQL statement that resolves several requests at once
/// (`AuditedReadBatch`), on a real PostgreSQL: it must answer each request
/// exactly as the one-request statement does, and audit each.
@Suite("Batched resolve on PostgreSQL", .serialized)
struct BatchedResolveTests {
    /// `SECRETFILL_TEST_DATABASE_URL` (scripts/test.sh sets it), else a
    /// cluster started with scripts/postgres.sh for this process and stopped
    /// at exit. Fails, never skips, when neither works.
    static let cluster: Result<String, ClusterUnavailable> = {
        if let url = ProcessInfo.processInfo.environment["SECRETFILL_TEST_DATABASE_URL"], !url.isEmpty { return .success(url) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let script = root.appendingPathComponent("scripts/postgres.sh").path
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("secretfill-unit-pg-\(UUID().uuidString)").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script, "start", directory]
        let output = Pipe()
        process.standardOutput = output
        do { try process.run() } catch { return .failure(ClusterUnavailable(detail: "\(error)")) }
        let url = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return .failure(ClusterUnavailable(detail: "scripts/postgres.sh start exited \(process.terminationStatus)")) }
        stopAtExit = (script, directory)
        atexit {
            guard let (script, directory) = BatchedResolveTests.stopAtExit else { return }
            let stop = Process()
            stop.executableURL = URL(fileURLWithPath: "/bin/bash")
            stop.arguments = [script, "stop", directory]
            try? stop.run()
            stop.waitUntilExit()
        }
        return .success(url.trimmingCharacters(in: .whitespacesAndNewlines))
    }()
    nonisolated(unsafe) static var stopAtExit: (String, String)?

    struct ClusterUnavailable: Error, CustomStringConvertible {
        let detail: String
        var description: String { "PostgreSQL is needed for this test and is not available: \(detail)" }
    }

    static func backend(_ url: String) async throws -> PostgresDatabaseBackend {
        // Quiet: PostgresNIO warns when a lease comes a moment before run() starts.
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let database = try await openDatabase(try DatabaseLocation(parsing: url), logger: logger)
        return try #require(database as? PostgresDatabaseBackend)
    }

    /// Runs `body` with a migrated, empty database of its own.
    static func withFreshDatabase(_ body: @escaping @Sendable (PostgresDatabaseBackend) async throws -> Void) async throws {
        let base = try cluster.get()
        let name = "u_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        let admin = try await backend(base)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await admin.run() }
            try await admin.session { sql in try await sql.raw("CREATE DATABASE \(unsafeRaw: name)").run() }
            group.cancelAll()
        }
        let url = base.replacingOccurrences(of: #"/[^/]*$"#, with: "/\(name)", options: .regularExpression)
        let database = try await backend(url)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await database.run() }
            _ = try await Migrations.migrate(database)
            try await body(database)
            group.cancelAll()
        }
    }

    /// A row as text, to compare answers: scope, name, version, sealed.
    static func text(_ records: [SealedRecord]) -> [String] {
        records.map { "\($0.scope) \($0.name) v\($0.version) \($0.sealed)" }.sorted()
    }

    static func read(_ key: String, _ names: [String], _ chain: ScopeChain) -> PostgresHotQueries.Read {
        PostgresHotQueries.Read(audit: AuditRecord(time: 1, key: key, action: "read", scope: chain.description, names: names,
                                                   client: "127.0.0.1", outcome: "ok"),
                                names: names, chain: chain, deadline: NIODeadline.now() + .seconds(120), seconds: 120)
    }

    /// Team a, b, c (and d deleted); project p1 a; project p2 b (version 2 current);
    /// cluster c1 a and c. Sealed texts name where each row is.
    static func fill(_ database: PostgresDatabaseBackend) async throws {
        let rows: [(kind: String, id: String, name: String, version: Int, deleted: Int)] = [
            ("team", "", "a", 1, 0), ("team", "", "b", 1, 0), ("team", "", "c", 1, 0), ("team", "", "d", 1, 1),
            ("project", "p1", "a", 1, 0), ("project", "p2", "b", 2, 0), ("cluster", "c1", "a", 1, 0), ("cluster", "c1", "c", 1, 0),
        ]
        for row in rows {
            try await insert(database, kind: row.kind, id: row.id, name: row.name, versions: row.version, deleted: row.deleted)
        }
    }

    static func insert(_ database: PostgresDatabaseBackend, kind: String, id: String, name: String, versions: Int, deleted: Int) async throws {
        try await database.session { sql in
            let current: SQLQueryString = """
                INSERT INTO secrets (scope_kind, scope_id, name, current_version, deleted, updated_at, updated_by)
                VALUES (\(bind: kind), \(bind: id), \(bind: name), \(bind: versions), \(bind: deleted), 0, 'test')
                """
            try await sql.raw(current).run()
            for version in 1...versions {
                let sealed = kind + "/" + id + "/" + name + "@" + String(version)
                let row: SQLQueryString = """
                    INSERT INTO secret_versions (scope_kind, scope_id, name, version, sealed, created_at, created_by)
                    VALUES (\(bind: kind), \(bind: id), \(bind: name), \(bind: version), \(bind: sealed), 0, 'test')
                    """
                try await sql.raw(row).run()
            }
        }
    }

    static let reads: [PostgresHotQueries.Read] = [
        read("k1", ["a", "b", "c", "d", "zz"], ScopeChain()),
        read("k2", ["a", "b", "c"], ScopeChain(project: "p1", cluster: "c1")),
        read("k3", ["b"], ScopeChain(project: "p2")),
        read("k4", ["c", "a"], ScopeChain(cluster: "c1")),
        read("k5", [], ScopeChain(project: "p1")),
        read("k6", ["a", "b"], ScopeChain(project: "nope", cluster: "c1")),
    ]

    @Test("one statement for six resolves answers each as the one-resolve statement does, in its own scopes only, with six audit rows in order")
    func batchEqualsSingles() async throws {
        try await Self.withFreshDatabase { database in
            try await Self.fill(database)
            let together = try await PostgresDatabaseBackend.auditedReads(Self.reads, on: database.pools[0].hot, logger: database.logger)
            var alone: [[SealedRecord]] = []
            for read in Self.reads { alone += try await PostgresDatabaseBackend.auditedReads([read], on: database.pools[0].hot, logger: database.logger) }
            #expect(together.count == Self.reads.count)
            for index in Self.reads.indices {
                #expect(Self.text(together[index]) == Self.text(alone[index]), "resolve \(index + 1)")
            }
            // What each resolve may see: rows of its own scopes, current versions only, no deleted name.
            #expect(Self.text(together[0]) == ["team a v1 team//a@1", "team b v1 team//b@1", "team c v1 team//c@1"])
            #expect(Self.text(together[2]) == ["project p2 b v2 project/p2/b@2", "team b v1 team//b@1"])
            #expect(Self.text(together[4]) == [])
            #expect(Self.text(together[5]) == ["cluster c1 a v1 cluster/c1/a@1", "team a v1 team//a@1", "team b v1 team//b@1"])
            let audit = try await database.session { sql in
                try await sql.raw("SELECT key_name, scope, names FROM audit_log ORDER BY id").all().map { row in
                    "\(try row.decode(column: "key_name", as: String.self)) | \(try row.decode(column: "scope", as: String.self)) | \(try row.decode(column: "names", as: String.self))"
                }
            }
            let expected = Self.reads.map { "\($0.audit.key) | \($0.audit.scope) | \($0.audit.namesColumn)" }
            #expect(audit == expected + expected)
        }
    }

    @Test("60 resolves at once through the server's batcher: each gets the answer it gets alone, and each is audited once")
    func concurrentThroughBatcher() async throws {
        try await Self.withFreshDatabase { database in
            try await Self.fill(database)
            var alone: [[String]] = []
            for read in Self.reads { alone.append(Self.text(try await PostgresDatabaseBackend.auditedReads([read], on: database.pools[0].hot, logger: database.logger)[0])) }
            let answers = try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
                for request in 0..<60 {
                    let read = Self.reads[request % Self.reads.count]
                    group.addTask {
                        (request, Self.text(try await database.auditedRead(read.audit, names: read.names, in: read.chain, deadline: 120))) // generous: beside the whole suite on two cores, 60 reads waited past 5 s; what is checked is the answers
                    }
                }
                var answers: [Int: [String]] = [:]
                for try await (request, answer) in group { answers[request] = answer }
                return answers
            }
            for request in 0..<60 { #expect(answers[request] == alone[request % Self.reads.count], "request \(request)") }
            let counts = try await database.session { sql in
                try await sql.raw("SELECT key_name, count(*) AS n FROM audit_log GROUP BY key_name ORDER BY key_name").all().map { row in
                    "\(try row.decode(column: "key_name", as: String.self)) \(try row.decode(column: "n", as: Int.self))"
                }
            }
            #expect(counts == ["k1 11", "k2 11", "k3 11", "k4 11", "k5 11", "k6 11"])
        }
    }

    @Test("the hot read's own connection: held across reads (one backend), opened again after PostgreSQL ends it, and closed with the server")
    func hotConnectionOutsideThePool() async throws {
        try await Self.withFreshDatabase { database in
            try await Self.fill(database)
            let hot = database.pools[0].hot
            let read = Self.reads[0]
            let expected = Self.text(try await PostgresDatabaseBackend.auditedReads([read], on: hot, logger: database.logger)[0])
            #expect(!expected.isEmpty)
            let backend = { () async throws -> Int in
                try await hot.run { connection in
                    var pid = 0
                    for try await (value,) in try await connection.query("SELECT pg_backend_pid()", logger: database.logger).decode((Int32,).self) { pid = Int(value) }
                    return pid
                }
            }
            let first = try await backend()
            _ = try await PostgresDatabaseBackend.auditedReads([read], on: hot, logger: database.logger)
            #expect(try await backend() == first, "the hot read did not keep its connection between reads")

            // PostgreSQL ends the connection (a restart, an administrator): the read that finds it gone fails
            // with a database error (answered 503), and the next one opens a new connection and answers.
            try await database.session { sql in try await sql.raw("SELECT pg_terminate_backend(CAST(\(bind: first) AS integer))").run() }
            var failedOnce = false
            var answer: [String] = []
            for _ in 0..<2 {
                do {
                    answer = Self.text(try await PostgresDatabaseBackend.auditedReads([read], on: hot, logger: database.logger)[0])
                    break
                } catch {
                    failedOnce = true
                }
            }
            #expect(answer == expected, "no read answered after PostgreSQL ended the connection (failed once: \(failedOnce))")
            let second = try await backend()
            #expect(second != first, "the ended connection was not replaced")
            #expect(hot.isOpen)
            await hot.close()
            #expect(!hot.isOpen)
        }
    }
}
