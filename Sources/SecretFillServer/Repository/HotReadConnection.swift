import Atomics
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO

/// The connection an event loop's hot read (`POST /v1/resolve`'s batched
/// statement, `ReadBatcher`) runs on: one per loop, held outside the pool.
///
/// Why not a pooled connection: the pool has no minimum (see
/// `PostgresDatabaseBackend.init`: PostgresNIO 1.33.2's pool traps when its
/// minimum is above what it counts as active after a restart), so every
/// connection it hands back arms an idle timer (`Task.sleep`, a dispatch
/// source woken on another thread) that the next lease cancels. The hot read
/// hands its connection back several thousand times a second: that timer
/// and the pool's bookkeeping were 8% of the server's CPU under
/// bench/server.sh's resolve load (perf; BENCHMARKS.md has the A/B). Held
/// here, the connection is leased from nothing and handed back to nothing.
///
/// What it keeps of the pool's behaviour: the connection is opened on the
/// loop whose requests use it, with the pool's settings (TLS, timeouts,
/// `plan_cache_mode`), when the first read needs it. After any error (the
/// database went away, a deadline cancelled the statement) it is closed and
/// forgotten, and the next read opens a new one; while the database is down
/// each read fails at once (503) instead of waiting for its deadline.
final class HotReadConnection: Sendable {
    private let loop: any EventLoop
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private let held = NIOLockedValueBox<PostgresConnection?>(nil)
    /// Connection ids for PostgresNIO's log metadata, apart from the pools' (which count from 0).
    private static let ids = ManagedAtomic<Int>(1 << 20)

    init(loop: any EventLoop, configuration: PostgresConnection.Configuration, logger: Logger) {
        self.loop = loop
        self.configuration = configuration
        self.logger = logger
    }

    /// Whether a connection is held and open (for tests).
    var isOpen: Bool { held.withLockedValue { $0.map { !$0.isClosed } ?? false } }

    /// `body` on the held connection, opened first if none is held or the
    /// one held was closed. When `body` throws, the connection is closed and
    /// forgotten before the error is rethrown.
    func run<R>(_ body: (PostgresConnection) async throws -> R) async throws -> R {
        let connection = try await current()
        do {
            return try await body(connection)
        } catch {
            held.withLockedValue { if $0 === connection { $0 = nil } }
            try? await connection.close()
            throw error
        }
    }

    private func current() async throws -> PostgresConnection {
        if let open = held.withLockedValue({ $0 }), !open.isClosed { return open }
        let fresh = try await PostgresConnection.connect(on: loop, configuration: configuration,
                                                         id: Self.ids.loadThenWrappingIncrement(ordering: .relaxed), logger: logger)
        // Reads on one loop take turns (`ReadBatcher`'s one slot), so no
        // other connection was opened meanwhile; were one, the newer is kept.
        let replaced = held.withLockedValue { held -> PostgresConnection? in
            defer { held = fresh }
            return held
        }
        if let replaced, replaced !== fresh { try? await replaced.close() }
        return fresh
    }

    /// Closes the held connection (the server is stopping).
    func close() async {
        let connection = held.withLockedValue { held -> PostgresConnection? in
            defer { held = nil }
            return held
        }
        try? await connection?.close()
    }
}
