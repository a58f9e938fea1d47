import Logging
import NIOConcurrencyHelpers

/// Requests refused before any key was accepted (401), audited one row per
/// client address per second, never with their body: the first refusal of
/// an address's second is written at once (so the log keeps its order), the
/// ones after it in the same second only add to that row's count, written
/// when the second ends. A flood of bad tokens from one address costs at
/// most two small writes a second, so it cannot fill the audit log. Refused
/// OIDC exchanges are counted the same way, per address, role and failed
/// check, so their rows keep saying which check failed.
final class RefusalAudit: Sendable {
    struct Pending {
        var count: Int
        var id: Int?
        /// The row the window writes (its first refusal's).
        var record: AuditRecord
    }

    /// Windows tracked at once; past this, the rest share one row under `overflowClient`.
    static let trackedAddresses = 10_000
    static let overflowClient = "(other addresses)"
    static let windowMillis = 1_000

    private let pending = NIOLockedValueBox<[String: Pending]>([:])
    /// Writes a row and returns its id (nil when it could not be written).
    let insert: @Sendable (AuditRecord) async -> Int?
    /// Sets the count of the row with this id.
    let setCount: @Sendable (_ id: Int, _ count: Int) async -> Void

    init(insert: @escaping @Sendable (AuditRecord) async -> Int?, setCount: @escaping @Sendable (Int, Int) async -> Void) {
        self.insert = insert
        self.setCount = setCount
    }

    /// Records one refused request from `client` (no key accepted): one row per address and second.
    func note(client: String, action: String) async {
        await note(AuditRecord(time: 0, key: "-", action: action, scope: "-", names: [], client: client, outcome: "denied"), window: client)
    }

    /// Records one refused request as `record` says, counted with the others
    /// of its `window` (which refusals share a row: an address, or an
    /// address with what was refused) for a second.
    func note(_ record: AuditRecord, window: String) async {
        let started: (window: String, record: AuditRecord)? = pending.withLockedValue { pending in
            var window = window, record = record
            if pending[window] == nil && pending.count >= Self.trackedAddresses {
                window = Self.overflowClient
                record.client = Self.overflowClient
            }
            if pending[window] != nil {
                pending[window]!.count += 1
                return nil
            }
            pending[window] = Pending(count: 1, id: nil, record: record)
            return (window, record)
        }
        guard let started else { return }
        var first = started.record
        first.time = Clock.nowMillis()
        let id = await insert(first)
        pending.withLockedValue { $0[started.window]?.id = id }
        Task {
            try? await Task.sleep(for: .milliseconds(Self.windowMillis))
            await flush(started.window)
        }
    }

    /// Ends a window, writing its count when more than one request came.
    func flush(_ window: String) async {
        guard let entry = pending.withLockedValue({ $0.removeValue(forKey: window) }), entry.count > 1 else { return }
        if let id = entry.id {
            await setCount(id, entry.count)
        } else {
            var record = entry.record
            record.time = Clock.nowMillis()
            record.repeats = entry.count - 1
            _ = await insert(record)
        }
    }

    /// Windows not yet written (at shutdown).
    func flushAll() async {
        let windows = pending.withLockedValue { Array($0.keys) }
        for window in windows { await flush(window) }
    }
}
