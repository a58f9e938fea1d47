import NIOCore
import PostgresNIO
import SecretFill
import SQLKit

/// One API key as authentication reads it.
struct KeyRecord: Sendable {
    let name, digest, grants: String
    let expires, revoked, lastUsed: Int?
}

/// One current value as stored: sealed, with the scope and version its
/// associated data binds.
struct SealedRecord: Sendable {
    let scope: Scope
    let name: String
    let version: Int
    let sealed: String
}

/// One row of the audit log. Never a value, never a token.
struct AuditRecord: Sendable {
    var time: Int
    let key, action, scope: String
    let names: [String]
    var client: String
    let outcome: String
    /// How many requests this row stands for (refusals before authentication are counted per address and second).
    var repeats: Int = 1
    /// What else the row says (an OIDC exchange's issuer and, when refused, the failed check): never a token.
    var detail: String? = nil

    /// `detail` as the column holds it: at most 1 KiB.
    var detailColumn: String? { detail.map { String($0.utf8.prefix(1024)) ?? "-" } }

    /// Names kept in one row: a request naming more is recorded with its
    /// first ones and `+N more`, so no request can write a large row.
    static let keptNames = 100

    /// The names as the `names` column holds them: comma-separated, at most
    /// `keptNames` of them, then `+N more` (not a valid secret name, so a
    /// filter by name never matches it).
    var namesColumn: String {
        guard names.count > Self.keptNames else { return names.joined(separator: ",") }
        return names.prefix(Self.keptNames).joined(separator: ",") + ",+\(names.count - Self.keptNames) more"
    }

    /// Writes the row and returns its id.
    func insertReturningID(into sql: any SQLDatabase) async throws -> Int? {
        let rows = try await sql.raw("""
            INSERT INTO audit_log (time, key_name, action, scope, names, client, outcome, repeats, detail)
            VALUES (\(bind: time), \(bind: key), \(bind: action), \(bind: scope), \(bind: namesColumn), \(bind: client), \(bind: outcome), \(bind: repeats),
              \(bind: detailColumn))
            RETURNING id
            """).all()
        return try rows.first?.decode(column: "id", as: Int.self)
    }

    func insert(into sql: any SQLDatabase) async throws {
        try await sql.raw("""
            INSERT INTO audit_log (time, key_name, action, scope, names, client, outcome, repeats, detail)
            VALUES (\(bind: time), \(bind: key), \(bind: action), \(bind: scope), \(bind: namesColumn), \(bind: client), \(bind: outcome), \(bind: repeats),
              \(bind: detailColumn))
            """).run()
    }
}

/// The two queries every `POST /v1/resolve` makes, written once in SQLKit
/// for every backend. PostgreSQL replaces them with prepared statements
/// (`PostgresHotQueries`), measured with bench/server.sh.
///
/// Why this read is written three times, here in one file (issue 22, item
/// 4), and outside the `ServerRepository` facets: it is the server's hot
/// path, and each form pays for itself on it.
/// - SQLKit (this extension): SQLite, and redact's read of every value
///   (`/v1/values`) on both databases; the audit insert and the read are
///   two statements in one session.
/// - Prepared (`PostgresHotQueries.KeyByDigest`, `AuditedRead`): parsed and
///   planned once per connection, rows decoded by position, the audit insert
///   and the read in one round trip; its plan is kept statistics-proof by
///   `PostgresHotQueries.lookup` (figures there).
/// - Batched (`AuditedReadBatch`, sent by `ReadBatcher` when every slot is
///   busy): much of PostgreSQL's work is per statement, not per resolve;
///   sharing took its CPU per resolve from about 300 to 140–190 µs
///   (`ReadBatcher`; BENCHMARKS.md: PostgreSQL 147–167 against 194–215 µs,
///   p99 9.8–10.6 against 12.1–13.4 ms with one slot per event loop).
/// `ServerDatabase.key(digest:)` and `auditedRead` choose among them.
extension ServerDatabase {
    func key(digest: String) async throws -> KeyRecord? {
        try await session { sql in
            let rows = try await sql.raw("SELECT name, token_digest, grants, expires_at, revoked_at, last_used_at FROM api_keys WHERE token_digest = \(bind: digest)").all()
            guard let row = rows.first else { return nil }
            return KeyRecord(name: try row.decode(column: "name", as: String.self),
                             digest: try row.decode(column: "token_digest", as: String.self),
                             grants: try row.decode(column: "grants", as: String.self),
                             expires: try row.decode(column: "expires_at", as: Int?.self),
                             revoked: try row.decode(column: "revoked_at", as: Int?.self),
                             lastUsed: try row.decode(column: "last_used_at", as: Int?.self))
        }
    }

    /// Writes `audit`, then reads the current sealed values of `names` in
    /// `chain`'s scopes. The audit row commits before any value is read: a
    /// read that cannot be audited reads nothing.
    func auditedRead(_ audit: AuditRecord, names: [String], in chain: ScopeChain, deadline: Int) async throws -> [SealedRecord] {
        try await withDeadline(seconds: deadline) { try await sqlAuditedRead(audit, names: names, in: chain) }
    }

    /// `auditedRead` in SQLKit, on every backend; `names` nil reads every
    /// name (redact's `/v1/values`).
    func sqlAuditedRead(_ audit: AuditRecord, names: [String]?, in chain: ScopeChain) async throws -> [SealedRecord] {
        try await session { sql in
            try await audit.insert(into: sql)
            if names?.isEmpty == true { return [] }
            var query = SQLQueryString("""
                SELECT s.scope_kind, s.scope_id, s.name, s.current_version, v.sealed FROM secrets s
                JOIN secret_versions v ON v.scope_kind = s.scope_kind AND v.scope_id = s.scope_id AND v.name = s.name AND v.version = s.current_version
                WHERE s.deleted = 0 AND \(SQLRepository.scopeCondition(chain.scopes, prefix: "s."))
                """)
            if let names { query = query + " AND s.name IN (\(binds: names))" }
            return try await sql.raw(query).all().map { row in
                SealedRecord(scope: try ServerStore.scope(kind: row.decode(column: "scope_kind", as: String.self), id: row.decode(column: "scope_id", as: String.self)),
                             name: try row.decode(column: "name", as: String.self),
                             version: try row.decode(column: "current_version", as: Int.self),
                             sealed: try row.decode(column: "sealed", as: String.self))
            }
        }
    }
}

/// PostgreSQL's versions of the hot queries: prepared once per connection
/// (PostgreSQL parses and plans them once, not per request), rows decoded
/// by position, and the audit insert and the read in one statement (one
/// round trip; the statement is atomic, so no row is returned unless the
/// audit row is written).
enum PostgresHotQueries {
    struct KeyByDigest: PostgresPreparedStatement {
        static let name = "secretfill_key_by_digest_1"
        static let sql = "SELECT name, token_digest, grants, expires_at, revoked_at, last_used_at FROM api_keys WHERE token_digest = $1"
        static var bindingDataTypes: [PostgresDataType] { [.text] }
        typealias Row = (String, String, String, Int?, Int?, Int?)
        let digest: String

        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 1)
            bindings.append(digest)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    struct AuditedRead: PostgresPreparedStatement {
        static let name = "secretfill_audited_read_2"
        // The scalar subquery reads the audit CTE, so PostgreSQL runs the
        // insert before it returns a row; were it to fail, the statement fails whole.
        // The lookup is written so that its plan cannot depend on statistics
        // (see `lookup`): one primary-key probe per (scope, name) asked.
        static let sql = """
            WITH audit AS (
              INSERT INTO audit_log (time, key_name, action, scope, names, client, outcome)
              VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id)
            SELECT w.kind, w.id, w.name, f.current_version, f.sealed
            FROM unnest($8::text[], $9::text[], $10::text[]) AS w(kind, id, name)
            \(PostgresHotQueries.lookup)
            WHERE (SELECT count(*) FROM audit) = 1
            """
        static var bindingDataTypes: [PostgresDataType] { [.int8, .text, .text, .text, .text, .text, .text, .textArray, .textArray, .textArray] }
        typealias Row = (String, String, String, Int, String)
        let audit: AuditRecord
        let names: [String]
        let chain: ScopeChain

        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 10)
            bindings.append(audit.time)
            bindings.append(audit.key)
            bindings.append(audit.action)
            bindings.append(audit.scope)
            bindings.append(audit.namesColumn)
            bindings.append(audit.client)
            bindings.append(audit.outcome)
            var kinds: [String] = [], ids: [String] = [], keys: [String] = []
            let scopes = chain.scopes
            kinds.reserveCapacity(scopes.count * names.count)
            ids.reserveCapacity(scopes.count * names.count)
            keys.reserveCapacity(scopes.count * names.count)
            for scope in scopes {
                let (kind, id) = ServerStore.columns(scope)
                for name in names {
                    kinds.append(kind)
                    ids.append(id)
                    keys.append(name)
                }
            }
            bindings.append(kinds)
            bindings.append(ids)
            bindings.append(keys)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// How both hot statements find a value: for each (scope kind, scope id,
    /// name) asked, `w`, one probe of `secrets` by its whole primary key and
    /// one of `secret_versions` by its whole primary key.
    ///
    /// Why this shape (issue 22, item 8): the statements run with generic
    /// plans (`plan_cache_mode`), planned once per connection. Written as a
    /// join with `name = ANY(…)` and the scopes as OR-ed conditions, the plan
    /// depended on PostgreSQL's statistics: right after an import of 10,000
    /// names, before autovacuum had analyzed the tables, the batched statement
    /// scanned every team row by the primary key's prefix for each name asked
    /// (bench/server.sh: 250 resolves/s, p99 88 ms, against 4,950/s after
    /// ANALYZE; EXPLAIN ANALYZE of 16 resolves of 10 names: 540 against 1 ms).
    /// Here the lookup is a LATERAL subquery that OFFSET 0 keeps from being
    /// flattened into the join: PostgreSQL must run it once per row of `w`,
    /// with every primary-key column given, and a unique index probe is the
    /// cheapest way to find one row by its key at any size the statistics
    /// claim but the smallest (a table analyzed when it held a handful of
    /// rows, where a scan is cheaper): `ServerStore` analyzes the tables
    /// after writes that change them by more than a tenth (`TableStatistics`),
    /// which also makes PostgreSQL plan the statement again. The test
    /// `HotReadPlanTests` checks the plan on a table never analyzed.
    static let lookup = """
        CROSS JOIN LATERAL (
          SELECT s.current_version, v.sealed FROM secrets s
          JOIN secret_versions v ON v.scope_kind = s.scope_kind AND v.scope_id = s.scope_id AND v.name = s.name AND v.version = s.current_version
          WHERE s.scope_kind = w.kind AND s.scope_id = w.id AND s.name = w.name AND s.deleted = 0
          OFFSET 0) f
        """

    /// One resolve to run in an `AuditedReadBatch`.
    struct Read: Sendable {
        let audit: AuditRecord
        let names: [String]
        let chain: ScopeChain
        /// When to stop waiting for the database, and what it was in seconds.
        let deadline: NIODeadline
        let seconds: Int
    }

    /// `AuditedRead` for several resolves at once (`ReadBatcher`): one audit
    /// row each, in the order given, and every row read tagged with the
    /// position (from 1) of the resolve it answers. Each resolve's names are
    /// looked up in its own scopes only. As in `AuditedRead`, no row comes
    /// back unless every audit row is written.
    struct AuditedReadBatch: PostgresPreparedStatement {
        static let name = "secretfill_audited_read_batch_3"
        // The audit rows go in in the order given (WITH ORDINALITY, ORDER
        // BY). `w` holds one row per (resolve, name, scope of that resolve's
        // chain), built here: a resolve without a project or cluster asks
        // nothing there. Its scope kind and id are made from the rank and the
        // resolve's project and cluster ($12, $13, one each per resolve):
        // sent as two text arrays of one cell per name, they were 40 of a
        // resolve's 72 cells and 0.5% of its instructions (callgrind,
        // BENCHMARKS.md). The lookup is `lookup`, the same as `AuditedRead`'s.
        static let sql = """
            WITH audit AS (
              INSERT INTO audit_log (time, key_name, action, scope, names, client, outcome)
              SELECT time, key_name, action, scope, names, client, outcome
              FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                WITH ORDINALITY AS r(time, key_name, action, scope, names, client, outcome, ord)
              ORDER BY ord RETURNING id)
            SELECT w.ord, w.pos, w.rank, f.current_version, f.sealed
            FROM (SELECT u.ord, u.pos, u.rank, u.name,
                         CASE u.rank WHEN 0 THEN 'project' WHEN 1 THEN 'cluster' ELSE 'team' END AS kind,
                         CASE u.rank WHEN 0 THEN ($12::text[])[u.ord] WHEN 1 THEN ($13::text[])[u.ord] ELSE '' END AS id
                  FROM unnest($8::int8[], $9::int8[], $10::int8[], $11::text[]) AS u(ord, pos, rank, name)) AS w
            \(PostgresHotQueries.lookup)
            WHERE (SELECT count(*) FROM audit) = $14
            """
        static var bindingDataTypes: [PostgresDataType] {
            [.int8Array, .textArray, .textArray, .textArray, .textArray, .textArray, .textArray, .int8Array, .int8Array, .int8Array, .textArray, .textArray, .textArray, .int8]
        }
        /// The resolve's position (from 1), the name's position in its names
        /// (from 0), its scope (0 project, 1 cluster, 2 team), version, sealed
        /// value: numbers where the server already holds the text.
        typealias Row = (Int, Int, Int, Int, String)
        let reads: [Read]

        /// A scope's rank in the statement (`CASE u.rank`).
        static func rank(_ kind: Scope.Kind) -> Int {
            switch kind {
            case .project: 0
            case .cluster: 1
            case .team: 2
            }
        }

        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 14)
            bindings.append(reads.map(\.audit.time))
            bindings.append(reads.map(\.audit.key))
            bindings.append(reads.map(\.audit.action))
            bindings.append(reads.map(\.audit.scope))
            bindings.append(reads.map(\.audit.namesColumn))
            bindings.append(reads.map(\.audit.client))
            bindings.append(reads.map(\.audit.outcome))
            var owners: [Int] = [], positions: [Int] = [], ranks: [Int] = [], names: [String] = []
            var projects: [String] = [], clusters: [String] = []
            projects.reserveCapacity(reads.count)
            clusters.reserveCapacity(reads.count)
            for (index, read) in reads.enumerated() {
                var project = "", cluster = ""
                for scope in read.chain.scopes {
                    switch scope.kind {
                    case .project: project = scope.id ?? ""
                    case .cluster: cluster = scope.id ?? ""
                    case .team: break
                    }
                    let rank = Self.rank(scope.kind)
                    for (position, name) in read.names.enumerated() {
                        owners.append(index + 1)
                        positions.append(position)
                        ranks.append(rank)
                        names.append(name)
                    }
                }
                projects.append(project)
                clusters.append(cluster)
            }
            bindings.append(owners)
            bindings.append(positions)
            bindings.append(ranks)
            bindings.append(names)
            bindings.append(projects)
            bindings.append(clusters)
            bindings.append(reads.count)
            return bindings
        }

        /// Reads the cells straight from their binary form: PostgresNIO's
        /// generic `decode` of the five columns was 4% of the server's CPU
        /// under load (perf of bench/server.sh), for rows of this one shape.
        func decodeRow(_ row: PostgresRow) throws -> Row {
            var cells = row.makeIterator()
            return (try Cells.integer(cells.next()), try Cells.integer(cells.next()), try Cells.integer(cells.next()),
                    try Cells.integer(cells.next()), try Cells.text(cells.next()))
        }
    }

    /// Cells in the binary format PostgresNIO asks for, of the types the
    /// hot statements return; anything else is the database answering a
    /// statement it was not sent (503).
    enum Cells {
        static func integer(_ cell: PostgresCell?) throws -> Int {
            guard let cell, cell.format == .binary, var bytes = cell.bytes else { throw unexpected(cell) }
            switch (cell.dataType, bytes.readableBytes) {
            case (.int8, 8): return Int(bytes.readInteger(as: Int64.self)!)
            case (.int4, 4): return Int(bytes.readInteger(as: Int32.self)!)
            case (.int2, 2): return Int(bytes.readInteger(as: Int16.self)!)
            default: throw unexpected(cell)
            }
        }

        static func text(_ cell: PostgresCell?) throws -> String {
            guard let cell, cell.dataType == .text || cell.dataType == .varchar, var bytes = cell.bytes else { throw unexpected(cell) }
            return bytes.readString(length: bytes.readableBytes)!
        }

        static func unexpected(_ cell: PostgresCell?) -> DatabaseUnavailable {
            guard let cell else { return DatabaseUnavailable(detail: "a row had fewer columns than its statement returns") }
            return DatabaseUnavailable(detail: "column \(cell.columnIndex + 1) of a row was \(cell.bytes == nil ? "NULL" : "of type \(cell.dataType)")")
        }
    }
}
