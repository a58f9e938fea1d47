/// Why the store could not be opened, read or changed.
///
/// Cases carry paths, secret names, scopes and key fingerprints only.
public enum StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    case storeMissing(path: String)
    case storeExists(path: String)
    case keyExists(path: String)
    case corrupt(path: String, detail: String)
    /// The `mac` does not match the content: changed outside secretfill.
    case tampered(path: String)
    /// A version 2 store without its `mac`.
    case macMissing(path: String)
    /// A version 1 store (no `mac`), written before the whole file was authenticated.
    case legacyStore(path: String)
    /// The file changed between `store accept`'s review and its confirmation.
    case changedDuringReview(path: String)
    case keyMissing(path: String)
    /// No key anywhere, but the store exists: init would refuse, and a new
    /// key would not open it.
    case keyMissingForStore(path: String, store: String)
    case keyUnreadable(source: String, detail: String)
    /// A store key that was found but cannot do its work (a token that
    /// refuses the PIN, is missing, or stops answering): its layer's words.
    case keyUnusable(source: String, detail: String)
    /// The spec of a key in a token (`SECRETFILL_KEY_PKCS11`, `--key-pkcs11`)
    /// is malformed, or the key is named twice over: bad usage. The whole message.
    case keyChoice(String)
    case keyFilePermissions(path: String, mode: UInt32)
    case wrongKey(expected: String, supplied: String, source: String)
    case cannotOpen(name: String, scope: Scope)
    case notFound(name: String, scope: Scope)
    case io(IOError)
    /// A store behind a service (a team server) refused or could not answer;
    /// the message is the service's, in words (scopes and names, never a value or token).
    case service(StoreServiceFailure)
    /// `history` or `rollback` asked of the local store file.
    case keepsNoHistory

    public var description: String {
        switch self {
        case .storeMissing(let path):
            "no secret store at \(path); create one with `secretfill init` (or point --store / SECRETFILL_STORE at yours)"
        case .storeExists(let path):
            "a store already exists at \(path); secretfill init never overwrites one"
        case .keyExists(let path):
            "a key file already exists at \(path); init never overwrites a key. Pass --use-existing-key to create the store with it"
        case .corrupt(let path, let detail):
            "the store at \(path) is not a valid secretfill store: \(detail). It was left as it is"
        case .tampered(let path):
            "the store at \(path) was changed outside secretfill: its \"mac\" does not match its content "
                + "(a sealed value replaced or rolled back, an entry added or removed, or a hand edit), so nothing in it is trusted. "
                + "If you edited it on purpose, review the change and run `secretfill store accept --store \(path)`"
        case .macMissing(let path):
            "the store at \(path) has no \"mac\", so secretfill cannot tell whether it was changed outside secretfill; it is refused. "
                + "If you edited it on purpose, review the change and run `secretfill store accept --store \(path)`"
        case .legacyStore(let path):
            "the store at \(path) is a version 1 store, written before secretfill authenticated the whole file; "
                + "run `secretfill store upgrade --store \(path)` once to review it and add its \"mac\""
        case .changedDuringReview(let path):
            "the store at \(path) changed while it was being reviewed; nothing was accepted. Run the command again"
        case .keyMissing(let path):
            "no key: set SECRETFILL_KEY (base64 of 32 bytes) or SECRETFILL_KEY_FILE, or create \(path) with `secretfill init`"
        case .keyMissingForStore(let path, let store):
            "no key: \(path) does not exist and SECRETFILL_KEY is not set. The store \(store) exists, and a store cannot be opened without the key it was sealed with (a new key will not open it): put that key in \(path) (mode 0600), or set SECRETFILL_KEY or SECRETFILL_KEY_FILE"
        case .keyUnreadable(let source, let detail):
            "the key from \(source) is unusable: \(detail)"
        case .keyUnusable(let source, let detail):
            "\(source): \(detail)"
        case .keyChoice(let message):
            message
        case .keyFilePermissions(let path, let mode):
            "the key file \(path) is readable or writable by others (mode \(String(mode, radix: 8))); run `chmod 600 \(path)`"
        case .wrongKey(let expected, let supplied, let source):
            "the key from \(source) does not open this store: the store was sealed with key \(expected), the key given is \(supplied)"
                + (expected.hasPrefix("pkcs11:") && !supplied.hasPrefix("pkcs11:")
                    ? "; the store's key is in a PKCS#11 token: set SECRETFILL_KEY_PKCS11 to its spec (module=PATH;token=LABEL;key=LABEL) and the PIN in SECRETFILL_PKCS11_PIN"
                    : !expected.hasPrefix("pkcs11:") && supplied.hasPrefix("pkcs11:")
                    ? "; the store's key is a key file, not a key in a token: unset SECRETFILL_KEY_PKCS11" : "")
        case .cannotOpen(let name, let scope):
            "secret '\(name)' (\(scope)) does not decrypt: its sealed value was altered, or copied from another name or scope"
        case .notFound(let name, let scope):
            "there is no secret '\(name)' in the \(scope) scope"
        case .io(let error):
            error.description
        case .service(let failure):
            failure.message
        case .keepsNoHistory:
            "the local store file keeps no history (only each name's current value); versions are kept by a team server (--server)"
        }
    }
}

/// Why a store behind a service failed, sorted by what the person at the
/// terminal can do about it (each kind has its own exit status).
public struct StoreServiceFailure: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// Access control said no: an unknown, revoked or expired credential, or a missing grant.
        case refused
        /// The service called the request malformed.
        case invalid
        /// The service could not be reached, timed out or failed.
        case unavailable
        /// A name or version that is not there.
        case notFound
        /// Anything else the service said no to.
        case other
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}
