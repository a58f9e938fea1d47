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
/// `${XDG_CONFIG_HOME:-~/.config}/secretfill/store.json`. Key: `SECRETFILL_KEY`
/// (base64), else `SECRETFILL_KEY_FILE`, else `key` in that same default
/// folder, so a store kept in a repository never has its key beside it.
public struct StoreConfiguration: Sendable {
    public enum KeySource: Sendable, Hashable {
        case environment(String)
        case file(String)
    }

    public var storePath: String
    public var keySource: KeySource
    /// Seconds a change waits for another writer's lock (`--lock-timeout`).
    public var lockTimeout: Double = FileLock.defaultTimeout

    public init(storePath: String, keySource: KeySource) {
        self.storePath = storePath
        self.keySource = keySource
    }

    public static func resolve(storeOption: String?, environment: [String: String]) -> StoreConfiguration {
        let directory = defaultDirectory(environment: environment)
        let store = nonEmpty(storeOption) ?? nonEmpty(environment["SECRETFILL_STORE"]) ?? directory + "/store.json"
        let key: KeySource
        if let inline = nonEmpty(environment["SECRETFILL_KEY"]) {
            key = .environment(inline)
        } else {
            key = .file(nonEmpty(environment["SECRETFILL_KEY_FILE"]) ?? directory + "/key")
        }
        return StoreConfiguration(storePath: store, keySource: key)
    }

    public static func defaultDirectory(environment: [String: String]) -> String {
        if let xdg = nonEmpty(environment["XDG_CONFIG_HOME"]) { return xdg + "/secretfill" }
        return (nonEmpty(environment["HOME"]) ?? ".") + "/.config/secretfill"
    }

    /// Loads the key, refusing a key file that group or others can use,
    /// that another user owns, or whose own folder group or others can write
    /// (they could swap the file). Only the key's own folder is checked, not
    /// every parent: a 0700 folder under /tmp is fine.
    public func loadKey() throws(StoreError) -> StoreKey {
        switch keySource {
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
        let store = try LocalSecretStore(path: storePath, key: needsKey ? loadKey() : nil)
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
