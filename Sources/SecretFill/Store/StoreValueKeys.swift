/// The keys a local store file's values are sealed under (issue 27): the
/// store key, and the data key it wraps (`StoreDocument.dataKey`).
///
/// A value's `sealed` text says which one sealed it (`EnvelopeText`):
/// `ID:BASE64` for the data key `ID`, plain `BASE64` for the store key itself
/// (every value written before data keys). Both use `ValueSealer`, so the
/// associated data (scope, id and name) is the same as it always was.
struct StoreValueKeys {
    /// The store key the file is sealed (and its MAC made) under: a key
    /// file's, or a key in a token (which cannot open values from before data keys).
    let store: any StoreSealingKey
    /// The data key's id and key; nil only when reading a file that has none yet.
    var dataID: String?
    var data: StoreKey?
    /// `data` wrapped under the store key that seals the file written next.
    var wrapped: String?

    /// The keys of a file as read: its data key unwrapped with `store`.
    /// A data key that the store key does not open is refused as corrupt: the
    /// MAC, checked first, proves the file was written by a holder of the key.
    static func reading(_ dataKey: WrappedDataKey?, store: any StoreSealingKey, path: String) throws(StoreError) -> StoreValueKeys {
        guard let dataKey else { return StoreValueKeys(store: store) }
        guard let data = try store.unwrapping(dataKey.wrapped, id: dataKey.id) else {
            throw .corrupt(path: path, detail: "its data key \(dataKey.id) does not open under the store key \(store.fingerprint)")
        }
        return StoreValueKeys(store: store, dataID: dataKey.id, data: data, wrapped: dataKey.wrapped)
    }

    /// The keys for a write: the file's data key, or a fresh one wrapped under
    /// `store` when the file has none (the upgrade of a file from before data keys).
    static func writing(_ dataKey: WrappedDataKey?, store: any StoreSealingKey, path: String) throws(StoreError) -> StoreValueKeys {
        var keys = try reading(dataKey, store: store, path: path)
        if keys.data == nil { try keys.useFreshDataKey() }
        return keys
    }

    /// A fresh data key, wrapped under the store key, from now on (`rekey --data`).
    mutating func useFreshDataKey() throws(StoreError) {
        let fresh = StoreKey.generateDataKey()
        wrapped = try store.wrapping(fresh.key, id: fresh.id)
        dataID = fresh.id
        data = fresh.key
    }

    /// The data key wrapped under `newKey` (`rekey --new-key-file`,
    /// `--new-key-pkcs11`): no value changes.
    mutating func rewrap(under newKey: any StoreSealingKey) throws(StoreError) {
        guard let dataID, let data else { return }
        wrapped = try newKey.wrapping(data, id: dataID)
    }

    /// The data key as the file records it.
    var record: WrappedDataKey? {
        guard let dataID, let wrapped else { return nil }
        return WrappedDataKey(id: dataID, wrapped: wrapped)
    }

    /// `value` sealed under the data key, as `ID:BASE64`.
    func seal(_ value: SecretValue, name: String, scope: Scope) -> String {
        // `writing` always gives a data key, and only writes seal.
        dataID! + ":" + ValueSealer.seal(value, name: name, scope: scope, key: data!)
    }

    /// Opens a value sealed under the data key or (from before data keys) the
    /// store key; one under any other data key does not open.
    func open(_ sealed: String, name: String, scope: Scope) throws(StoreError) -> SecretValue {
        let parts = EnvelopeText.parts(of: sealed)
        guard let id = parts.id else {
            // A key in a token cannot open a value sealed under the store key itself.
            guard let legacy = store.legacyValueKey else { throw .cannotOpen(name: name, scope: scope) }
            return try ValueSealer.open(sealed, name: name, scope: scope, key: legacy)
        }
        guard let data, let dataID, id == dataID else { throw .cannotOpen(name: name, scope: scope) }
        return try ValueSealer.open(String(parts.body), name: name, scope: scope, key: data)
    }

    /// True when `sealed` is under the current data key.
    func isCurrent(_ sealed: String) -> Bool {
        guard let dataID, let id = EnvelopeText.keyID(of: sealed) else { return false }
        return id == dataID
    }
}
