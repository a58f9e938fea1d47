import SQLKit

/// PostgreSQL's statistics of the secret tables (`TableStatistics` says
/// when they are due and why). SQLite keeps none: neither call is made there.
protocol StatisticsRows: Sendable {
    /// What PostgreSQL last counted in `secrets` (-1: never analyzed) and whether it holds a row.
    func secretTableEstimate() async throws -> (rows: Int, populated: Bool)
    /// Runs ANALYZE on the secret tables and returns the rows PostgreSQL now counts in `secrets`.
    func analyzeSecretTables() async throws -> Int
}

extension SQLRepository {
    func secretTableEstimate() async throws -> (rows: Int, populated: Bool) {
        let rows = try await sql.raw("SELECT reltuples::bigint AS n, EXISTS (SELECT 1 FROM secrets) AS populated FROM pg_class WHERE oid = 'secrets'::regclass").all()
        guard let row = rows.first else { return (-1, false) }
        return (try row.decode(column: "n", as: Int.self), try row.decode(column: "populated", as: Bool.self))
    }

    func analyzeSecretTables() async throws -> Int {
        try await sql.raw("ANALYZE \(unsafeRaw: TableStatistics.tables)").run()
        let rows = try await sql.raw("SELECT reltuples::bigint AS n FROM pg_class WHERE oid = 'secrets'::regclass").all()
        return try rows.first?.decode(column: "n", as: Int.self) ?? 0
    }
}
