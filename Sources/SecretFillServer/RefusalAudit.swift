import Logging
import NIOConcurrencyHelpers

/// Requests refused before any key was accepted (401), audited one row per
/// client address per second with a count, and never with their body: a
/// flood of bad tokens from one address costs one audit write a second,
/// not one each, so it cannot fill the audit log.
final class RefusalAudit: Sendable {
    struct Pending {
        let action: String
        let time: Int
        var count: Int
    }

    /// Addresses tracked at once; past this, the rest share one row under `overflowClient`.
    static let trackedAddresses = 10_000
    static let overflowClient = "(other addresses)"
    static let windowMillis = 1_000

    private let pending = NIOLockedValueBox<[String: Pending]>([:])
    let write: @Sendable (AuditRecord) async -> Void

    init(write: @escaping @Sendable (AuditRecord) async -> Void) {
        self.write = write
    }

    /// Counts one refused request from `client`; the first of its second
    /// starts the window, at whose end one row with the count is written.
    func note(client: String, action: String) {
        let now = Clock.nowMillis()
        let started: String? = pending.withLockedValue { pending in
            var address = client
            if pending[address] == nil && pending.count >= Self.trackedAddresses { address = Self.overflowClient }
            if pending[address] != nil {
                pending[address]!.count += 1
                return nil
            }
            pending[address] = Pending(action: action, time: now, count: 1)
            return address
        }
        guard let address = started else { return }
        Task {
            try? await Task.sleep(for: .milliseconds(Self.windowMillis))
            await flush(address)
        }
    }

    /// Writes the row of `address`'s window and ends the window.
    func flush(_ address: String) async {
        guard let entry = pending.withLockedValue({ $0.removeValue(forKey: address) }) else { return }
        await write(AuditRecord(time: entry.time, key: "-", action: entry.action, scope: "-", names: [], client: address,
                                outcome: "denied", repeats: entry.count))
    }

    /// Windows not yet written (for tests and shutdown).
    func flushAll() async {
        let addresses = pending.withLockedValue { Array($0.keys) }
        for address in addresses { await flush(address) }
    }
}
