import SecretFill
import SQLKit

/// How a writer reads the active data key (`DataKeyring`): `share` while it
/// seals under it, `update` while `rekey --data` retires it; on PostgreSQL
/// `FOR SHARE`/`FOR UPDATE`, on SQLite nothing (its writers take turns).
enum DataKeyLock: Sendable {
    case none, share, update
}

/// The data keys (`data_keys`, each wrapped under the store key) and which
/// one new values are sealed under (`server_meta`'s `active_data_key`).
/// Wrapping and unwrapping are `DataKeyring`'s.
protocol DataKeyRows: Sendable {
    /// Every data key as stored: its id and its wrapped text.
    func wrappedDataKeys() async throws -> [(id: String, wrapped: String)]
    func activeDataKeyID(lock: DataKeyLock) async throws -> String?
    /// Names `id` the active data key unless one is named already; true when this call named it.
    func claimActiveDataKey(_ id: String) async throws -> Bool
    func insertDataKey(_ id: String, wrapped: String, at now: Int) async throws
}

extension SQLRepository {
    func wrappedDataKeys() async throws -> [(id: String, wrapped: String)] {
        try await sql.raw("SELECT id, wrapped FROM data_keys").all().map { row in
            (try row.decode(column: "id", as: String.self), try row.decode(column: "wrapped", as: String.self))
        }
    }

    func activeDataKeyID(lock: DataKeyLock) async throws -> String? {
        let clause = switch lock {
        case .share where postgres: "FOR SHARE"
        case .update where postgres: "FOR UPDATE"
        default: ""
        }
        let rows = try await sql.raw("SELECT value FROM server_meta WHERE name = 'active_data_key' \(unsafeRaw: clause)").all()
        return try rows.first?.decode(column: "value", as: String.self)
    }

    func claimActiveDataKey(_ id: String) async throws -> Bool {
        let claimed = try await sql.raw("""
            INSERT INTO server_meta (name, value) VALUES ('active_data_key', \(bind: id))
            ON CONFLICT (name) DO NOTHING RETURNING value
            """).all()
        return !claimed.isEmpty
    }

    func insertDataKey(_ id: String, wrapped: String, at now: Int) async throws {
        try await sql.raw("""
            INSERT INTO data_keys (id, wrapped, created_at) VALUES (\(bind: id), \(bind: wrapped), \(bind: now))
            """).run()
    }
}
