import SecretFill
import SecretFillAPI
import SQLKit

/// The audit log (`audit_log`). What is audited, and when, is
/// `ServerStore`'s; the row itself is `AuditRecord` (`HotQueries.swift`,
/// whose statements write it).
protocol AuditRows: Sendable {
    func insertAudit(_ record: AuditRecord) async throws
    /// Writes the row and returns its id.
    func insertAuditReturningID(_ record: AuditRecord) async throws -> Int?
    /// Sets how many requests the row `id` stands for.
    func setAuditRepeats(id: Int, count: Int) async throws
    /// Up to `limit` rows, newest first, with their ids: written at or after
    /// `since` (ms), by `key` (a key name) or by `role` (the role or its
    /// tokens), naming `secret`, older than the row `before`. A row's names
    /// are read up to `namesRead` characters; one cut there ends with `+more`.
    func auditPage(since: Int, key: String?, role: String?, secret: String?, before: Int?, limit: Int, namesRead: Int) async throws
        -> [(id: Int, entry: AuditEntry)]
}

extension SQLRepository {
    func insertAudit(_ record: AuditRecord) async throws {
        try await record.insert(into: sql)
    }

    func insertAuditReturningID(_ record: AuditRecord) async throws -> Int? {
        try await record.insertReturningID(into: sql)
    }

    func setAuditRepeats(id: Int, count: Int) async throws {
        try await sql.raw("UPDATE audit_log SET repeats = \(bind: count) WHERE id = \(bind: id)").run()
    }

    func auditPage(since: Int, key: String?, role: String?, secret: String?, before beforeCursor: Int?, limit: Int, namesRead kept: Int) async throws
        -> [(id: Int, entry: AuditEntry)] {
        var query = SQLQueryString("""
            SELECT audit_log.id, audit_log.time, audit_log.key_name, audit_log.action, audit_log.scope,
              substr(audit_log.names, 1, \(unsafeRaw: String(kept))) AS names_head, length(audit_log.names) AS names_length,
              audit_log.client, audit_log.outcome, audit_log.repeats, audit_log.detail, api_keys.subject AS subject
            FROM audit_log LEFT JOIN api_keys ON api_keys.name = audit_log.key_name WHERE audit_log.time >= \(bind: since)
            """)
        if let key { query = query + " AND audit_log.key_name = \(bind: key)" }
        if let role {
            let pattern = "role:" + role.replacing("\\", with: "\\\\").replacing("_", with: "\\_").replacing("%", with: "\\%") + "/%"
            query = query + " AND (audit_log.key_name = \(bind: "role:" + role) OR audit_log.key_name LIKE \(bind: pattern) ESCAPE '\\')"
        }
        if let secret {
            let pattern = "%," + secret.replacing("\\", with: "\\\\").replacing("_", with: "\\_").replacing("%", with: "\\%") + ",%"
            query = query + " AND (',' || audit_log.names || ',') LIKE \(bind: pattern) ESCAPE '\\'"
        }
        if let beforeCursor { query = query + " AND audit_log.id < \(bind: beforeCursor)" }
        query = query + " ORDER BY audit_log.id DESC LIMIT \(unsafeRaw: String(limit + 1))"
        return try await sql.raw(query).all().map { row in
            var names = try row.decode(column: "names_head", as: String.self).split(separator: ",").map(String.init)
            if try row.decode(column: "names_length", as: Int.self) > kept, !names.isEmpty {
                names.removeLast()
                names.append("+more")
            }
            let repeats = try row.decode(column: "repeats", as: Int.self)
            let keyName = try row.decode(column: "key_name", as: String.self)
            return (try row.decode(column: "id", as: Int.self),
                    AuditEntry(time: Clock.text(millis: try row.decode(column: "time", as: Int.self)),
                               key: keyName,
                               action: try row.decode(column: "action", as: String.self),
                               scope: try row.decode(column: "scope", as: String.self),
                               names: names,
                               client: try row.decode(column: "client", as: String.self),
                               outcome: try row.decode(column: "outcome", as: String.self),
                               count: repeats > 1 ? repeats : nil,
                               actor: ServerStore.actor(ofKeyName: keyName),
                               subject: try row.decode(column: "subject", as: String?.self),
                               detail: try row.decode(column: "detail", as: String?.self)))
        }
    }
}
