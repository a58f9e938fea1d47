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
    let time: Int
    let key, action, scope: String
    let names: [String]
    let client, outcome: String
    /// How many requests this row stands for (refusals before authentication are counted per address and second).
    var repeats: Int = 1

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
            INSERT INTO audit_log (time, key_name, action, scope, names, client, outcome, repeats)
            VALUES (\(bind: time), \(bind: key), \(bind: action), \(bind: scope), \(bind: namesColumn), \(bind: client), \(bind: outcome), \(bind: repeats))
            RETURNING id
            """).all()
        return try rows.first?.decode(column: "id", as: Int.self)
    }

    func insert(into sql: any SQLDatabase) async throws {
        try await sql.raw("""
            INSERT INTO audit_log (time, key_name, action, scope, names, client, outcome, repeats)
            VALUES (\(bind: time), \(bind: key), \(bind: action), \(bind: scope), \(bind: namesColumn), \(bind: client), \(bind: outcome), \(bind: repeats))
            """).run()
    }
}

/// The two queries every `POST /v1/resolve` makes, written once in SQLKit
/// for every backend. PostgreSQL replaces them with prepared statements
/// (`PostgresHotQueries`), measured with bench/server.sh.
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
                WHERE s.deleted = 0 AND \(ServerStore.scopeCondition(chain.scopes, prefix: "s."))
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
        static let name = "secretfill_audited_read_1"
        // The scalar subquery reads the audit CTE, so PostgreSQL runs the
        // insert before it returns a row; were it to fail, the statement fails whole.
        static let sql = """
            WITH audit AS (
              INSERT INTO audit_log (time, key_name, action, scope, names, client, outcome)
              VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id)
            SELECT s.scope_kind, s.scope_id, s.name, s.current_version, v.sealed FROM secrets s
            JOIN secret_versions v ON v.scope_kind = s.scope_kind AND v.scope_id = s.scope_id AND v.name = s.name AND v.version = s.current_version
            WHERE (SELECT count(*) FROM audit) = 1 AND s.deleted = 0 AND s.name = ANY($8)
              AND ((s.scope_kind = 'team' AND s.scope_id = '')
                OR (s.scope_kind = 'project' AND s.scope_id = $9)
                OR (s.scope_kind = 'cluster' AND s.scope_id = $10))
            """
        static var bindingDataTypes: [PostgresDataType] { [.int8, .text, .text, .text, .text, .text, .text, .textArray, .text, .text] }
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
            bindings.append(names)
            bindings.append(chain.project)
            bindings.append(chain.cluster)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

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
        static let name = "secretfill_audited_read_batch_1"
        // A resolve without a project or cluster sends '' for it; no secret
        // is stored under an empty project or cluster id, and NULLIF makes
        // the comparison false rather than a match.
        static let sql = """
            WITH req AS (
              SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
                WITH ORDINALITY AS r(time, key_name, action, scope, names, client, outcome, project, cluster, ord)),
            audit AS (
              INSERT INTO audit_log (time, key_name, action, scope, names, client, outcome)
              SELECT time, key_name, action, scope, names, client, outcome FROM req ORDER BY ord RETURNING id),
            wanted AS (SELECT * FROM unnest($10::int8[], $11::text[], $12::int8[]) AS w(ord, name, pos))
            SELECT w.ord, w.pos, CASE s.scope_kind WHEN 'project' THEN 0 WHEN 'cluster' THEN 1 ELSE 2 END, s.current_version, v.sealed
            FROM wanted w
            JOIN req r ON r.ord = w.ord
            JOIN secrets s ON s.name = w.name AND s.deleted = 0
              AND ((s.scope_kind = 'team' AND s.scope_id = '')
                OR (s.scope_kind = 'project' AND s.scope_id = NULLIF(r.project, ''))
                OR (s.scope_kind = 'cluster' AND s.scope_id = NULLIF(r.cluster, '')))
            JOIN secret_versions v ON v.scope_kind = s.scope_kind AND v.scope_id = s.scope_id AND v.name = s.name AND v.version = s.current_version
            WHERE (SELECT count(*) FROM audit) = $13
            """
        static var bindingDataTypes: [PostgresDataType] {
            [.int8Array, .textArray, .textArray, .textArray, .textArray, .textArray, .textArray, .textArray, .textArray, .int8Array, .textArray, .int8Array, .int8]
        }
        /// The resolve's position (from 1), the name's position in its names
        /// (from 0), its scope (0 project, 1 cluster, 2 team), version, sealed
        /// value: numbers where the server already holds the text.
        typealias Row = (Int, Int, Int, Int, String)
        let reads: [Read]

        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 13)
            bindings.append(reads.map(\.audit.time))
            bindings.append(reads.map(\.audit.key))
            bindings.append(reads.map(\.audit.action))
            bindings.append(reads.map(\.audit.scope))
            bindings.append(reads.map(\.audit.namesColumn))
            bindings.append(reads.map(\.audit.client))
            bindings.append(reads.map(\.audit.outcome))
            bindings.append(reads.map { $0.chain.project ?? "" })
            bindings.append(reads.map { $0.chain.cluster ?? "" })
            var owners: [Int] = []
            var names: [String] = []
            var positions: [Int] = []
            for (index, read) in reads.enumerated() {
                owners.append(contentsOf: repeatElement(index + 1, count: read.names.count))
                names.append(contentsOf: read.names)
                positions.append(contentsOf: read.names.indices)
            }
            bindings.append(owners)
            bindings.append(names)
            bindings.append(positions)
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
