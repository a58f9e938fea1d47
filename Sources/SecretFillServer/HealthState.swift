#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import NIOConcurrencyHelpers

/// Whether the database is reachable and migrated, for /healthz.
final class HealthState: Sendable {
    private struct Start {
        var migrated = false
        var line: String?
        var announced = false
    }
    private let start = NIOLockedValueBox(Start())
    /// `--log-format json`: the "serving on …" line is a JSON object too,
    /// its `message` holding the same words.
    let format: LogFormat

    init(format: LogFormat = .text) {
        self.format = format
    }

    /// The schema is current and the store key matches the database.
    func markMigrated() { announce { $0.migrated = true } }
    var isMigrated: Bool { start.withLockedValue { $0.migrated } }

    /// The listener is up; `line` is the "serving on …" line, printed (at
    /// every log level: scripts wait for it) once the database has also
    /// been migrated and the store key checked, so that a key that does not
    /// match the database stops the server before the line, never after.
    func listening(line: String) { announce { $0.line = line } }

    private func announce(_ change: (inout Start) -> Void) {
        let line: String? = start.withLockedValue { state in
            change(&state)
            guard state.migrated, !state.announced, let line = state.line else { return nil }
            state.announced = true
            return line
        }
        guard let line else { return }
        if format == .json {
            var message = line
            while message.hasSuffix("\n") { message.removeLast() }
            JSONLogHandler.emit(JSONLogHandler.line(level: .notice, message: message, label: "secretfill"))
            return
        }
        let bytes = Array(line.utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    func check(_ store: ServerStore) async -> Bool {
        guard isMigrated else { return false }
        let database = store.database
        do {
            try await withDeadline(seconds: 2) {
                try await database.repositoryTransaction { rows in try await rows.ping() }
            }
            return true
        } catch {
            return false
        }
    }
}
