import Logging
import NIOConcurrencyHelpers

/// Requests refused before any key was accepted (401), audited one row per
/// client address per second, never with their body: the first refusal of
/// an address's second is written at once (so the log keeps its order), the
/// ones after it in the same second only add to that row's count, written
/// when the second ends. A flood of bad tokens from one address costs at
/// most two small writes a second, so it cannot fill the audit log.
final class RefusalAudit: Sendable {
    struct Pending {
        var count: Int
        var id: Int?
    }

    /// Addresses tracked at once; past this, the rest share one row under `overflowClient`.
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

    /// Records one refused request from `client`.
    func note(client: String, action: String) async {
        let started: String? = pending.withLockedValue { pending in
            var address = client
            if pending[address] == nil && pending.count >= Self.trackedAddresses { address = Self.overflowClient }
            if pending[address] != nil {
                pending[address]!.count += 1
                return nil
            }
            pending[address] = Pending(count: 1, id: nil)
            return address
        }
        guard let address = started else { return }
        let id = await insert(AuditRecord(time: Clock.nowMillis(), key: "-", action: action, scope: "-", names: [], client: address, outcome: "denied"))
        pending.withLockedValue { $0[address]?.id = id }
        Task {
            try? await Task.sleep(for: .milliseconds(Self.windowMillis))
            await flush(address, action: action)
        }
    }

    /// Ends `address`'s window, writing its count when more than one request came.
    func flush(_ address: String, action: String) async {
        guard let entry = pending.withLockedValue({ $0.removeValue(forKey: address) }), entry.count > 1 else { return }
        if let id = entry.id {
            await setCount(id, entry.count)
        } else {
            var record = AuditRecord(time: Clock.nowMillis(), key: "-", action: action, scope: "-", names: [], client: address, outcome: "denied")
            record.repeats = entry.count - 1
            _ = await insert(record)
        }
    }

    /// Windows not yet written (at shutdown).
    func flushAll() async {
        let addresses = pending.withLockedValue { Array($0.keys) }
        for address in addresses { await flush(address, action: "-") }
    }
}
