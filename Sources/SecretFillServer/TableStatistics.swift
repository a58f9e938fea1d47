import Logging
import NIOConcurrencyHelpers

/// Keeps PostgreSQL's statistics of the secret tables in step with what
/// this server writes, instead of waiting for autovacuum (issue 22, item 8).
///
/// The hot read's shape (`PostgresHotQueries.lookup`) already makes its plan
/// a primary-key probe whatever the statistics say, but for one case: tables
/// analyzed while they held a handful of rows, where scanning is cheaper than
/// probing, and a connection planned the statement then. Its cached plan stays
/// until something analyzes the tables; autovacuum does so only after up to a
/// minute (`autovacuum_naptime`). So the server runs `ANALYZE` itself once the
/// rows it has written since the last one are more than a tenth of the table
/// and 50 more (autovacuum's own rule, `autovacuum_analyze_scale_factor` and
/// `autovacuum_analyze_threshold`: below 50 rows a plan hardly matters), and
/// at start when migrations ran on a table that holds rows or PostgreSQL has
/// never analyzed one that does (a restored database). ANALYZE also makes
/// every connection plan the statement again.
///
/// Each server counts its own writes; several servers on one database each
/// analyze after their own tenth (autovacuum still covers the rest). SQLite
/// needs none of this: its planner assumes indexes are selective when it has
/// no statistics, and the server never gives it any.
final class TableStatistics: Sendable {
    private struct State: Sendable {
        /// Rows of `secrets` when last analyzed (0 before the first time).
        var rows = 0
        /// Rows written or deleted in either table since.
        var changed = 0
        var analyzing = false
    }

    private let state = NIOLockedValueBox(State())

    /// Rows written that never call for an ANALYZE, whatever the table's size.
    static let baseThreshold = 50

    /// The tables the hot read plans against.
    static let tables = "secrets, secret_versions"

    /// Records `rows` rows written (set, deleted, rolled back) and says
    /// whether an ANALYZE is due now: more than `baseThreshold` and a
    /// tenth of the table written since the last one. When it is, the caller runs it and
    /// calls `analyzed(rows:)`, or `analyzeFailed()`; no second caller is
    /// told to meanwhile.
    func wrote(_ rows: Int) -> Bool {
        state.withLockedValue { state in
            state.changed += rows
            guard !state.analyzing, state.changed > Self.baseThreshold + state.rows / 10 else { return false }
            state.analyzing = true
            return true
        }
    }

    /// An ANALYZE started before any write (after migrations): true unless one is running.
    func begin() -> Bool {
        state.withLockedValue { state in
            guard !state.analyzing else { return false }
            state.analyzing = true
            return true
        }
    }

    /// The ANALYZE finished; `rows` is what it counted in `secrets`.
    func analyzed(rows: Int) {
        state.withLockedValue { state in
            state.rows = max(0, rows)
            state.changed = 0
            state.analyzing = false
        }
    }

    /// The ANALYZE failed: the changes stay counted, and the next write tries again.
    func analyzeFailed() {
        state.withLockedValue { $0.analyzing = false }
    }
}
