/// One sealed secret as the store file keeps it.
public struct SealedEntry: Sendable, Hashable {
    /// base64 of AES-256-GCM nonce, ciphertext and tag.
    public var sealed: String
    /// When it was last set, ISO 8601 UTC.
    public var updated: String

    public init(sealed: String, updated: String) {
        self.sealed = sealed
        self.updated = updated
    }
}

/// The store's data key (issue 27), as the file keeps it: its id and its 32
/// bytes wrapped under the store key (`StoreKey.wrap`, the team server's
/// wrap: AES-256-GCM, associated data `secretfill data key v1|ID`).
public struct WrappedDataKey: Sendable, Hashable {
    /// `dk-` and 16 hex digits.
    public var id: String
    /// base64 of nonce, ciphertext and tag.
    public var wrapped: String

    public init(id: String, wrapped: String) {
        self.id = id
        self.wrapped = wrapped
    }
}

/// The store file's content: a format version, the key's fingerprint, the
/// MAC over the whole file (`StoreMAC`), the data key wrapped under the store
/// key, and per scope the sealed values by name.
///
/// Values are sealed under the data key: each `sealed` is `ID:BASE64`
/// (`EnvelopeText`), the id of the data key that sealed it. A file written
/// before data keys (no `dataKey`, every `sealed` plain base64 under the
/// store key) is read as it is and gets its data key on its next change. The
/// format version stays 2: the `dataKey` field says which kind a file is, and
/// the MAC's encoding tells the two apart (`StoreCanonical`).
///
/// The file is JSON laid out for review in git: names sorted, one secret per
/// line, so a diff shows which names changed in which scope and nothing else.
public struct StoreDocument: Sendable, Hashable {
    public static let format = "secretfill-store"
    /// 2 added `mac`; version 1 stores are read only by `secretfill store upgrade`.
    public static let version = 2
    public static let legacyVersion = 1

    public var keyFingerprint: String
    /// The data key values are sealed under; nil in a file written before data keys.
    public var dataKey: WrappedDataKey?
    /// `hmac-sha256:<base64>` as read from the file (or set by `sealed(with:)`);
    /// nil in a version 1 store.
    public var mac: String?
    public var team: [String: SealedEntry] = [:]
    public var projects: [String: [String: SealedEntry]] = [:]
    public var clusters: [String: [String: SealedEntry]] = [:]

    public init(keyFingerprint: String) {
        self.keyFingerprint = keyFingerprint
    }

    public subscript(scope: Scope) -> [String: SealedEntry] {
        get {
            switch scope {
            case .team: team
            case .project(let id): projects[id] ?? [:]
            case .cluster(let id): clusters[id] ?? [:]
            }
        }
        set {
            switch scope {
            case .team: team = newValue
            case .project(let id): projects[id] = newValue.isEmpty ? nil : newValue
            case .cluster(let id): clusters[id] = newValue.isEmpty ? nil : newValue
            }
        }
    }

    /// Every scope holding at least one secret: team, projects, clusters.
    public var scopes: [Scope] {
        (team.isEmpty ? [] : [Scope.team])
            + projects.keys.filter { !projects[$0]!.isEmpty }.map(Scope.project)
            + clusters.keys.filter { !clusters[$0]!.isEmpty }.map(Scope.cluster)
    }

    // MARK: Encoding

    public func encoded() -> [UInt8] {
        var out = "{\n"
        out += "  \"format\": \"\(Self.format)\",\n"
        out += "  \"version\": \(Self.version),\n"
        out += "  \"keyFingerprint\": \(JSONText.quoted(keyFingerprint)),\n"
        if let mac { out += "  \"mac\": \(JSONText.quoted(mac)),\n" }
        if let dataKey {
            out += "  \"dataKey\": {\"id\": \(JSONText.quoted(dataKey.id)), \"wrapped\": \(JSONText.quoted(dataKey.wrapped))},\n"
        }
        out += "  \"scopes\": {\n"
        out += "    \"team\": " + Self.encode(team, indent: "    ") + ",\n"
        out += "    \"project\": " + Self.encode(projects, indent: "    ") + ",\n"
        out += "    \"cluster\": " + Self.encode(clusters, indent: "    ") + "\n"
        out += "  }\n}\n"
        return Array(out.utf8)
    }

    private static func encode(_ groups: [String: [String: SealedEntry]], indent: String) -> String {
        guard !groups.isEmpty else { return "{}" }
        let inner = indent + "  "
        let lines = groups.keys.sorted().map { id in
            inner + JSONText.quoted(id) + ": " + encode(groups[id]!, indent: inner)
        }
        return "{\n" + lines.joined(separator: ",\n") + "\n" + indent + "}"
    }

    private static func encode(_ entries: [String: SealedEntry], indent: String) -> String {
        guard !entries.isEmpty else { return "{}" }
        let inner = indent + "  "
        let lines = entries.keys.sorted().map { name in
            let entry = entries[name]!
            return inner + JSONText.quoted(name) + ": {\"updated\": " + JSONText.quoted(entry.updated) + ", \"sealed\": " + JSONText.quoted(entry.sealed) + "}"
        }
        return "{\n" + lines.joined(separator: ",\n") + "\n" + indent + "}"
    }

    // MARK: Decoding

    /// Parses and checks a whole store file. Every shape error says what was
    /// expected where; nothing is ever repaired.
    /// The MAC is not checked here (that needs the key: `StoreMAC.verify`).
    public static func decode(_ bytes: [UInt8], path: String, allowLegacy: Bool = false) throws(StoreError) -> StoreDocument {
        try StoreFileIndex(bytes: bytes, path: path, allowLegacy: allowLegacy).document()
    }
}
