import Crypto
import Logging
import SecretFill
import SecretFillAPI
import SQLKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `secretfill backup` and `secretfill restore`: everything a server keeps, in
/// one file, and back into an empty database of either kind (which is how a
/// team moves from SQLite to PostgreSQL).
///
/// The file is JSON Lines: a header (format, schema version, the store key's
/// fingerprint), then per table a line naming its columns, its rows as JSON
/// arrays (values still sealed; keys as digests), and a line counting them;
/// the last line is an HMAC-SHA256 of every byte before it, under a key
/// derived from the store key (`ServerStoreKey.backupMACKey`). Browser sessions are
/// left out: a restored server starts with everyone signed out.
public enum ServerBackup {
    /// A table as the backup carries it: its columns in order, each TEXT or
    /// BIGINT, and the order its rows are read in (so pages do not overlap).
    struct Table: Sendable {
        enum Kind: Sendable { case text, integer }
        struct Column: Sendable {
            let name: String
            let kind: Kind
            /// Present from this schema version on.
            var since = 1
        }
        let name: String
        let allColumns: [Column]
        let order: String
        /// Present from this schema version on.
        let since: Int

        init(name: String, columns: [Column], order: String, since: Int) {
            self.name = name
            allColumns = columns
            self.order = order
            self.since = since
        }

        /// The columns a database at `schema` has.
        func columns(at schema: Int) -> [Column] { allColumns.filter { $0.since <= schema } }
    }

    /// Every table but `sessions`, `oidc_pending` and `cli_sign_ins` (sign-ins under way), `person_tokens` (a restored server's CLI tokens stop working: people sign in again) and `schema_migrations`, in the order a restore inserts them.
    static let tables: [Table] = [
        Table(name: "server_meta", columns: [.init(name: "name", kind: .text), .init(name: "value", kind: .text)], order: "name", since: 1),
        Table(name: "api_keys", columns: [.init(name: "name", kind: .text), .init(name: "token_digest", kind: .text), .init(name: "grants", kind: .text),
                                          .init(name: "created_at", kind: .integer), .init(name: "created_by", kind: .text),
                                          .init(name: "expires_at", kind: .integer), .init(name: "last_used_at", kind: .integer),
                                          .init(name: "revoked_at", kind: .integer),
                                          .init(name: "role", kind: .text, since: 4), .init(name: "subject", kind: .text, since: 4)],
              order: "name", since: 1),
        Table(name: "secrets", columns: [.init(name: "scope_kind", kind: .text), .init(name: "scope_id", kind: .text), .init(name: "name", kind: .text),
                                         .init(name: "current_version", kind: .integer), .init(name: "deleted", kind: .integer),
                                         .init(name: "updated_at", kind: .integer), .init(name: "updated_by", kind: .text)],
              order: "scope_kind, scope_id, name", since: 1),
        Table(name: "secret_versions", columns: [.init(name: "scope_kind", kind: .text), .init(name: "scope_id", kind: .text),
                                                 .init(name: "name", kind: .text), .init(name: "version", kind: .integer),
                                                 .init(name: "sealed", kind: .text), .init(name: "created_at", kind: .integer),
                                                 .init(name: "created_by", kind: .text)],
              order: "scope_kind, scope_id, name, version", since: 1),
        // Wrapped under the store key, as in the database: a backup opens with the store key it was taken under.
        Table(name: "data_keys", columns: [.init(name: "id", kind: .text), .init(name: "wrapped", kind: .text), .init(name: "created_at", kind: .integer)],
              order: "id", since: 6),
        Table(name: "oidc_roles", columns: [.init(name: "name", kind: .text), .init(name: "issuer", kind: .text), .init(name: "audiences", kind: .text),
                                            .init(name: "bound_claims", kind: .text), .init(name: "bound_subject", kind: .text),
                                            .init(name: "grants", kind: .text), .init(name: "ttl_seconds", kind: .integer),
                                            .init(name: "max_ttl_seconds", kind: .integer), .init(name: "jwks", kind: .text),
                                            .init(name: "created_at", kind: .integer), .init(name: "created_by", kind: .text)],
              order: "name", since: 4),
        Table(name: "members", columns: [.init(name: "name", kind: .text), .init(name: "grants", kind: .text), .init(name: "created_at", kind: .integer),
                                         .init(name: "created_by", kind: .text), .init(name: "updated_at", kind: .integer)],
              order: "name", since: 5),
        // Audit ids are kept (the audit page's cursor); `repeats` came with schema 3, `detail` with 4.
        Table(name: "audit_log", columns: [.init(name: "id", kind: .integer), .init(name: "time", kind: .integer), .init(name: "key_name", kind: .text),
                                           .init(name: "action", kind: .text), .init(name: "scope", kind: .text), .init(name: "names", kind: .text),
                                           .init(name: "client", kind: .text), .init(name: "outcome", kind: .text),
                                           .init(name: "repeats", kind: .integer, since: 3), .init(name: "detail", kind: .text, since: 4)],
              order: "id", since: 1),
    ]

    /// Rows read or written per statement: memory stays bounded by this, not by the database.
    static let page = 500
    static let format = "secretfill-backup"

    public struct Summary: Sendable {
        /// Rows per table, in the file's order.
        public let rows: [(table: String, count: Int)]
        public let schema: Int
    }

    /// Why a backup or a restore cannot go ahead; nothing was written.
    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
    }

    // MARK: backup

    /// One consistent snapshot (a single read transaction) of the database at
    /// `location`, written to `path` (mode 0600, replaced only when complete).
    public static func backup(_ location: DatabaseLocation, key: ServerStoreKey, to path: String, audit: Bool,
                              progress: (@Sendable (Int) -> Void)? = nil) async throws -> Summary {
        try await withDatabase(location) { try await write($0, key: key, to: path, audit: audit, progress: progress) }
    }

    /// Opens the database at `location` (its pool running), runs `body`, and closes it whatever happens.
    static func withDatabase<R: Sendable>(_ location: DatabaseLocation, _ body: (any ServerDatabase) async throws -> R) async throws -> R {
        var logger = Logger(label: "secretfill.db")
        logger.logLevel = .critical
        let database = try await openDatabase(location, logger: logger)
        let pool = Task { await database.run() }
        defer { pool.cancel() }
        do {
            let result = try await body(database)
            await database.close()
            return result
        } catch {
            await database.close()
            throw error
        }
    }

    static func write(_ database: any ServerDatabase, key: ServerStoreKey, to path: String, audit: Bool,
                      progress: (@Sendable (Int) -> Void)?) async throws -> Summary {
        let output = try BackupFile(creatingBeside: path, key: key)
        do {
            let postgres = database.isPostgres
            let summary = try await database.session { sql in
                // A snapshot for every page: PostgreSQL's REPEATABLE READ, SQLite's read transaction.
                try await sql.raw(postgres ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN").run()
                do {
                    let summary = try await snapshot(sql, key: key, into: output, audit: audit, progress: progress)
                    try await sql.raw("COMMIT").run()
                    return summary
                } catch {
                    try? await sql.raw("ROLLBACK").run()
                    throw error
                }
            }
            try output.finish(replacing: path)
            return summary
        } catch {
            output.abandon()
            throw error
        }
    }

    static func snapshot(_ sql: any SQLDatabase, key: ServerStoreKey, into output: BackupFile, audit: Bool,
                         progress: (@Sendable (Int) -> Void)?) async throws -> Summary {
        let versionRows = try await sql.raw("SELECT MAX(version) AS v FROM schema_migrations").all()
        guard let row = versionRows.first, try !row.decodeNil(column: "v") else {
            throw Refusal(description: "the database has no secretfill schema: there is nothing to back up")
        }
        let schema = try row.decode(column: "v", as: Int.self)
        guard schema <= Migrations.latest else { throw Migrations.TooNew(found: schema) }
        let fingerprint = try await sql.raw("SELECT value FROM server_meta WHERE name = 'key_fingerprint'").all().first
            .map { try $0.decode(column: "value", as: String.self) }
        if let fingerprint, fingerprint != key.fingerprint {
            throw Migrations.KeyMismatch(expected: fingerprint, supplied: key.fingerprint)
        }
        try output.line("{\"format\": \(JSONText.quoted(format)), \"version\": 1, \"schema\": \(schema), \"created\": \(JSONText.quoted(Clock.text(millis: Clock.nowMillis()))), \"keyFingerprint\": \(JSONText.quoted(key.fingerprint)), \"audit\": \(audit)}")
        var counts: [(String, Int)] = []
        var total = 0
        for table in tables where table.since <= schema && (audit || table.name != "audit_log") {
            let tableColumns = table.columns(at: schema)
            try output.line("{\"table\": \(JSONText.quoted(table.name)), \"columns\": [\(tableColumns.map { JSONText.quoted($0.name) }.joined(separator: ", "))]}")
            let columns = tableColumns.map(\.name).joined(separator: ", ")
            var count = 0
            while true {
                let rows = try await sql.raw("SELECT \(unsafeRaw: columns) FROM \(unsafeRaw: table.name) ORDER BY \(unsafeRaw: table.order) LIMIT \(bind: page) OFFSET \(bind: count)").all()
                for row in rows {
                    var fields: [String] = []
                    for column in tableColumns {
                        if try row.decodeNil(column: column.name) {
                            fields.append("null")
                        } else if column.kind == .integer {
                            fields.append(String(try row.decode(column: column.name, as: Int.self)))
                        } else {
                            fields.append(JSONText.quoted(try row.decode(column: column.name, as: String.self)))
                        }
                    }
                    try output.line("[" + fields.joined(separator: ", ") + "]")
                }
                count += rows.count
                total += rows.count
                progress?(total)
                if rows.count < page { break }
            }
            try output.line("{\"end\": \(JSONText.quoted(table.name)), \"rows\": \(count)}")
            counts.append((table.name, count))
        }
        return Summary(rows: counts, schema: schema)
    }

    // MARK: restore

    /// Verifies the file at `path` under `key`, then writes all of it into the
    /// empty database at `location`, or nothing.
    public static func restore(_ location: DatabaseLocation, key: ServerStoreKey, from path: String) async throws -> Summary {
        // The MAC first, over the whole file, before any database is touched.
        let header = try BackupReader.verify(path, key: key)
        return try await withDatabase(location) { try await load($0, header: header, key: key, from: path, location: location) }
    }

    static func load(_ database: any ServerDatabase, header: BackupReader.Header, key: ServerStoreKey, from path: String,
                     location: DatabaseLocation) async throws -> Summary {
        // The schema the backup was taken at (tables made when missing), then its rows, then the rest of the migrations.
        try await Migrations.migrate(database, upTo: header.schema)
        let postgres = database.isPostgres
        let summary = try await database.transaction { sql in
            var occupied: [String] = []
            for table in tables.filter({ $0.since <= header.schema }).map(\.name) + ["sessions"] {
                let rows = try await sql.raw("SELECT COUNT(*) AS n FROM \(unsafeRaw: table)").all()
                let count = try rows.first?.decode(column: "n", as: Int.self) ?? 0
                if count > 0 { occupied.append("\(table) (\(count) row\(count == 1 ? "" : "s"))") }
            }
            guard occupied.isEmpty else {
                throw Refusal(description: "\(location) is not empty: it holds \(occupied.joined(separator: ", ")); restore writes only into an empty database (a new one, or one with the schema and no rows)")
            }
            let reader = try BackupReader(path)
            defer { reader.close() }
            var counts: [(String, Int)] = []
            _ = try reader.next() // the header, verified already
            while let line = try reader.next() {
                guard case .table(let name, let columns) = line else {
                    if case .mac = line { break }
                    throw Refusal(description: "\(path) is not laid out as a backup: a row outside any table")
                }
                guard let table = tables.first(where: { $0.name == name }), table.columns(at: header.schema).map(\.name) == columns else {
                    throw Refusal(description: "\(path) holds a table this secretfill does not restore: '\(ServerStore.shown(name))'")
                }
                var batch: [[BackupReader.Value]] = []
                var count = 0
                func flush() async throws {
                    guard !batch.isEmpty else { return }
                    var query = SQLQueryString("INSERT INTO \(unsafeRaw: table.name) (\(unsafeRaw: columns.joined(separator: ", "))) VALUES ")
                    for (index, row) in batch.enumerated() {
                        query = query + (index == 0 ? "(" : ", (")
                        for (position, value) in row.enumerated() {
                            if position > 0 { query = query + ", " }
                            switch value {
                            case .null: query = query + "NULL"
                            case .integer(let number): query = query + "\(bind: number)"
                            case .text(let text): query = query + "\(bind: text)"
                            }
                        }
                        query = query + ")"
                    }
                    try await sql.raw(query).run()
                    batch.removeAll(keepingCapacity: true)
                }
                rows: while let next = try reader.next() {
                    switch next {
                    case .row(let values):
                        guard values.count == columns.count else {
                            throw Refusal(description: "\(path): a row of \(table.name) has \(values.count) values, not \(columns.count)")
                        }
                        batch.append(values)
                        count += 1
                        if batch.count == page { try await flush() }
                    case .end(let name, let rows):
                        guard name == table.name, rows == count else {
                            throw Refusal(description: "\(path): \(table.name) ends with \(rows) rows counted, \(count) read")
                        }
                        break rows
                    default:
                        throw Refusal(description: "\(path): \(table.name) does not end")
                    }
                }
                try await flush()
                counts.append((table.name, count))
            }
            if postgres, counts.contains(where: { $0.0 == "audit_log" }) {
                // The ids came with the rows: the sequence goes on after the largest.
                try await sql.raw("SELECT setval(pg_get_serial_sequence('audit_log', 'id'), COALESCE((SELECT MAX(id) FROM audit_log), 0) + 1, false)").run()
            }
            try await ServerStore.audit(SQLRepository(sql: sql, postgres: postgres), key: ActingKey.databaseOwner.name, action: "restore", scope: "-", names: [],
                                        client: "-", outcome: "ok")
            return Summary(rows: counts, schema: header.schema)
        }
        try await Migrations.migrate(database)
        return summary
    }
}

/// The backup being written: a temporary file beside the target (mode 0600),
/// its bytes MACed as they go, renamed over the target when complete.
final class BackupFile: @unchecked Sendable {
    let temporary: String
    let descriptor: Int32
    var mac: HMAC<SHA256>
    var buffer: [UInt8] = []

    init(creatingBeside path: String, key: ServerStoreKey) throws {
        temporary = path + ".partial-\(UInt32.random(in: 0...UInt32.max))"
        descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw ServerBackup.Refusal(description: "cannot create \(temporary): \(String(cString: strerror(errno)))")
        }
        mac = HMAC<SHA256>(key: try key.backupMACKey())
    }

    func line(_ text: String) throws {
        let bytes = Array((text + "\n").utf8)
        mac.update(data: bytes)
        buffer += bytes
        if buffer.count >= 1 << 20 { try flush() }
    }

    func flush() throws {
        var offset = 0
        while offset < buffer.count {
            let written = buffer[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard written > 0 else {
                throw ServerBackup.Refusal(description: "cannot write \(temporary): \(String(cString: strerror(errno)))")
            }
            offset += written
        }
        buffer.removeAll(keepingCapacity: true)
    }

    func finish(replacing path: String) throws {
        let code = HexText.lowercase(mac.finalize())
        buffer += Array("{\"mac\": \"\(code)\"}\n".utf8)
        try flush()
        guard fsync(descriptor) == 0, close(descriptor) == 0 else {
            throw ServerBackup.Refusal(description: "cannot write \(temporary): \(String(cString: strerror(errno)))")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw ServerBackup.Refusal(description: "cannot put the backup at \(path): \(reason)")
        }
    }

    func abandon() {
        close(descriptor)
        unlink(temporary)
    }
}

/// Reads a backup line by line (one line in memory at a time).
final class BackupReader: @unchecked Sendable {
    enum Value: Decodable, Sendable {
        case null, integer(Int), text(String)
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() { self = .null }
            else if let number = try? container.decode(Int.self) { self = .integer(number) }
            else { self = .text(try container.decode(String.self)) }
        }
    }

    struct Header: Decodable, Sendable {
        let format: String
        let version: Int
        let schema: Int
        let keyFingerprint: String
    }

    enum Line {
        case header(Header)
        case table(String, [String])
        case row([Value])
        case end(String, Int)
        case mac(String)
    }

    private struct Object: Decodable {
        var table: String?
        var columns: [String]?
        var end: String?
        var rows: Int?
        var mac: String?
        var format: String?
    }

    let path: String
    let file: UnsafeMutablePointer<FILE>
    var lineNumber = 0

    init(_ path: String) throws {
        self.path = path
        guard let file = fopen(path, "re") else {
            throw ServerBackup.Refusal(description: "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        self.file = file
    }

    func close() { fclose(file) }

    /// The next line's bytes with its newline, or nil at the end.
    func rawLine() throws -> [UInt8]? {
        var pointer: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(pointer) }
        let length = getline(&pointer, &capacity, file)
        guard length >= 0, let pointer else { return nil }
        lineNumber += 1
        return pointer.withMemoryRebound(to: UInt8.self, capacity: length) { Array(UnsafeBufferPointer(start: $0, count: length)) }
    }

    func next() throws -> Line? {
        guard let bytes = try rawLine() else { return nil }
        return try parse(bytes)
    }

    func parse(_ bytes: [UInt8]) throws -> Line {
        let data = Data(bytes)
        let broken = ServerBackup.Refusal(description: "\(path):\(lineNumber): not a line of a secretfill backup")
        if bytes.first == UInt8(ascii: "[") {
            guard let values = try? JSONDecoder().decode([Value].self, from: data) else { throw broken }
            return .row(values)
        }
        guard let object = try? JSONDecoder().decode(Object.self, from: data) else { throw broken }
        if object.format != nil {
            guard let header = try? JSONDecoder().decode(Header.self, from: data) else { throw broken }
            return .header(header)
        }
        if let table = object.table, let columns = object.columns { return .table(table, columns) }
        if let end = object.end, let rows = object.rows { return .end(end, rows) }
        if let mac = object.mac { return .mac(mac) }
        throw broken
    }

    /// Reads the whole file once: the header must be a backup's, made with
    /// `key`, and the last line's MAC must match every byte before it.
    static func verify(_ path: String, key: ServerStoreKey) throws -> Header {
        let reader = try BackupReader(path)
        defer { reader.close() }
        let unreadable = ServerBackup.Refusal(description: "\(path) is not a secretfill backup (it is empty, or its first line is not a backup's)")
        guard let first = try reader.rawLine(), case .header(let header)? = try? reader.parse(first),
              header.format == ServerBackup.format else { throw unreadable }
        guard header.version == 1 else {
            throw ServerBackup.Refusal(description: "\(path) is a backup of format version \(header.version), which this secretfill cannot read; upgrade secretfill")
        }
        guard header.keyFingerprint == key.fingerprint else {
            throw ServerBackup.Refusal(description: "\(path) was made with store key \(header.keyFingerprint), and the key given is \(key.fingerprint): restore needs the key the backup was made with")
        }
        guard header.schema <= Migrations.latest else { throw Migrations.TooNew(found: header.schema) }
        var mac = HMAC<SHA256>(key: try key.backupMACKey())
        mac.update(data: first)
        var last: [UInt8]?
        while let bytes = try reader.rawLine() {
            if let pending = last { mac.update(data: pending) }
            last = bytes
        }
        let expected = HexText.lowercase(mac.finalize())
        let damaged = ServerBackup.Refusal(description: "\(path) does not verify: it was changed or cut short after it was written (its MAC does not match); nothing was restored")
        guard let last, case .mac(let found)? = try? reader.parse(last), found.utf8.count == expected.utf8.count else { throw damaged }
        // Constant time, as every comparison with a secret-derived value here.
        var difference: UInt8 = 0
        for (a, b) in zip(found.utf8, expected.utf8) { difference |= a ^ b }
        guard difference == 0 else { throw damaged }
        return header
    }
}
