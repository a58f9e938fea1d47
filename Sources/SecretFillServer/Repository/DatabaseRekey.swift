import SecretFill
import SecretFillAPI
import SQLKit

/// `secretfill rekey --database`: a server database's store key or data key
/// changed while servers keep serving (issue 27). See `DataKeyring` for how
/// values name their data key and how writers learn of a new one.
///
/// Every step is one transaction, and each can be interrupted (`kill -9`) at
/// any moment: the same command run again reads where the database stands
/// and finishes. Values stay readable throughout: a value is re-encrypted in
/// place by one UPDATE, and the data key it was under is destroyed only once
/// no value names it.
public enum DatabaseRekey {
    /// Rows re-encrypted per transaction: enough to keep round trips few,
    /// few enough that a batch commits in milliseconds beside servers' writes,
    /// and memory stays bounded whatever the database holds.
    public static let batchSize = 500

    /// What a rekey did, in words, for the command to print.
    public struct Outcome: Sendable {
        public let summary: String
    }

    // MARK: the store key

    /// `rekey --new-key-file`: the data keys wrapped again under `new`, and
    /// the database's recorded key fingerprint changed, in one transaction.
    /// Values sealed under the store key itself (before envelope sealing) are
    /// first re-encrypted under the data key, since `new` could not open them.
    public static func rewrap(_ location: DatabaseLocation, current: ServerStoreKey, new: ServerStoreKey,
                              progress: (@Sendable (Int, Int) -> Void)? = nil) async throws -> Outcome {
        try await ServerBackup.withDatabase(location) { database in
            try await rewrap(database, current: current, new: new, actor: ActingKey.databaseOwner.name, client: "-", progress: progress)
        }
    }

    static func rewrap(_ database: any ServerDatabase, current: ServerStoreKey, new: ServerStoreKey, actor: String, client: String,
                       progress: (@Sendable (Int, Int) -> Void)?) async throws -> Outcome {
        let (keyring, stored) = try await prepare(database, key: current, allowing: new.fingerprint)
        if stored == new.fingerprint {
            return Outcome(summary: "the database is already sealed under the new store key \(new.fingerprint): nothing to do")
        }
        let active = try await database.repositoryTransaction { rows in try await keyring.active(rows).id }
        // Only a database from before envelope sealing holds values under the store key itself.
        let legacy = try await database.session { sql in
            try await sql.raw("SELECT COUNT(*) AS n FROM secret_versions WHERE sealed NOT LIKE '%:%'").all().first?.decode(column: "n", as: Int.self) ?? 0
        }
        let converted = legacy > 0 ? try await sweep(database, keyring: keyring, into: active, progress: progress) : 0
        let count = try await database.transaction { sql -> Int in
            try await lockFingerprint(sql, postgres: database.isPostgres, expected: current.fingerprint)
            // Nothing may remain under the old store key itself (a server of
            // an older secretfill could have written one since the sweep).
            let legacy = try await sql.raw("SELECT COUNT(*) AS n FROM secret_versions WHERE sealed NOT LIKE '%:%'").all()
            guard try legacy.first?.decode(column: "n", as: Int.self) == 0 else { throw Retry() }
            let rows = try await sql.raw("SELECT id, wrapped FROM data_keys ORDER BY id").all()
            for row in rows {
                let id = try row.decode(column: "id", as: String.self)
                guard let key = try current.unwrap(try row.decode(column: "wrapped", as: String.self), id: id) else {
                    throw RekeyRefusal("data key \(id) in the database does not open with the store key \(current.fingerprint); nothing was changed")
                }
                let wrapped = try new.wrap(key, id: id)
                try await sql.raw("UPDATE data_keys SET wrapped = \(bind: wrapped) WHERE id = \(bind: id)").run()
            }
            try await sql.raw("UPDATE server_meta SET value = \(bind: new.fingerprint) WHERE name = 'key_fingerprint'").run()
            try await ServerStore.audit(SQLRepository(sql: sql, postgres: database.isPostgres), key: actor, action: "rekey", scope: "-", names: ["store key"], client: client, outcome: "ok")
            return rows.count
        }
        let moved = converted > 0 ? "; \(converted) value(s) sealed under the old store key itself were re-encrypted under the data key first" : ""
        return Outcome(summary: "re-wrapped \(count) data key(s) under the new store key \(new.fingerprint) (it was \(current.fingerprint))\(moved)")
    }

    // MARK: the data key

    /// `rekey --data`: a fresh data key, every value and kept version
    /// re-encrypted under it in batches, then the old data key destroyed.
    /// Resumes a rotation that was interrupted.
    public static func rotateData(_ location: DatabaseLocation, key: ServerStoreKey,
                                  progress: (@Sendable (Int, Int) -> Void)? = nil) async throws -> Outcome {
        try await ServerBackup.withDatabase(location) { database in
            try await rotateData(database, key: key, actor: ActingKey.databaseOwner.name, client: "-", progress: progress)
        }
    }

    static func rotateData(_ database: any ServerDatabase, key: ServerStoreKey, actor: String, client: String,
                           progress: (@Sendable (Int, Int) -> Void)?) async throws -> Outcome {
        let (keyring, _) = try await prepare(database, key: key, allowing: nil)
        let postgres = database.isPostgres
        // Start, or find the rotation already started.
        let (target, resumed) = try await database.transaction { sql -> (String, Bool) in
            // The fresh key is wrapped under `key`: only while the database is still sealed under it
            // (a re-wrap committed since this command began would leave the fresh key unopenable).
            try await lockFingerprint(sql, postgres: postgres, expected: key.fingerprint)
            let active = try await keyring.active(SQLRepository(sql: sql, postgres: postgres)).id
            let retiring = try await meta(sql, "retiring_data_key")
            if retiring != nil { return (active, true) }
            let fresh = StoreKey.generateDataKey()
            try await DataKeyring.insert(SQLRepository(sql: sql, postgres: postgres), id: fresh.id, key: fresh.key, wrappedBy: key)
            try await setMeta(sql, "retiring_data_key", active)
            // Waits for writers holding the active key (FOR SHARE): from
            // its commit on, every new value is sealed under the fresh key.
            try await sql.raw("UPDATE server_meta SET value = \(bind: fresh.id) WHERE name = 'active_data_key'").run()
            try await sql.raw("DELETE FROM server_meta WHERE name = 'data_rotation_done'").run()
            return (fresh.id, false)
        }
        var done = 0
        while true {
            done += try await sweep(database, keyring: keyring, into: target, progress: progress)
            let finished = try await database.transaction { sql -> Bool in
                // Blocks writers until the check and the destruction commit.
                _ = try await SQLRepository(sql: sql, postgres: postgres).activeDataKeyID(lock: .update)
                let left = try await sql.raw("SELECT COUNT(*) AS n FROM secret_versions WHERE sealed NOT LIKE \(bind: target + ":%")").all()
                guard try left.first?.decode(column: "n", as: Int.self) == 0 else { return false }
                try await sql.raw("DELETE FROM data_keys WHERE id <> \(bind: target)").run()
                try await sql.raw("DELETE FROM server_meta WHERE name = 'retiring_data_key'").run()
                try await setMeta(sql, "data_rotation_done", String(Clock.nowMillis()))
                try await ServerStore.audit(SQLRepository(sql: sql, postgres: postgres), key: actor, action: "rekey", scope: "-", names: ["data key"], client: client, outcome: "ok")
                return true
            }
            if finished { break }
        }
        let how = resumed ? "finished the rotation already started" : "rotated the data key"
        return Outcome(summary: "\(how): \(done) value(s) re-encrypted under data key \(target); the old data key is destroyed")
    }

    /// `rekey --status`: `done`, `in progress: N of M values` or `no rotation started`.
    public static func status(_ location: DatabaseLocation) async throws -> String {
        try await ServerBackup.withDatabase(location) { database in
            _ = try await withDeadline(seconds: 10) { try await Migrations.migrate(database) }
            return try await status(database)
        }
    }

    static func status(_ database: any ServerDatabase) async throws -> String {
        return try await database.session { sql in
            if let target = try await meta(sql, "active_data_key"), try await meta(sql, "retiring_data_key") != nil {
                let rows = try await sql.raw("""
                    SELECT COUNT(*) AS total, SUM(CASE WHEN sealed LIKE \(bind: target + ":%") THEN 1 ELSE 0 END) AS done FROM secret_versions
                    """).all()
                let total = try rows.first?.decode(column: "total", as: Int.self) ?? 0
                let done = try rows.first?.decode(column: "done", as: Int?.self) ?? 0
                return "in progress: \(done) of \(total) values"
            }
            return try await meta(sql, "data_rotation_done") != nil ? "done" : "no rotation started"
        }
    }

    // MARK: steps

    /// Re-encrypts every value not under `target`, in batches of
    /// `batchSize`, walking the table by its primary key; returns how many.
    /// A value changed meanwhile (purged, or its kept versions trimmed) is
    /// left alone: the UPDATE matches the text it read.
    static func sweep(_ database: any ServerDatabase, keyring: DataKeyring, into target: String,
                      progress: (@Sendable (Int, Int) -> Void)?) async throws -> Int {
        let postgres = database.isPostgres
        let total = try await database.session { sql in
            try await sql.raw("SELECT COUNT(*) AS n FROM secret_versions").all().first?.decode(column: "n", as: Int.self) ?? 0
        }
        var after: (String, String, String, Int)? = nil
        var seen = 0, changed = 0
        while true {
            let position = after
            let (count, last, rewritten) = try await database.transaction { sql -> (Int, (String, String, String, Int)?, Int) in
                let sealing = try await keyring.active(SQLRepository(sql: sql, postgres: postgres))
                guard sealing.id == target else { throw RekeyRefusal("another rekey changed the data key meanwhile; run the command again") }
                let rows: [any SQLRow]
                if let position {
                    let (kind, id, name, version) = position
                    rows = try await sql.raw("""
                        SELECT scope_kind, scope_id, name, version, sealed FROM secret_versions
                        WHERE (scope_kind, scope_id, name, version) > (\(bind: kind), \(bind: id), \(bind: name), \(bind: version))
                        ORDER BY scope_kind, scope_id, name, version LIMIT \(unsafeRaw: String(batchSize))
                        """).all()
                } else {
                    rows = try await sql.raw("""
                        SELECT scope_kind, scope_id, name, version, sealed FROM secret_versions
                        ORDER BY scope_kind, scope_id, name, version LIMIT \(unsafeRaw: String(batchSize))
                        """).all()
                }
                var last: (String, String, String, Int)? = nil
                var changes: [Change] = []
                for row in rows {
                    let kind = try row.decode(column: "scope_kind", as: String.self), id = try row.decode(column: "scope_id", as: String.self)
                    let name = try row.decode(column: "name", as: String.self), version = try row.decode(column: "version", as: Int.self)
                    let sealed = try row.decode(column: "sealed", as: String.self)
                    last = (kind, id, name, version)
                    if EnvelopeText.keyID(of: sealed) == target[...] { continue }
                    let scope = try ServerStore.scope(kind: kind, id: id)
                    let value = try await keyring.open(sealed, name: name, scope: scope, version: version, loadingWith: SQLRepository(sql: sql, postgres: postgres))
                    changes.append(Change(kind: kind, id: id, name: name, version: version, old: sealed,
                                          new: DataKeyring.seal(value, name: name, scope: scope, version: version, with: sealing)))
                }
                try await update(sql, changes, postgres: postgres)
                return (rows.count, last, changes.count)
            }
            seen += count
            changed += rewritten
            progress?(min(seen, total), total)
            guard count == batchSize, let last else { break }
            after = last
        }
        return changed
    }

    /// One value's new text, replacing `old` only if the row still holds it.
    struct Change {
        let kind: String, id: String, name: String, version: Int, old: String, new: String
    }

    /// On PostgreSQL, all of `changes` in one statement: a round trip per
    /// row made a rotation 4.5 times slower there (11.8 s against 2.6 s for
    /// 6,000 values beside load, `RekeyCLITests.rotationUnderLoad`). SQLite
    /// answers in process, and its UPDATE … FROM joins without an index (the
    /// batched form took 5.2 s against 1.2 s), so it keeps one UPDATE per row.
    static func update(_ sql: any SQLDatabase, _ changes: [Change], postgres: Bool) async throws {
        guard !changes.isEmpty else { return }
        guard postgres else {
            for change in changes {
                try await sql.raw("""
                    UPDATE secret_versions SET sealed = \(bind: change.new)
                    WHERE scope_kind = \(bind: change.kind) AND scope_id = \(bind: change.id) AND name = \(bind: change.name)
                      AND version = \(bind: change.version) AND sealed = \(bind: change.old)
                    """).run()
            }
            return
        }
        var query = SQLQueryString("WITH v(k, i, n, ver, old, new) AS (VALUES ")
        for (index, change) in changes.enumerated() {
            if index > 0 { query = query + ", " }
            query = query + "(\(bind: change.kind), \(bind: change.id), \(bind: change.name), CAST(\(bind: change.version) AS BIGINT), \(bind: change.old), \(bind: change.new))"
        }
        query = query + """
            ) UPDATE secret_versions SET sealed = v.new FROM v
            WHERE secret_versions.scope_kind = v.k AND secret_versions.scope_id = v.i AND secret_versions.name = v.n
              AND secret_versions.version = v.ver AND secret_versions.sealed = v.old
            """
        try await sql.raw(query).run()
    }

    /// Migrates, checks the store key (or `allowing`: the new key of a
    /// re-wrap that committed before the command was interrupted). Returns a
    /// keyring for `key` and the fingerprint the database records.
    static func prepare(_ database: any ServerDatabase, key: ServerStoreKey, allowing: String?) async throws -> (DataKeyring, String) {
        _ = try await withDeadline(seconds: 10) { try await Migrations.migrate(database) }
        let stored = try await fingerprint(database)
        if let stored, stored != key.fingerprint, stored != allowing {
            throw Migrations.KeyMismatch(expected: stored, supplied: key.fingerprint)
        }
        if stored == nil { try await Migrations.checkKey(database, fingerprint: key.fingerprint) }
        // Its data keys are loaded when first needed (`DataKeyring.active`, `open(…loadingWith:)`).
        return (DataKeyring(storeKey: key), stored ?? key.fingerprint)
    }

    static func fingerprint(_ database: any ServerDatabase) async throws -> String? {
        try await database.session { sql in try await meta(sql, "key_fingerprint") }
    }

    static func lockFingerprint(_ sql: any SQLDatabase, postgres: Bool, expected: String) async throws {
        let rows = try await sql.raw("SELECT value FROM server_meta WHERE name = 'key_fingerprint' \(unsafeRaw: postgres ? "FOR UPDATE" : "")").all()
        guard try rows.first?.decode(column: "value", as: String.self) == expected else { throw Retry() }
    }

    static func meta(_ sql: any SQLDatabase, _ name: String) async throws -> String? {
        try await sql.raw("SELECT value FROM server_meta WHERE name = \(bind: name)").all().first?.decode(column: "value", as: String.self)
    }

    static func setMeta(_ sql: any SQLDatabase, _ name: String, _ value: String) async throws {
        try await sql.raw("""
            INSERT INTO server_meta (name, value) VALUES (\(bind: name), \(bind: value))
            ON CONFLICT (name) DO UPDATE SET value = excluded.value
            """).run()
    }

    /// The database changed under the command (another rekey, an older server's write).
    struct Retry: Error, CustomStringConvertible {
        var description: String { "the database changed while the store key was being replaced; nothing was changed: run the command again" }
    }
}

/// A rekey that cannot go ahead, in words.
public struct RekeyRefusal: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
