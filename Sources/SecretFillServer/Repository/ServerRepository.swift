import NIOCore
import SecretFill
import SQLKit

/// Every statement `ServerStore` runs, behind one protocol (issue 22, item
/// 4): `ServerStore` checks grants, decides what is audited, seals and
/// opens values, and chooses where a transaction begins and ends; the
/// repository reads and writes rows. As in hummingbird-examples'
/// todos-postgres the store calls a protocol, not SQL, but a repository
/// here is one transaction's (or one session's) view of the database:
/// `ServerStore.run` and `runSession` open the transaction exactly where
/// they did before and hand its repository to the body, so a check and the
/// writes it guards still commit together.
///
/// It is made of one facet per part of the schema, each in its own file:
/// secrets and their versions (`SecretRows`), API keys (`KeyRows`), the
/// audit log (`AuditRows`), members, roles, people's tokens and sign-ins
/// (`PeopleRows`), browser sessions (`SessionRows`), data keys
/// (`DataKeyRows`) and the planner's statistics (`StatisticsRows`).
///
/// One implementation (`SQLRepository`) serves PostgreSQL and SQLite through
/// SQLKit; where the two differ (table locks, `FOR SHARE`, `ANALYZE`) the
/// difference is kept inside it. The hot read (`POST /v1/resolve`) is not
/// here: PostgreSQL answers it with the prepared and batched statements of
/// `HotQueries.swift`, in this folder, which says why they exist.
protocol ServerRepository: SecretRows, KeyRows, AuditRows, PeopleRows, SessionRows, DataKeyRows, StatisticsRows {
    /// `SELECT 1`: the database answers (`/healthz`).
    func ping() async throws
}

/// `ServerRepository` over one SQLKit connection, transaction or session.
struct SQLRepository: ServerRepository {
    let sql: any SQLDatabase
    /// PostgreSQL (else SQLite): where the two dialects differ.
    let postgres: Bool

    func ping() async throws {
        try await sql.raw("SELECT 1 AS one").run()
    }

    /// The `(scope_kind, scope_id)` pairs of `scopes` as one condition; `prefix` names the table (`s.`).
    static func scopeCondition(_ scopes: [Scope], prefix: String) -> SQLQueryString {
        var condition = SQLQueryString("(")
        for (index, scope) in scopes.enumerated() {
            let (kind, id) = ServerStore.columns(scope)
            if index > 0 { condition = condition + " OR " }
            condition = condition + "(\(unsafeRaw: prefix)scope_kind = \(bind: kind) AND \(unsafeRaw: prefix)scope_id = \(bind: id))"
        }
        return condition + ")"
    }
}

extension ServerDatabase {
    /// Runs `body` in one transaction (as `transaction`), with its repository.
    func repositoryTransaction<R: Sendable>(_ body: @escaping @Sendable (any ServerRepository) async throws -> R) async throws -> R {
        let postgres = isPostgres
        return try await transaction { (sql: any SQLDatabase) in try await body(SQLRepository(sql: sql, postgres: postgres)) }
    }

    /// `transaction(until:)` with the transaction's repository.
    func repositoryTransaction<R: Sendable>(until deadline: NIODeadline, _ body: @escaping @Sendable (any ServerRepository) async throws -> R) async throws -> R {
        let postgres = isPostgres
        return try await transaction(until: deadline) { (sql: any SQLDatabase) in try await body(SQLRepository(sql: sql, postgres: postgres)) }
    }

    /// `session` (each statement commits on its own) with its repository.
    func repositorySession<R: Sendable>(_ body: @escaping @Sendable (any ServerRepository) async throws -> R) async throws -> R {
        let postgres = isPostgres
        return try await session { (sql: any SQLDatabase) in try await body(SQLRepository(sql: sql, postgres: postgres)) }
    }
}
