/// The bytes the store's MAC covers: an unambiguous encoding of everything
/// in the file that decides what a name resolves to.
///
/// Every field is a length-prefixed byte string (8-byte big-endian length,
/// then the bytes), so no two different documents encode the same: a field
/// cannot run into the next one, and every list is preceded by its count.
/// Order is canonical (scope kinds team, project, cluster; ids and names in
/// byte order), so the encoding depends on the content only, never on how
/// the file happens to be laid out. Empty project and cluster scopes are
/// left out (the file never keeps them), so they carry no meaning to forge.
///
/// Kept apart from the HMAC (`StoreMAC`) so the fuzz target can check the
/// encoding's injectivity without linking swift-crypto.
enum StoreCanonical {
    static let domain = "secretfill store mac v1"

    static func bytes(of document: StoreDocument) -> [UInt8] {
        var out: [UInt8] = []
        appendHeader(&out, fingerprint: document.keyFingerprint, dataKey: document.dataKey)
        var scopes: [(kind: String, id: String, entries: [String: SealedEntry])] = []
        if !document.team.isEmpty { scopes.append(("team", "", document.team)) }
        for id in sortedByBytes(document.projects.keys) where !(document.projects[id]!.isEmpty) {
            scopes.append(("project", id, document.projects[id]!))
        }
        for id in sortedByBytes(document.clusters.keys) where !(document.clusters[id]!.isEmpty) {
            scopes.append(("cluster", id, document.clusters[id]!))
        }
        appendCount(&out, scopes.count)
        for scope in scopes {
            appendField(&out, scope.kind.utf8)
            appendField(&out, scope.id.utf8)
            appendCount(&out, scope.entries.count)
            for name in sortedByBytes(scope.entries.keys) {
                let entry = scope.entries[name]!
                appendField(&out, name.utf8)
                appendField(&out, entry.sealed.utf8)
                appendField(&out, entry.updated.utf8)
            }
        }
        return out
    }

    /// The domain of a file with a data key: its first field differs from
    /// `domain`'s, so no file with a data key encodes as one without.
    static let dataKeyDomain = "secretfill store mac v1 data key"

    /// Domain, format, version and key fingerprint: what every encoding starts
    /// with; then, in a file with a data key, its id and wrapped bytes. A file
    /// without one (written before data keys) encodes exactly as it always
    /// did, so its MAC still checks.
    static func appendHeader(_ out: inout [UInt8], fingerprint: String, dataKey: WrappedDataKey?) {
        appendField(&out, (dataKey == nil ? domain : dataKeyDomain).utf8)
        appendField(&out, StoreDocument.format.utf8)
        appendField(&out, String(StoreDocument.version).utf8)
        appendField(&out, fingerprint.utf8)
        if let dataKey {
            appendField(&out, dataKey.id.utf8)
            appendField(&out, dataKey.wrapped.utf8)
        }
    }

    /// A field: its length as 8 bytes big-endian, then its bytes.
    static func appendField(_ out: inout [UInt8], _ bytes: some Collection<UInt8>) {
        appendCount(&out, bytes.count)
        out.append(contentsOf: bytes)
    }

    static func appendCount(_ out: inout [UInt8], _ n: Int) {
        let value = UInt64(n)
        out.append(contentsOf: [UInt8(truncatingIfNeeded: value >> 56), UInt8(truncatingIfNeeded: value >> 48),
                                UInt8(truncatingIfNeeded: value >> 40), UInt8(truncatingIfNeeded: value >> 32),
                                UInt8(truncatingIfNeeded: value >> 24), UInt8(truncatingIfNeeded: value >> 16),
                                UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)])
    }

    /// Byte-wise UTF-8 order, independent of String's Unicode ordering.
    static func sortedByBytes(_ keys: some Collection<String>) -> [String] {
        keys.sorted { a, b in a.utf8.lexicographicallyPrecedes(b.utf8) }
    }
}
