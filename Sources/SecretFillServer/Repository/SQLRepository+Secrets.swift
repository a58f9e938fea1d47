import SecretFill
import SecretFillAPI
import SecretFillWebUI
import SQLKit

/// The secrets (`secrets`: a name's current version per scope) and their
/// versions (`secret_versions`: the sealed values, the last
/// `ServerStore.keptVersions` of each name). Values come and go sealed:
/// sealing and opening are `ServerStore`'s.
protocol SecretRows: Sendable {
    /// The live names of `scopes`, with their scope.
    func listings(in scopes: [Scope]) async throws -> [(Scope, SecretListing)]
    /// The live names in every scope `grants` may list (chosen by grant in the query; the caller checks again).
    func listings(listableBy grants: GrantSet) async throws -> [(Scope, SecretListing)]
    /// The name's next version (1 for a new row), counted by an upsert that
    /// leaves `deleted` as it was, and whether the row was deleted; a deleted
    /// row is live again once this returns, and locked until the transaction ends.
    func nextVersion(of name: String, in scope: Scope, at now: Int, by keyName: String) async throws -> (version: Int, wasDeleted: Bool)
    /// Stores `sealed` as `version` of the name.
    func insertVersion(_ version: Int, sealed: String, of name: String, in scope: Scope, at now: Int, by keyName: String) async throws
    /// Drops the name's versions up to and including `version`.
    func dropVersions(through version: Int, of name: String, in scope: Scope) async throws
    /// Whether the name has a live value (false: deleted; nil: no row).
    func isLive(_ name: String, in scope: Scope) async throws -> Bool?
    /// Removes the name and every version of it.
    func purge(_ name: String, in scope: Scope) async throws
    /// Marks the name deleted (its versions stay).
    func markDeleted(_ name: String, in scope: Scope, at now: Int, by keyName: String) async throws
    /// The name's current version and whether it is deleted; nil when there is no row.
    func head(of name: String, in scope: Scope) async throws -> (current: Int, deleted: Bool)?
    /// The versions kept of the name, oldest first.
    func versions(of name: String, in scope: Scope) async throws -> [(version: Int, created: Int, by: String)]
    /// Version `version` of the name as stored (sealed); nil when it is not kept.
    func sealed(_ name: String, in scope: Scope, version: Int) async throws -> String?
    /// The web page's list of one scope's live names.
    func secretRows(in scope: Scope) async throws -> [WebUISecretRow]
    /// The ids of the scopes of `kind` that hold a live name, sorted.
    func scopeIDs(_ kind: Scope.Kind) async throws -> [String]
    /// Live names per scope, as stored (kind, id, count).
    func scopeCounts() async throws -> [(kind: String, id: String, count: Int)]
    /// Whether the name has a live value in `scope`.
    func exists(_ name: String, in scope: Scope) async throws -> Bool
}

extension SQLRepository {
    func listings(in scopes: [Scope]) async throws -> [(Scope, SecretListing)] {
        try await listings(where: Self.scopeCondition(scopes, prefix: ""))
    }

    func listings(listableBy grants: GrantSet) async throws -> [(Scope, SecretListing)] {
        guard let condition = Self.listableCondition(grants) else { return [] }
        return try await listings(where: condition)
    }

    private func listings(where condition: SQLQueryString) async throws -> [(Scope, SecretListing)] {
        let result = try await sql.raw("SELECT scope_kind, scope_id, name, updated_at FROM secrets WHERE deleted = 0 AND \(condition)").all()
        return try result.map { row in
            (try ServerStore.scope(kind: row.decode(column: "scope_kind", as: String.self), id: row.decode(column: "scope_id", as: String.self)),
             SecretListing(name: try row.decode(column: "name", as: String.self),
                           updated: Clock.text(millis: try row.decode(column: "updated_at", as: Int.self))))
        }
    }

    /// The rows `grants` may list, as SQL; nil when they may list none.
    static func listableCondition(_ grants: GrantSet) -> SQLQueryString? {
        if grants.isAdmin { return SQLQueryString("1 = 1") }
        var parts: [SQLQueryString] = []
        for grant in grants.grants {
            switch grant {
            case .admin: return SQLQueryString("1 = 1")
            case .team: parts.append("(scope_kind = 'team')")
            case .project(let id, _), .cluster(let id, _):
                let kind = grant.kindText
                if let id {
                    parts.append("(scope_kind = \(bind: kind) AND scope_id = \(bind: id))")
                } else {
                    parts.append("(scope_kind = \(bind: kind))")
                }
            }
        }
        guard let first = parts.first else { return nil }
        var condition = SQLQueryString("(") + first
        for part in parts.dropFirst() { condition = condition + " OR " + part }
        return condition + ")"
    }

    /// The upsert leaves `deleted` as it was, so its RETURNING tells what the
    /// row held before: a new row (version 1), a current value (deleted 0) or
    /// a deleted one; the row is locked from then on, so a second statement
    /// can clear `deleted` without a race. (PostgreSQL 15 cannot return the
    /// old row from an upsert.)
    func nextVersion(of name: String, in scope: Scope, at now: Int, by keyName: String) async throws -> (version: Int, wasDeleted: Bool) {
        let (kind, id) = ServerStore.columns(scope)
        let rows = try await sql.raw("""
            INSERT INTO secrets (scope_kind, scope_id, name, current_version, deleted, updated_at, updated_by)
            VALUES (\(bind: kind), \(bind: id), \(bind: name), 1, 0, \(bind: now), \(bind: keyName))
            ON CONFLICT (scope_kind, scope_id, name) DO UPDATE SET current_version = secrets.current_version + 1,
              updated_at = excluded.updated_at, updated_by = excluded.updated_by
            RETURNING current_version, deleted
            """).all()
        guard let row = rows.first else { throw DatabaseUnavailable(detail: "the database returned no version") }
        let version = try row.decode(column: "current_version", as: Int.self)
        let wasDeleted = try row.decode(column: "deleted", as: Int.self) != 0
        if wasDeleted {
            try await sql.raw("UPDATE secrets SET deleted = 0 WHERE scope_kind = \(bind: kind) AND scope_id = \(bind: id) AND name = \(bind: name)").run()
        }
        return (version, wasDeleted)
    }

    func insertVersion(_ version: Int, sealed: String, of name: String, in scope: Scope, at now: Int, by keyName: String) async throws {
        let (kind, id) = ServerStore.columns(scope)
        try await sql.raw("""
            INSERT INTO secret_versions (scope_kind, scope_id, name, version, sealed, created_at, created_by)
            VALUES (\(bind: kind), \(bind: id), \(bind: name), \(bind: version), \(bind: sealed), \(bind: now), \(bind: keyName))
            """).run()
    }

    func dropVersions(through version: Int, of name: String, in scope: Scope) async throws {
        let (kind, id) = ServerStore.columns(scope)
        try await sql.raw("DELETE FROM secret_versions WHERE scope_kind = \(bind: kind) AND scope_id = \(bind: id) AND name = \(bind: name) AND version <= \(bind: version)").run()
    }

    func isLive(_ name: String, in scope: Scope) async throws -> Bool? {
        let (kind, id) = ServerStore.columns(scope)
        let rows = try await sql.raw("SELECT deleted FROM secrets WHERE scope_kind = \(bind: kind) AND scope_id = \(bind: id) AND name = \(bind: name)").all()
        return try rows.first.map { try $0.decode(column: "deleted", as: Int.self) == 0 }
    }

    func purge(_ name: String, in scope: Scope) async throws {
        let (kind, id) = ServerStore.columns(scope)
        try await sql.raw("DELETE FROM secret_versions WHERE scope_kind = \(bind: kind) AND scope_id = \(bind: id) AND name = \(bind: name)").run()
        try await sql.raw("DELETE FROM secrets WHERE scope_kind = \(bind: kind) AND scope_id = \(bind: id) AND name = \(bind: name)").run()
    }

    func markDeleted(_ name: String, in scope: Scope, at now: Int, by keyName: String) async throws {
        let (kind, id) = ServerStore.columns(scope)
        try await sql.raw("UPDATE secrets SET deleted = 1, updated_at = \(bind: now), updated_by = \(bind: keyName) WHERE scope_kind = \(bind: kind) AND scope_id = \(bind: id) AND name = \(bind: name)").run()
    }

    func head(of name: String, in scope: Scope) async throws -> (current: Int, deleted: Bool)? {
        let (kind, id) = ServerStore.columns(scope)
        let head = try await sql.raw("SELECT current_version, deleted FROM secrets WHERE scope_kind = \(bind: kind) AND scope_id = \(bind: id) AND name = \(bind: name)").all()
        guard let row = head.first else { return nil }
        return (try row.decode(column: "current_version", as: Int.self), try row.decode(column: "deleted", as: Int.self) != 0)
    }

    func versions(of name: String, in scope: Scope) async throws -> [(version: Int, created: Int, by: String)] {
        let (kind, id) = ServerStore.columns(scope)
        let rows = try await sql.raw("SELECT version, created_at, created_by FROM secret_versions WHERE scope_kind = \(bind: kind) AND scope_id = \(bind: id) AND name = \(bind: name) ORDER BY version").all()
        return try rows.map { row in
            (try row.decode(column: "version", as: Int.self), try row.decode(column: "created_at", as: Int.self), try row.decode(column: "created_by", as: String.self))
        }
    }

    func sealed(_ name: String, in scope: Scope, version: Int) async throws -> String? {
        let (kind, id) = ServerStore.columns(scope)
        let rows = try await sql.raw("SELECT sealed FROM secret_versions WHERE scope_kind = \(bind: kind) AND scope_id = \(bind: id) AND name = \(bind: name) AND version = \(bind: version)").all()
        return try rows.first?.decode(column: "sealed", as: String.self)
    }

    func secretRows(in scope: Scope) async throws -> [WebUISecretRow] {
        let (kind, id) = ServerStore.columns(scope)
        return try await sql.raw("SELECT name, updated_at, updated_by FROM secrets WHERE deleted = 0 AND scope_kind = \(bind: kind) AND scope_id = \(bind: id)").all().map { row in
            WebUISecretRow(name: try row.decode(column: "name", as: String.self),
                           updated: Clock.text(millis: try row.decode(column: "updated_at", as: Int.self)),
                           updatedBy: try row.decode(column: "updated_by", as: String.self))
        }
    }

    func scopeIDs(_ kind: Scope.Kind) async throws -> [String] {
        try await sql.raw("SELECT DISTINCT scope_id FROM secrets WHERE deleted = 0 AND scope_kind = \(bind: kind.rawValue) ORDER BY scope_id").all()
            .map { try $0.decode(column: "scope_id", as: String.self) }
    }

    func scopeCounts() async throws -> [(kind: String, id: String, count: Int)] {
        try await sql.raw("SELECT scope_kind, scope_id, COUNT(*) AS n FROM secrets WHERE deleted = 0 GROUP BY scope_kind, scope_id").all().map { row in
            (try row.decode(column: "scope_kind", as: String.self), try row.decode(column: "scope_id", as: String.self),
             try row.decode(column: "n", as: Int.self))
        }
    }

    func exists(_ name: String, in scope: Scope) async throws -> Bool {
        let (kind, id) = ServerStore.columns(scope)
        return try await !sql.raw("SELECT 1 AS one FROM secrets WHERE deleted = 0 AND scope_kind = \(bind: kind) AND scope_id = \(bind: id) AND name = \(bind: name)").all().isEmpty
    }
}

extension Grant {
    /// `project` or `cluster`: the scope kind a scoped grant covers, as the database spells it.
    fileprivate var kindText: String {
        switch self {
        case .project: Scope.Kind.project.rawValue
        case .cluster: Scope.Kind.cluster.rawValue
        case .team: Scope.Kind.team.rawValue
        case .admin: ""
        }
    }
}
