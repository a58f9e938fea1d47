import Logging
import NIOCore
import NIOPosix
import PostgresKit
import PostgresNIO
import SecretFill
import SQLiteKit
import SQLKit

/// The SQL database under the server: PostgreSQL or SQLite behind one
/// SQLKit interface, so every query is written once.
protocol ServerDatabase: Sendable {
    var isPostgres: Bool { get }
    /// Runs `body` on one connection inside one transaction: committed when
    /// it returns, rolled back when it throws.
    func transaction<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R
    /// Runs `body` on one connection, each statement committing on its own
    /// (for reads that need no transaction: one round trip fewer each way).
    func session<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R
    /// The key whose token has this SHA-256 digest (every request asks it first).
    func key(digest: String) async throws -> KeyRecord?
    /// Writes `audit` and reads the current sealed values of `names` in
    /// `chain`'s scopes, as one step: no value is read unless its audit row is written.
    func auditedRead(_ audit: AuditRecord, names: [String], in chain: ScopeChain) async throws -> [SealedRecord]
    /// Keeps the connection pool working until cancelled (PostgreSQL's client needs it).
    func run() async
    func close() async
}

/// A database failure that is not the request's fault: 503, exit 2.
struct DatabaseUnavailable: Error, CustomStringConvertible {
    let detail: String
    var description: String { "the database is unavailable (\(detail))" }
}

/// Runs `body`, giving up after `seconds`, so a stopped database answers
/// 503 promptly instead of holding a request open.
///
/// The timer is an event-loop scheduled task, cancelled as soon as `body`
/// answers: every database call has one, and `Task.sleep`'s timer (a
/// dispatch source, woken and torn down on other threads) cost more server
/// CPU per request than the query itself, and most of the latency tail.
func withDeadline<R: Sendable>(seconds: Int, _ body: @escaping @Sendable () async throws -> R) async throws -> R {
    try await withThrowingTaskGroup(of: R?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .seconds(Int64(seconds))) {}
            try await withTaskCancellationHandler {
                try await timer.futureResult.get()
            } onCancel: {
                timer.cancel()
            }
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let result = first else {
            throw DatabaseUnavailable(detail: "no answer within \(seconds) s")
        }
        return result
    }
}

/// `begin`, `body`, COMMIT; ROLLBACK instead when `body` throws.
private func inTransaction<R: Sendable>(_ sql: any SQLDatabase, begin: String,
                                        _ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
    try await sql.raw("\(unsafeRaw: begin)").run()
    do {
        let result = try await body(sql)
        try await sql.raw("COMMIT").run()
        return result
    } catch {
        try? await sql.raw("ROLLBACK").run()
        throw error
    }
}

final class PostgresDatabaseBackend: ServerDatabase {
    let client: PostgresClient
    let logger: Logger
    var isPostgres: Bool { true }

    init(host: String, port: Int, user: String, password: String?, database: String, logger: Logger) {
        var configuration = PostgresClient.Configuration(host: host, port: port, username: user, password: password,
                                                         database: database, tls: .disable)
        configuration.options.connectTimeout = .seconds(3)
        // All 16 stay open and unpinged: the pool arms a timer (a task group
        // and a Task.sleep) per hand-back of a connection above its minimum,
        // and another for keep-alive; that was a third of a resolve's CPU
        // (bench/server.sh). A connection PostgreSQL closes is still replaced.
        configuration.options.maximumConnections = 16
        configuration.options.minimumConnections = 16
        configuration.options.keepAliveBehavior = nil
        self.logger = logger
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
    }

    func transaction<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await client.withConnection { connection in
            try await inTransaction(connection.sql(queryLogLevel: nil), begin: "BEGIN", body)
        }
    }

    func session<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await client.withConnection { connection in
            try await body(connection.sql(queryLogLevel: nil))
        }
    }

    func key(digest: String) async throws -> KeyRecord? {
        var found: KeyRecord?
        for try await row in try await client.execute(PostgresHotQueries.KeyByDigest(digest: digest)) {
            found = KeyRecord(name: row.0, digest: row.1, grants: row.2, expires: row.3, revoked: row.4, lastUsed: row.5)
        }
        return found
    }

    func auditedRead(_ audit: AuditRecord, names: [String], in chain: ScopeChain) async throws -> [SealedRecord] {
        var records: [SealedRecord] = []
        records.reserveCapacity(names.count)
        for try await row in try await client.execute(PostgresHotQueries.AuditedRead(audit: audit, names: names, chain: chain)) {
            records.append(SealedRecord(scope: try ServerStore.scope(kind: row.0, id: row.1), name: row.2, version: row.3, sealed: row.4))
        }
        return records
    }

    func run() async { await client.run() }
    func close() async {}
}

/// One SQLite connection; transactions take turns (SQLite has one writer).
final class SQLiteDatabaseBackend: ServerDatabase {
    let connection: SQLiteConnection
    let turns = TurnLock()
    var isPostgres: Bool { false }

    init(connection: SQLiteConnection) {
        self.connection = connection
    }

    static func open(path: String, logger: Logger) async throws -> SQLiteDatabaseBackend {
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        let sql = connection.sql(queryLogLevel: nil)
        try await sql.raw("PRAGMA journal_mode=WAL").run()
        try await sql.raw("PRAGMA busy_timeout=5000").run()
        return SQLiteDatabaseBackend(connection: connection)
    }

    func transaction<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await turns.withTurn {
            // BEGIN IMMEDIATE takes the write lock at once, not at the first write.
            try await inTransaction(self.connection.sql(queryLogLevel: nil), begin: "BEGIN IMMEDIATE", body)
        }
    }

    func session<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await turns.withTurn { try await body(self.connection.sql(queryLogLevel: nil)) }
    }

    func run() async {
        // Nothing runs in the background; wait to be cancelled.
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
    }

    func close() async { try? await connection.close() }
}

/// Mutual exclusion for async code: one holder at a time, in arrival order.
actor TurnLock {
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        if !busy { busy = true; return }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() }
    }

    nonisolated func withTurn<R: Sendable>(_ body: @escaping @Sendable () async throws -> R) async throws -> R {
        await acquire()
        do {
            let result = try await body()
            await release()
            return result
        } catch {
            await release()
            throw error
        }
    }
}

func openDatabase(_ location: DatabaseLocation, logger: Logger) async throws -> any ServerDatabase {
    switch location {
    case .postgres(let host, let port, let user, let password, let database):
        return PostgresDatabaseBackend(host: host, port: port, user: user, password: password, database: database, logger: logger)
    case .sqlite(let path):
        return try await SQLiteDatabaseBackend.open(path: path, logger: logger)
    }
}
