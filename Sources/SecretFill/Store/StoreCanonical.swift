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
        func field(_ bytes: some Collection<UInt8>) {
            count(bytes.count)
            out.append(contentsOf: bytes)
        }
        func field(_ text: String) { field(Array(text.utf8)) }
        func count(_ n: Int) {
            let value = UInt64(n)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
        }
        field(domain)
        field(StoreDocument.format)
        field(String(StoreDocument.version))
        field(document.keyFingerprint)
        var scopes: [(kind: String, id: String, entries: [String: SealedEntry])] = []
        if !document.team.isEmpty { scopes.append(("team", "", document.team)) }
        for id in sortedByBytes(document.projects.keys) where !(document.projects[id]!.isEmpty) {
            scopes.append(("project", id, document.projects[id]!))
        }
        for id in sortedByBytes(document.clusters.keys) where !(document.clusters[id]!.isEmpty) {
            scopes.append(("cluster", id, document.clusters[id]!))
        }
        count(scopes.count)
        for scope in scopes {
            field(scope.kind)
            field(scope.id)
            count(scope.entries.count)
            for name in sortedByBytes(scope.entries.keys) {
                let entry = scope.entries[name]!
                field(name)
                field(entry.sealed)
                field(entry.updated)
            }
        }
        return out
    }

    /// Byte-wise UTF-8 order, independent of String's Unicode ordering.
    static func sortedByBytes(_ keys: some Collection<String>) -> [String] {
        keys.sorted { a, b in a.utf8.lexicographicallyPrecedes(b.utf8) }
    }
}
