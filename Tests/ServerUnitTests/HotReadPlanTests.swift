import Foundation
import SQLKit
@testable import SecretFillServer
import Testing

/// Issue 22, item 8: the hot read's plan must not wait for PostgreSQL's
/// statistics. On tables filled the way an import fills them and never
/// analyzed, the generic plan of both resolve statements finds every row by
/// an index probe: no sequential or bitmap scan of `secrets` or
/// `secret_versions`. (The statements before this shape fail it: the batched
/// one scanned every team row by the primary key's prefix, a bitmap heap scan.)
@Suite("The hot read's plan without statistics", .serialized)
struct HotReadPlanTests {
    /// 10,000 team names in 40 statements of 250, as 40 imports of 250 write
    /// them, with autovacuum kept off these tables so nothing analyzes them.
    static func fillUnanalyzed(_ database: PostgresDatabaseBackend) async throws {
        try await database.session { sql in
            for table in ["secrets", "secret_versions"] {
                try await sql.raw("ALTER TABLE \(unsafeRaw: table) SET (autovacuum_enabled = false)").run()
            }
            for chunk in 0..<40 {
                let first = chunk * 250, last = chunk * 250 + 249
                try await sql.raw("""
                    INSERT INTO secrets (scope_kind, scope_id, name, current_version, deleted, updated_at, updated_by)
                    SELECT 'team', '', 's' || lpad(i::text, 5, '0'), 1, 0, 0, 'test' FROM generate_series(\(unsafeRaw: String(first)), \(unsafeRaw: String(last))) i
                    """).run()
                try await sql.raw("""
                    INSERT INTO secret_versions (scope_kind, scope_id, name, version, sealed, created_at, created_by)
                    SELECT 'team', '', 's' || lpad(i::text, 5, '0'), 1, repeat('x', 80), 0, 'test' FROM generate_series(\(unsafeRaw: String(first)), \(unsafeRaw: String(last))) i
                    """).run()
            }
        }
    }

    /// The generic plan (the one the server's connections use) of `statement` run with `arguments`.
    static func genericPlan(_ database: PostgresDatabaseBackend, _ statement: String, arguments: String) async throws -> [String] {
        try await database.session { sql in
            try await sql.raw("SET plan_cache_mode = force_generic_plan").run()
            try await sql.raw("PREPARE hot_read_plan_test AS \(unsafeRaw: statement)").run()
            let rows = try await sql.raw("EXPLAIN EXECUTE hot_read_plan_test(\(unsafeRaw: arguments))").all()
            try await sql.raw("DEALLOCATE hot_read_plan_test").run()
            return try rows.map { try $0.decode(column: "QUERY PLAN", as: String.self) }
        }
    }

    /// Every scan of the two tables is an index probe.
    static func expectIndexProbes(_ plan: [String]) {
        let scans = plan.filter { $0.contains(" on secrets ") || $0.contains(" on secret_versions ") }
        #expect(scans.count == 2, "\(plan.joined(separator: "\n"))")
        for scan in scans {
            #expect(scan.contains("Index Scan") || scan.contains("Index Only Scan"), "\(plan.joined(separator: "\n"))")
        }
        #expect(!plan.contains { $0.contains("Seq Scan") || $0.contains("Bitmap") }, "\(plan.joined(separator: "\n"))")
    }

    static let tenNames = (4000..<4010).map { "s0\($0)" }

    static func array(_ items: [String]) -> String { "'{" + items.map { "\"\($0)\"" }.joined(separator: ",") + "}'" }

    @Test("after 10,000 names are written and nothing analyzed the tables, both resolve statements probe the indexes")
    func planWithoutStatistics() async throws {
        try await BatchedResolveTests.withFreshDatabase { database in
            try await Self.fillUnanalyzed(database)
            let analyzed = try await database.session { sql in
                try await sql.raw("SELECT reltuples::bigint AS n FROM pg_class WHERE oid = 'secrets'::regclass").all()
                    .first?.decode(column: "n", as: Int.self)
            }
            #expect(analyzed == -1, "the test needs tables PostgreSQL has never analyzed")

            let single = try await Self.genericPlan(database, PostgresHotQueries.AuditedRead.sql, arguments: """
                1, 'reader', 'read', 'team', 'x', '127.0.0.1', 'ok', \(Self.array(Array(repeating: "team", count: 10))),
                \(Self.array(Array(repeating: "", count: 10))), \(Self.array(Self.tenNames))
                """)
            Self.expectIndexProbes(single)

            // 16 resolves of the same 10 names, team scope: what bench/server.sh sends under load.
            let requests = 16
            let one = { (value: String) in Self.array(Array(repeating: value, count: requests)) }
            let names = (1...requests).flatMap { _ in Self.tenNames }
            let batch = try await Self.genericPlan(database, PostgresHotQueries.AuditedReadBatch.sql, arguments: """
                '{\((1...requests).map { _ in "1" }.joined(separator: ","))}', \(one("reader")), \(one("read")), \(one("team")), \(one("x")),
                \(one("127.0.0.1")), \(one("ok")),
                '{\((1...requests).flatMap { ord in Array(repeating: String(ord), count: 10) }.joined(separator: ","))}',
                '{\((1...requests).flatMap { _ in (0..<10).map(String.init) }.joined(separator: ","))}',
                '{\(names.map { _ in "2" }.joined(separator: ","))}',
                \(Self.array(names)), \(one("")), \(one("")), \(requests)
                """)
            Self.expectIndexProbes(batch)
        }
    }

    @Test("the server analyzes after writes of more than a tenth of the table and 50 rows, one ANALYZE at a time")
    func analyzeThreshold() {
        let statistics = TableStatistics()
        #expect(!statistics.wrote(50))          // an empty table: 50 rows are not enough
        #expect(statistics.wrote(1))
        #expect(!statistics.wrote(250))         // one ANALYZE at a time
        statistics.analyzed(rows: 1_000)
        #expect(!statistics.wrote(150))         // exactly 50 and a tenth: not more
        #expect(statistics.wrote(1))
        statistics.analyzeFailed()              // the changes stay counted: the next write tries again
        #expect(statistics.wrote(0))
        statistics.analyzed(rows: 10_000)
        #expect(!statistics.wrote(1_050))
        #expect(statistics.wrote(1))
    }
}
