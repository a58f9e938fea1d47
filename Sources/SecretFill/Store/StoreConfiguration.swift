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

    /// Loads the key, refusing a key file that group or others can use.
    public func loadKey() throws(StoreError) -> StoreKey {
        switch keySource {
        case .environment(let text):
            return try StoreKey(base64: text, source: "SECRETFILL_KEY")
        case .file(let path):
            guard let mode = FileIO.permissions(of: path) else {
                throw FileIO.exists(storePath) ? .keyMissingForStore(path: path, store: storePath) : .keyMissing(path: path)
            }
            if FileIO.isDirectory(path) {
                throw .keyUnreadable(source: path, detail: "it is a directory, not a key file; point SECRETFILL_KEY_FILE at the key file itself")
            }
            guard mode & 0o077 == 0 else { throw .keyFilePermissions(path: path, mode: UInt32(mode)) }
            let bytes: [UInt8]
            do { bytes = try FileIO.readAll(path) } catch { throw .io(error) }
            return try StoreKey(base64: String(decoding: bytes, as: UTF8.self), source: path)
        }
    }

    public func openStore(needsKey: Bool) throws(StoreError) -> LocalSecretStore {
        try LocalSecretStore(path: storePath, key: needsKey ? loadKey() : nil)
    }

    private static func nonEmpty(_ value: String?) -> String? {
        guard let value, !value.isEmpty else { return nil }
        return value
    }
}
