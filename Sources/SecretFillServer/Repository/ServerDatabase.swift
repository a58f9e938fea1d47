import Atomics
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresKit
import PostgresNIO
import SecretFill
import SQLiteKit
import SQLKit
#if canImport(Glibc)
import Glibc
#endif

/// The SQL database under the server: PostgreSQL or SQLite behind one
/// SQLKit interface, so every query is written once.
protocol ServerDatabase: Sendable {
    var isPostgres: Bool { get }
    /// Runs `body` on one connection inside one transaction: committed when
    /// it returns, rolled back when it throws.
    func transaction<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R
    /// Like `transaction`, rolled back instead of committed once `deadline`
    /// has passed (`WriteRolledBack`), so that a request answered "failed"
    /// has changed nothing. On PostgreSQL every statement is also given up
    /// by the server itself at the deadline (`statement_timeout`,
    /// `lock_timeout`): a statement waiting for a lock is cancelled, not waited for.
    func transaction<R: Sendable>(until deadline: NIODeadline, _ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R
    /// Runs `body` on one connection, each statement committing on its own
    /// (for reads that need no transaction: one round trip fewer each way).
    func session<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R
    /// The key whose token has this SHA-256 digest (every request asks it first).
    func key(digest: String) async throws -> KeyRecord?
    /// Writes `audit` and reads the current sealed values of `names` in
    /// `chain`'s scopes, as one step: no value is read unless its audit row
    /// is written. Gives up with `DatabaseUnavailable` after `deadline` seconds.
    func auditedRead(_ audit: AuditRecord, names: [String], in chain: ScopeChain, deadline: Int) async throws -> [SealedRecord]
    /// Keeps the connection pool working until cancelled (PostgreSQL's client needs it).
    func run() async
    func close() async
    /// Connections leased at this moment (for `secretfill_db_pool_connections_in_use`).
    var connectionsInUse: Int { get }
}

/// Connections leased now: one more while `body` runs.
final class LeaseCount: Sendable {
    private let count = ManagedAtomic<Int>(0)
    var current: Int { count.load(ordering: .relaxed) }

    func during<R>(_ body: () async throws -> R) async throws -> R {
        count.wrappingIncrement(ordering: .relaxed)
        defer { count.wrappingDecrement(ordering: .relaxed) }
        return try await body()
    }
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
    try await withDeadline(until: .now() + .seconds(Int64(seconds)), seconds: seconds, body)
}

/// `withDeadline(seconds:)` to an instant: `seconds` is what the error says.
func withDeadline<R: Sendable>(until deadline: NIODeadline, seconds: Int, _ body: @escaping @Sendable () async throws -> R) async throws -> R {
    try await withThrowingTaskGroup(of: R?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(deadline: deadline) {}
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

/// A transaction that ran past its deadline and was rolled back: nothing it did was kept.
struct WriteRolledBack: Error, CustomStringConvertible {
    let seconds: Int
    var description: String { "the database did not finish within \(seconds) s, so the change was rolled back: nothing was written; try again" }
}

/// `begin`, `body`, COMMIT; ROLLBACK instead when `body` throws or, with a
/// `deadline`, when it has passed by the time `body` returns. PostgreSQL
/// then also cancels any statement still running at the deadline.
private func inTransaction<R: Sendable>(_ sql: any SQLDatabase, begin: (any SQLDatabase) async throws -> Void, deadline: NIODeadline? = nil,
                                        postgres: Bool = false, _ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
    try await begin(sql)
    do {
        if let deadline, postgres {
            let millis = max(1, (deadline - .now()).nanoseconds / 1_000_000)
            try await sql.raw("SELECT set_config('statement_timeout', \(bind: String(millis)), true), set_config('lock_timeout', \(bind: String(millis)), true)").run()
        }
        let result = try await body(sql)
        if let deadline, deadline < .now() { throw WriteRolledBack(seconds: ServerStore.writeSeconds) }
        try await sql.raw("COMMIT").run()
        return result
    } catch {
        try? await sql.raw("ROLLBACK").run()
        if deadline != nil, let error = error as? PSQLError, error.code == .server,
           let state = error.serverInfo?[.sqlState], state == "57014" || state == "55P03" {
            // query_canceled (statement_timeout) or lock_not_available (lock_timeout): the deadline, not a fault.
            throw WriteRolledBack(seconds: ServerStore.writeSeconds)
        }
        throw error
    }
}

final class PostgresDatabaseBackend: ServerDatabase {
    /// The connections of one event loop, and its resolves' batcher.
    struct LoopPool: Sendable {
        let loop: any EventLoop
        let client: PostgresClient
        /// The hot read's own connection on this loop (`HotReadConnection`: outside the pool).
        let hot: HotReadConnection
        let reads: ReadBatcher<PostgresHotQueries.Read, [SealedRecord]>
    }

    /// One pool per NIO event loop (one per core), each opening its
    /// connections on its own loop, and each request using its own loop's
    /// pool. One pool for all put every connection on one loop (PostgresNIO
    /// opens them on `any()`, the loop it is asked from), so one thread did
    /// every request's database work and decryption: 65% of the server's CPU,
    /// with the other core idle a sixth of the time (bench/server.sh, perf).
    let pools: [LoopPool]
    /// Connections per server in the pools (spread over them; the hot read
    /// has one more per loop, `HotReadConnection`), resolve statements at
    /// once per event loop, and resolves in one statement at most (measured
    /// with bench/server.sh; see BENCHMARKS.md). One statement per loop, not
    /// two: the resolves that wait share the next one, so PostgreSQL does
    /// less per resolve (with `EventLoopExecutor`, three alternating A/B runs:
    /// PostgreSQL 147–167 against 194–215 µs of CPU per resolve, the server
    /// 327–361 against 378–417 µs, and p99 lower too).
    static let connections = 16
    /// How long opening a connection may take: the pool's, the hot read's
    /// and the start-up probe's (which names it when PostgreSQL is silent).
    static let connectSeconds: Int64 = 3
    static let readSlotsPerLoop = 1
    static let largestBatch = 16
    let logger: Logger
    let leases: LeaseCount
    var isPostgres: Bool { true }
    var connectionsInUse: Int { leases.current }

    /// libpq's sslmode as a TLS configuration and whether it is required
    /// (nil: no TLS). `require` never falls back to plain text: a server
    /// without TLS is refused.
    static func tlsSettings(_ setting: DatabaseLocation.PostgresTLS) throws -> (configuration: TLSConfiguration, required: Bool)? {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        switch setting.mode {
        case .disable:
            return nil
        case .allow, .prefer, .require:
            configuration.certificateVerification = .none
            return (configuration, setting.mode == .require)
        case .verifyCA, .verifyFull:
            configuration.certificateVerification = setting.mode == .verifyFull ? .fullVerification : .noHostnameVerification
            if let file = setting.rootCertificate {
                do {
                    configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(file))
                } catch {
                    throw ServeRefusal("cannot read sslrootcert \(file): it is not a PEM certificate file")
                }
            }
            return (configuration, true)
        }
    }

    static func tls(_ setting: DatabaseLocation.PostgresTLS) throws -> PostgresClient.Configuration.TLS {
        guard let (configuration, required) = try tlsSettings(setting) else { return .disable }
        return required ? .require(configuration) : .prefer(configuration)
    }

    /// The same for one connection outside the pool (the start-up probe's, the hot read's).
    static func connectionTLS(_ setting: DatabaseLocation.PostgresTLS) throws -> PostgresConnection.Configuration.TLS {
        guard let (configuration, required) = try tlsSettings(setting) else { return .disable }
        let context = try NIOSSLContext(configuration: configuration)
        return required ? .require(context) : .prefer(context)
    }

    /// `hotTLS` is `tls` for the hot read's own connections (`HotReadConnection`).
    init(host: String, port: Int, user: String, password: String?, database: String, tls: PostgresClient.Configuration.TLS,
         hotTLS: PostgresConnection.Configuration.TLS, logger: Logger) {
        var configuration = PostgresClient.Configuration(host: host, port: port, username: user, password: password,
                                                         database: database, tls: tls)
        configuration.options.connectTimeout = .seconds(PostgresDatabaseBackend.connectSeconds)
        let loops = Array(MultiThreadedEventLoopGroup.singleton.makeIterator())
        // No minimum: PostgresNIO 1.33.2's pool traps (SIGILL) when
        // PostgreSQL comes back after a restart while requests are queued
        // and its minimum is above 2: recovery asks for one connection per
        // waiting request, and the next lease's
        // `precondition(minimumConcurrentConnections <= stats.active)` in
        // `createNewDemandConnectionIfPossible` fails (ConnectionPoolModule,
        // PoolStateMachine.swift's handleAvailableConnection and
        // PoolStateMachine+ConnectionGroup.swift). With no minimum every
        // connection is a demand connection: opened when a request needs
        // one, up to the maximum, and kept for a day once open, so under
        // load they all stay open as before. The cost is the idle timer the
        // pool arms when a connection goes back unused, which the hot read
        // escapes on a connection of its own (`HotReadConnection`).
        // Unpinged: keep-alive arms another timer per hand-back. A request
        // waiting for a connection while the database is down is answered
        // 503 by our own deadline.
        let perLoop = max(1, (Self.connections + loops.count - 1) / loops.count)
        configuration.options.maximumConnections = perLoop
        configuration.options.minimumConnections = 0
        configuration.options.connectionIdleTimeout = .seconds(86_400)
        configuration.options.keepAliveBehavior = nil
        // The batched resolve (`AuditedReadBatch`) takes arrays whose length
        // PostgreSQL's custom plans are made for, so it would plan it anew at
        // every execution: half a millisecond each, more than running it
        // (bench/server.sh: 330 against 205 µs of PostgreSQL CPU per resolve).
        // Every statement the server sends is an equality or index lookup,
        // so a generic plan is the plan PostgreSQL would choose for the others.
        configuration.options.additionalStartupParameters = [("plan_cache_mode", "force_generic_plan")]
        var hotConfiguration = PostgresConnection.Configuration(host: host, port: port, username: user, password: password,
                                                                database: database, tls: hotTLS)
        hotConfiguration.options.connectTimeout = .seconds(PostgresDatabaseBackend.connectSeconds)
        hotConfiguration.options.additionalStartupParameters = configuration.options.additionalStartupParameters
        self.logger = logger
        let leases = LeaseCount()
        self.leases = leases
        pools = loops.map { loop in
            // An event loop is an event-loop group of one: the pool's connections all open on it.
            let client = PostgresClient(configuration: configuration, eventLoopGroup: loop, backgroundLogger: logger)
            let hot = HotReadConnection(loop: loop, configuration: hotConfiguration, logger: logger)
            return LoopPool(loop: loop, client: client, hot: hot, reads: ReadBatcher(slots: Self.readSlotsPerLoop, largest: Self.largestBatch) { batch in
                try await leases.during { try await Self.auditedReads(batch, on: hot, logger: logger) }
            })
        }
    }

    /// The pool of the event loop this runs on; the first one off the loops.
    var pool: LoopPool {
        if let current = MultiThreadedEventLoopGroup.currentEventLoop {
            for pool in pools where pool.loop === current { return pool }
        }
        return pools[0]
    }

    var client: PostgresClient { pool.client }

    func transaction<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await client.withConnection { connection in
            try await self.leases.during { try await inTransaction(connection.sql(queryLogLevel: nil), begin: { try await $0.raw("BEGIN").run() }, body) }
        }
    }

    func transaction<R: Sendable>(until deadline: NIODeadline, _ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await client.withConnection { connection in
            try await self.leases.during {
                try await inTransaction(connection.sql(queryLogLevel: nil), begin: { try await $0.raw("BEGIN").run() }, deadline: deadline, postgres: true, body)
            }
        }
    }

    func session<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await client.withConnection { connection in
            try await self.leases.during { try await body(connection.sql(queryLogLevel: nil)) }
        }
    }

    func key(digest: String) async throws -> KeyRecord? {
        try await leases.during {
            var found: KeyRecord?
            for try await row in try await client.execute(PostgresHotQueries.KeyByDigest(digest: digest)) {
                found = KeyRecord(name: row.0, digest: row.1, grants: row.2, expires: row.3, revoked: row.4, lastUsed: row.5)
            }
            return found
        }
    }

    /// Resolves go through `reads`: alone when the database has a slot
    /// free, together in one statement when it is busy.
    func auditedRead(_ audit: AuditRecord, names: [String], in chain: ScopeChain, deadline: Int) async throws -> [SealedRecord] {
        try await pool.reads.read(PostgresHotQueries.Read(audit: audit, names: names, chain: chain,
                                                          deadline: .now() + .seconds(Int64(deadline)), seconds: deadline))
    }

    /// Runs one statement for `batch`, given up at the earliest deadline
    /// among its reads (a read that waited for a slot has less time left).
    static func auditedReads(_ batch: [PostgresHotQueries.Read], on hot: HotReadConnection, logger: Logger) async throws -> [[SealedRecord]] {
        let earliest = batch.min { $0.deadline < $1.deadline }!
        return try await withDeadline(until: earliest.deadline, seconds: earliest.seconds) {
            try await hot.run { connection in try await auditedReads(batch, on: connection, logger: logger) }
        }
    }

    private static func auditedReads(_ batch: [PostgresHotQueries.Read], on connection: PostgresConnection, logger: Logger) async throws -> [[SealedRecord]] {
        if batch.count == 1 {
            let read = batch[0]
            var records: [SealedRecord] = []
            records.reserveCapacity(read.names.count)
            for try await row in try await connection.execute(PostgresHotQueries.AuditedRead(audit: read.audit, names: read.names, chain: read.chain), logger: logger) {
                records.append(SealedRecord(scope: try ServerStore.scope(kind: row.0, id: row.1), name: row.2, version: row.3, sealed: row.4))
            }
            return [records]
        }
        var answers = batch.map { read -> [SealedRecord] in
            var records: [SealedRecord] = []
            records.reserveCapacity(read.names.count)
            return records
        }
        for try await row in try await connection.execute(PostgresHotQueries.AuditedReadBatch(reads: batch), logger: logger) {
            guard batch.indices.contains(row.0 - 1), batch[row.0 - 1].names.indices.contains(row.1) else {
                throw DatabaseUnavailable(detail: "a batched read answered for an unknown request")
            }
            let read = batch[row.0 - 1]
            let scope: Scope
            switch (row.2, read.chain.project, read.chain.cluster) {
            case (0, let project?, _): scope = .project(project)
            case (1, _, let cluster?): scope = .cluster(cluster)
            case (2, _, _): scope = .team
            default: throw DatabaseUnavailable(detail: "a batched read answered from a scope it was not asked for")
            }
            answers[row.0 - 1].append(SealedRecord(scope: scope, name: read.names[row.1], version: row.3, sealed: row.4))
        }
        return answers
    }

    func run() async {
        await withDiscardingTaskGroup { group in
            for pool in pools { group.addTask { await pool.client.run() } }
        }
        for pool in pools { await pool.hot.close() }
    }
    func close() async {}
}

/// One SQLite connection; transactions take turns (SQLite has one writer).
final class SQLiteDatabaseBackend: ServerDatabase {
    let connection: SQLiteConnection
    let turns = TurnLock()
    let leases = LeaseCount()
    let logger: Logger
    var isPostgres: Bool { false }
    var connectionsInUse: Int { leases.current }

    init(connection: SQLiteConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    static func open(path: String, logger: Logger) async throws -> SQLiteDatabaseBackend {
        try createPrivately(path)
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        let sql = connection.sql(queryLogLevel: nil)
        try await sql.raw("PRAGMA journal_mode=WAL").run()
        try await sql.raw("PRAGMA busy_timeout=5000").run()
        return SQLiteDatabaseBackend(connection: connection, logger: logger)
    }

    /// Creates the database file mode 0600 before SQLite opens it, and
    /// narrows an existing one (and its `-wal`/`-shm`) of ours to 0600:
    /// SQLite creates the `-wal` and `-shm` files with the database file's
    /// mode, so values sealed or not, key digests and the audit log stay
    /// the owner's whatever the umask or the folder.
    static func createPrivately(_ path: String) throws {
        let descriptor = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if descriptor < 0 {
            let code = errno
            let folder = path.lastIndex(of: "/").map { String(path[..<$0]) }.flatMap { $0.isEmpty ? "/" : $0 } ?? "."
            switch code {
            case ENOENT:
                throw ServeRefusal("cannot create the SQLite database \(path): its folder \(folder) does not exist (create it, mode 0700, or give another path)")
            case EACCES, EROFS:
                throw ServeRefusal("cannot create or open the SQLite database \(path): \(String(cString: strerror(code))) (the folder \(folder) must be writable by this user)")
            default:
                throw ServeRefusal("cannot open the SQLite database \(path): \(String(cString: strerror(code)))")
            }
        }
        _ = fchmod(descriptor, 0o600)
        Glibc.close(descriptor)
        for suffix in ["-wal", "-shm"] {
            var info = stat()
            if stat(path + suffix, &info) == 0, info.st_uid == geteuid(), info.st_mode & 0o077 != 0 { _ = chmod(path + suffix, 0o600) }
        }
    }

    func transaction<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await turns.withTurn {
            try await self.leases.during {
                try await inTransaction(self.connection.sql(queryLogLevel: nil), begin: self.begin, body)
            }
        }
    }

    func transaction<R: Sendable>(until deadline: NIODeadline, _ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await turns.withTurn {
            try await self.leases.during {
                try await inTransaction(self.connection.sql(queryLogLevel: nil), begin: self.begin, deadline: deadline, body)
            }
        }
    }

    /// `BEGIN IMMEDIATE`, after rolling back a transaction that nothing owns.
    ///
    /// Transactions take turns on the one connection, so when a turn starts none
    /// should be open. One was, once, in a run of the whole test suite: the next
    /// BEGIN failed with "cannot start a transaction within a transaction" (the
    /// cause is not found). Left open, it would make every later write of this
    /// server fail the same way. Its owner has already had an error (its COMMIT
    /// and its ROLLBACK failed), so rolling it back loses nothing that was
    /// reported as written. The error is logged, without any value or token.
    func begin(_ sql: any SQLDatabase) async throws {
        do {
            // BEGIN IMMEDIATE takes the write lock at once, not at the first write.
            try await sql.raw("BEGIN IMMEDIATE").run()
        } catch let error as SQLiteError where error.message.contains("within a transaction") {
            logger.error("the SQLite connection had a transaction that nothing owned; it was rolled back before the next one began")
            try await sql.raw("ROLLBACK").run()
            try await sql.raw("BEGIN IMMEDIATE").run()
        }
    }

    func session<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await turns.withTurn { try await self.leases.during { try await body(self.connection.sql(queryLogLevel: nil)) } }
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
    case .postgres(let host, let port, let user, let password, let database, let tls):
        return PostgresDatabaseBackend(host: host, port: port, user: user, password: password, database: database,
                                       tls: try PostgresDatabaseBackend.tls(tls), hotTLS: try PostgresDatabaseBackend.connectionTLS(tls), logger: logger)
    case .sqlite(let path):
        return try await SQLiteDatabaseBackend.open(path: path, logger: logger)
    }
}

/// One connection made and closed before the pool starts, so that a
/// mistake in the URL is named at once (PostgresNIO's pool retries every
/// failure and says only that it gave up, 60 s later).
enum PostgresProbe {
    /// Why PostgreSQL cannot be used, said plainly; never the password.
    struct Failure: Error, CustomStringConvertible {
        let description: String
        /// True for mistakes that retrying cannot fix (a wrong password, a missing database, no TLS for sslmode=require).
        let permanent: Bool
    }

    static func check(_ location: DatabaseLocation, logger: Logger) async throws(Failure) {
        guard case .postgres(let host, let port, let user, let password, let database, let tls) = location else { return }
        let where_ = "PostgreSQL at \(host):\(port)"
        let connectionTLS: PostgresConnection.Configuration.TLS
        do {
            connectionTLS = try PostgresDatabaseBackend.connectionTLS(tls)
        } catch let refusal as ServeRefusal {
            throw Failure(description: refusal.description, permanent: true)
        } catch {
            throw Failure(description: "cannot set up TLS for \(where_): \(ErrorWords.describe(error))", permanent: true)
        }
        var configuration = PostgresConnection.Configuration(host: host, port: port, username: user, password: password, database: database, tls: connectionTLS)
        configuration.options.connectTimeout = .seconds(PostgresDatabaseBackend.connectSeconds)
        do {
            let connection = try await PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration,
                                                                  id: 0, logger: logger)
            try? await connection.close()
        } catch {
            throw describe(error, where_: where_, user: user, database: database, tls: tls)
        }
    }

    static func describe(_ error: any Error, where_: String, user: String, database: String, tls: DatabaseLocation.PostgresTLS) -> Failure {
        guard let error = error as? PSQLError else {
            return Failure(description: "cannot connect to \(where_): \(ErrorWords.describe(error))", permanent: false)
        }
        switch error.code {
        case .server:
            let state = error.serverInfo?[.sqlState] ?? ""
            switch state {
            case "28P01": return Failure(description: "\(where_) refused the login: password authentication failed for user \"\(user)\"", permanent: true)
            case "28000": return Failure(description: "\(where_) refused the login of user \"\(user)\" (no pg_hba.conf entry allows it, or the role does not exist)", permanent: true)
            case "3D000": return Failure(description: "\(where_) has no database \"\(database)\" (create it: CREATE DATABASE \(database) OWNER \(user))", permanent: true)
            case "57P03": return Failure(description: "\(where_) is starting up or shutting down", permanent: false)
            case "53300": return Failure(description: "\(where_) has too many connections", permanent: false)
            default: return Failure(description: "\(where_) refused the connection (SQLSTATE \(state.prefix(5)))", permanent: !state.hasPrefix("08") && !state.hasPrefix("57"))
            }
        case .sslUnsupported:
            return Failure(description: "\(where_) does not offer TLS, and sslmode=\(tls.mode.rawValue) requires it: nothing was sent in clear (turn ssl on in PostgreSQL, or use sslmode=prefer)", permanent: true)
        case .connectionError:
            if let underlying = error.underlying as? NIOSSLError {
                return Failure(description: "TLS with \(where_) failed (\(underlying)); check sslrootcert and the server's certificate", permanent: true)
            }
            if let underlying = error.underlying, String(describing: underlying).contains("connectTimeout") {
                return Failure(description: "\(where_) did not answer within \(PostgresDatabaseBackend.connectSeconds) s", permanent: false)
            }
            if let underlying = error.underlying, String(describing: underlying).lowercased().contains("refused") {
                return Failure(description: "\(where_) refused the connection (is PostgreSQL running and listening there?)", permanent: false)
            }
            return Failure(description: "cannot connect to \(where_)", permanent: false)
        case .serverClosedConnection, .uncleanShutdown:
            let detail = error.underlying.map { " (\(ErrorWords.describe($0)))" } ?? ""
            return Failure(description: "\(where_) closed the connection before the login finished\(detail): is PostgreSQL listening there, and reachable from here?", permanent: false)
        case .unexpectedBackendMessage, .messageDecodingFailure:
            return Failure(description: "\(where_) answered something that is not PostgreSQL's protocol: is the port right?", permanent: true)
        case .authMechanismRequiresPassword:
            return Failure(description: "\(where_) asks for a password for user \"\(user)\" and none was given: put it in the URL, in PGPASSWORD or in ~/.pgpass (mode 0600)", permanent: true)
        default:
            return Failure(description: "cannot log in to \(where_) (\(error.code))", permanent: true)
        }
    }
}
