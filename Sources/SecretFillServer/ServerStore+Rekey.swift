import NIOConcurrencyHelpers
import SecretFill
import SecretFillAPI

/// `POST /v1/rekey` (issue 27): `rekey --server`, with an admin key. The
/// server uses its own store key; the caller's key file is not read.
extension ServerStore {
    public func rekey(_ request: RekeyRequest, by actor: ActingKey, client: String) async throws -> RekeyResponse {
        try await requireAdmin(actor, "rekey the store", action: "rekey", names: [], client: client)
        let key = try requireKey()
        let database = self.database
        switch request.operation {
        case "status":
            break
        case "data":
            // A rotation of a large database outlasts a request: it runs here,
            // on its own, and the caller polls `status`.
            let started = rotation.start()
            if started {
                let rotation = self.rotation, logger = self.logger
                Task {
                    do {
                        _ = try await DatabaseRekey.rotateData(database, key: key, actor: actor.name, client: client, progress: nil)
                        rotation.finish(error: nil)
                    } catch {
                        let words = ErrorWords.describe(error)
                        logger.error("the data key rotation stopped; every value still opens: run it again to finish", metadata: ["reason": "\(words)"])
                        rotation.finish(error: words)
                    }
                }
            }
        case "new-key":
            guard let text = request.newKey else { throw ServerRefusal.invalid("new-key needs newKey: the new store key, base64 of 32 bytes") }
            let newKey: StoreKey
            do { newKey = try StoreKey(base64: text, source: "newKey") } catch {
                throw ServerRefusal.invalid(error.description)
            }
            let outcome: DatabaseRekey.Outcome
            do {
                outcome = try await DatabaseRekey.rewrap(database, current: key, new: .file(newKey), actor: actor.name, client: client, progress: nil)
            } catch let mismatch as Migrations.KeyMismatch {
                throw ServerRefusal.conflict("\(mismatch.description) (the store key was changed since this server started: restart it with the new key, then rekey)")
            }
            keyring?.adopt(.file(newKey))
            return RekeyResponse(state: try await DatabaseRekey.status(database), summary: outcome.summary, running: rotation.isRunning, error: nil)
        default:
            throw ServerRefusal.invalid("operation must be status, data or new-key")
        }
        return RekeyResponse(state: try await DatabaseRekey.status(database), running: rotation.isRunning, error: rotation.lastError)
    }
}

/// Whether this server runs a data key rotation now, and how its last one ended.
final class RotationState: Sendable {
    private let state = NIOLockedValueBox<(running: Bool, error: String?)>((false, nil))

    /// Marks a rotation running; false when one already is.
    func start() -> Bool {
        state.withLockedValue { state in
            guard !state.running else { return false }
            state = (true, nil)
            return true
        }
    }

    func finish(error: String?) { state.withLockedValue { $0 = (false, error) } }
    var isRunning: Bool { state.withLockedValue { $0.running } }
    var lastError: String? { state.withLockedValue { $0.error } }
}
