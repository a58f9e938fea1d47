#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the store and its key are, from flags and the environment.
///
/// Store: `--store`, else `SECRETFILL_STORE`, else
/// `${XDG_CONFIG_HOME:-~/.config}/secretfill/store.json`. Key:
/// `SECRETFILL_KEY_PKCS11` (a key in a PKCS#11 token), else `SECRETFILL_KEY`
/// (base64), else `SECRETFILL_KEY_FILE`, else `key` in that same default
/// folder, so a store kept in a repository never has its key beside it.
public struct StoreConfiguration: Sendable {
    public enum KeySource: Sendable, Hashable {
        case environment(String)
        case file(String)
        /// An AES-256 key in a PKCS#11 token: its spec
        /// (`module=PATH;token=LABEL;key=LABEL`) and where it was given
        /// (`SECRETFILL_KEY_PKCS11`, `--key-pkcs11`).
        case token(spec: String, origin: String)
    }

    /// The variable that puts the store key in a token.
    public static let tokenVariable = "SECRETFILL_KEY_PKCS11"

    public var storePath: String
    public var keySource: KeySource
    /// Why the key cannot be chosen (`SECRETFILL_KEY_PKCS11` beside a key
    /// file's variable): refused when the key is needed, as bad usage.
    public var keyChoiceProblem: String?
    /// Opens a key in a token. Set by a program that links a PKCS#11 layer
    /// (this library does not); without it a key in a token is refused.
    public var openToken: (@Sendable (_ spec: String, _ origin: String) throws(StoreError) -> any StoreSealingKey)?
    /// Seconds a change waits for another writer's lock (`--lock-timeout`).
    public var lockTimeout: Double = FileLock.defaultTimeout

    public init(storePath: String, keySource: KeySource) {
        self.storePath = storePath
        self.keySource = keySource
    }

    public static func resolve(storeOption: String?, environment: [String: String]) -> StoreConfiguration {
        let directory = defaultDirectory(environment: environment)
        let store = nonEmpty(storeOption) ?? nonEmpty(environment["SECRETFILL_STORE"]) ?? directory + "/store.json"
        var configuration = StoreConfiguration(storePath: store, keySource: .file(keyFile(environment: environment)))
        if let spec = nonEmpty(environment[tokenVariable]) {
            configuration.keySource = .token(spec: spec, origin: tokenVariable)
            configuration.keyChoiceProblem = tokenConflict(environment: environment)
        } else if let inline = nonEmpty(environment["SECRETFILL_KEY"]) {
            configuration.keySource = .environment(inline)
        }
        return configuration
    }

    /// The key file the environment names, or the default: where a key file
    /// goes even when the key is elsewhere (`rekey --new-key-file` from a token).
    public static func keyFile(environment: [String: String]) -> String {
        nonEmpty(environment["SECRETFILL_KEY_FILE"]) ?? defaultDirectory(environment: environment) + "/key"
    }

    /// `SECRETFILL_KEY_PKCS11` beside `SECRETFILL_KEY_FILE` or `SECRETFILL_KEY`:
    /// two store keys, and nothing says which one is meant. (`--key-pkcs11`,
    /// given on a command line, is a choice and needs no such check.)
    public static func tokenConflict(environment: [String: String]) -> String? {
        guard nonEmpty(environment[tokenVariable]) != nil else { return nil }
        for other in ["SECRETFILL_KEY_FILE", "SECRETFILL_KEY"] where nonEmpty(environment[other]) != nil {
            return "\(tokenVariable) and \(other) are both set: the store key is either in a token or in a key file; unset one of them (or give --key-pkcs11 SPEC to choose the token)"
        }
        return nil
    }

    /// The store key wherever it is: a key file, `SECRETFILL_KEY`, or a token.
    public func sealingKey() throws(StoreError) -> any StoreSealingKey {
        guard case .token(let spec, let origin) = keySource else { return try loadKey() }
        if let keyChoiceProblem { throw .keyChoice(keyChoiceProblem) }
        guard let openToken else { throw .keyChoice("\(origin): this program cannot use a key in a PKCS#11 token") }
        return try openToken(spec, origin)
    }

    public static func defaultDirectory(environment: [String: String]) -> String {
        if let xdg = nonEmpty(environment["XDG_CONFIG_HOME"]) { return xdg + "/secretfill" }
        return (nonEmpty(environment["HOME"]) ?? ".") + "/.config/secretfill"
    }

    /// Loads the key, refusing a key file that group or others can use,
    /// that another user owns, or whose own folder group or others can write
    /// (they could swap the file). Only the key's own folder is checked, not
    /// every parent: a 0700 folder under /tmp is fine.
    /// A key in a token has no bytes to load: `sealingKey()` opens it.
    public func loadKey() throws(StoreError) -> StoreKey {
        switch keySource {
        case .token(_, let origin):
            throw .keyChoice("\(origin): this needs a key file's key (the key's bytes), and a key in a token never gives them")
        case .environment(let text):
            return try StoreKey(base64: text, source: "SECRETFILL_KEY")
        case .file(let path):
            var info = stat()
            guard stat(path, &info) == 0 else {
                throw FileIO.exists(storePath) ? .keyMissingForStore(path: path, store: storePath) : .keyMissing(path: path)
            }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                throw .keyUnreadable(source: path, detail: "it is a directory, not a key file; point SECRETFILL_KEY_FILE at the key file itself")
            }
            let mode = info.st_mode & 0o7777
            guard mode & 0o077 == 0 else { throw .keyFilePermissions(path: path, mode: UInt32(mode)) }
            guard info.st_uid == geteuid() else {
                throw .keyUnreadable(source: path, detail: "it is owned by uid \(info.st_uid), not by you (uid \(geteuid())); a key file must be your own (`chown` it, or make your own copy)")
            }
            let folder = FileIO.split(path).directory
            var folderInfo = stat()
            if stat(folder, &folderInfo) == 0 && folderInfo.st_mode & 0o022 != 0 {
                throw .keyUnreadable(source: path, detail: "its folder \(folder) can be written by group or others (mode \(String(folderInfo.st_mode & 0o7777, radix: 8))), so someone else could replace the key; run `chmod go-w \(folder)` or move the key into a folder only you can write")
            }
            var bytes: [UInt8]
            do { bytes = try FileIO.readAll(path) } catch { throw .io(error) }
            defer { for i in bytes.indices { bytes[i] = 0 } }
            return try StoreKey(base64: String(decoding: bytes, as: UTF8.self), source: path)
        }
    }

    public func openStore(needsKey: Bool) throws(StoreError) -> LocalSecretStore {
        let store = try LocalSecretStore(path: storePath, key: needsKey ? sealingKey() : nil)
        store.lockTimeout = lockTimeout
        // A rekey interrupted between the store and the key file: its new key waits beside the key file.
        if needsKey, case .file(let path) = keySource, FileIO.exists(path + LocalSecretStore.pendingKeySuffix) {
            store.pendingKey = try? StoreConfiguration(storePath: storePath, keySource: .file(path + LocalSecretStore.pendingKeySuffix)).loadKey()
        }
        return store
    }

    private static func nonEmpty(_ value: String?) -> String? {
        guard let value, !value.isEmpty else { return nil }
        return value
    }
}
