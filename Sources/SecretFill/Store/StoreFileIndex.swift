#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a store file without per-secret work for names nobody asks about.
///
/// Opening makes one pass over the file: it checks the JSON from end to end
/// (so a truncated or corrupt store is refused at once) and notes each
/// secret's name and value as byte ranges, nothing more. A secret's fields
/// are decoded only when that secret is asked for: a render that uses three
/// names of a 10,000-secret store decodes three entries.
final class StoreFileIndex {
    private let bytes: [UInt8]
    let path: String
    let keyFingerprint: String
    /// (name bytes, value bytes) per scope, sorted by name when the file is.
    private let indexes: [Scope: ScopeIndex]

    struct ScopeIndex {
        var names: [Range<Int>] = []
        var values: [Range<Int>] = []
        var sorted = true
    }

    /// The `mac` field as written, nil in a version 1 store.
    let mac: String?
    /// The `dataKey` field; nil in a file written before data keys.
    let dataKey: WrappedDataKey?
    /// The format version read (1 only when `allowLegacy`).
    let version: Int

    /// Checks the whole file's JSON and shape, refusing any key, scope, id or
    /// name given twice (with both lines). `allowLegacy` admits a version 1
    /// store (no `mac`), for `secretfill store upgrade` only.
    init(bytes: [UInt8], path: String, allowLegacy: Bool = false) throws(StoreError) {
        self.bytes = bytes
        self.path = path
        var reader = JSONBytes(bytes: bytes, path: path)
        reader.skipSpace()
        guard !reader.atEnd else { throw .corrupt(path: path, detail: "the file is empty (expected a JSON object)") }
        var format: String?
        var version: String?
        var fingerprint: String?
        var mac: String?
        var dataKey: WrappedDataKey?
        var found: [Scope: ScopeIndex]?
        var seen: [String: Int] = [:]
        try reader.members(at: "the top") { keyRange, reader throws(StoreError) in
            let key = try reader.decodeString(keyRange)
            if let first = seen[key] {
                throw .corrupt(path: path, detail: "the top-level key \(JSONText.quoted(Self.printable(key))) appears twice (lines \(Self.line(bytes, first)) and \(Self.line(bytes, keyRange.lowerBound)))")
            }
            seen[key] = keyRange.lowerBound
            switch key {
            case "format": format = try reader.string()
            case "version": version = try reader.number()
            case "keyFingerprint": fingerprint = try reader.string()
            case "mac": mac = try reader.string()
            case "dataKey": dataKey = try Self.readDataKey(&reader, path: path)
            case "scopes": found = try Self.readScopes(&reader, path: path)
            default: _ = try reader.skipValue(depth: 0)
            }
        }
        reader.skipSpace()
        guard reader.atEnd else { throw .corrupt(path: path, detail: "unexpected text after the JSON object") }
        guard format == StoreDocument.format else {
            throw .corrupt(path: path, detail: "expected \"format\": \"\(StoreDocument.format)\"")
        }
        if version == String(StoreDocument.legacyVersion) {
            guard allowLegacy else { throw .legacyStore(path: path) }
            self.version = StoreDocument.legacyVersion
        } else {
            guard version == String(StoreDocument.version) else {
                throw .corrupt(path: path, detail: "expected \"version\": \(StoreDocument.version) (a newer secretfill may have written it)")
            }
            self.version = StoreDocument.version
        }
        guard let fingerprint, fingerprint.hasPrefix("sha256:") || fingerprint.hasPrefix("pkcs11:sha256:") else {
            throw .corrupt(path: path, detail: "expected \"keyFingerprint\": \"sha256:…\" (a key file) or \"pkcs11:sha256:…\" (a key in a token)")
        }
        guard let found else { throw .corrupt(path: path, detail: "expected a \"scopes\" object") }
        keyFingerprint = fingerprint
        indexes = found
        self.mac = mac
        self.dataKey = dataKey
    }

    /// `{"id": "dk-…", "wrapped": "…"}`: both strings, nothing else twice.
    private static func readDataKey(_ reader: inout JSONBytes, path: String) throws(StoreError) -> WrappedDataKey {
        let (id, wrapped) = try readTwoStrings(&reader, "id", "wrapped", at: "dataKey", path: path)
        guard let id, let wrapped, id.hasPrefix("dk-"), !id.contains(":") else {
            throw .corrupt(path: path, detail: "expected \"dataKey\": {\"id\": \"dk-…\", \"wrapped\": …}")
        }
        return WrappedDataKey(id: id, wrapped: wrapped)
    }

    /// The string values of keys `first` and `second` of the object at the
    /// reader (nil when missing); any key given twice is refused, others skipped.
    private static func readTwoStrings(_ reader: inout JSONBytes, _ first: String, _ second: String, at place: String,
                                       path: String) throws(StoreError) -> (String?, String?) {
        var values: (String?, String?) = (nil, nil)
        var seen: Set<String> = []
        try reader.object(at: place) { key, reader throws(StoreError) in
            guard seen.insert(key).inserted else {
                throw .corrupt(path: path, detail: "\(JSONText.quoted(printable(key))) appears twice in \(place)")
            }
            switch key {
            case first: values.0 = try reader.string()
            case second: values.1 = try reader.string()
            default: _ = try reader.skipValue(depth: 0)
            }
        }
        return values
    }

    /// The 1-based line of a byte offset, for messages (computed only on error).
    static func line(_ bytes: [UInt8], _ offset: Int) -> Int {
        1 + bytes[..<min(offset, bytes.count)].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
    }

    /// A key the file gave, for a message: shown only when it is a valid
    /// name (names are not secret), else a placeholder.
    static func printable(_ key: String) -> String {
        SecretName.isValid(key) ? key : "…"
    }

    /// `{"team": {…}, "project": {id: {…}}, "cluster": {id: {…}}}`, indexed.
    /// A kind or an id given twice is refused: JSON readers disagree on which
    /// one wins, so a second `"team"` could hide the first from a reviewer.
    private static func readScopes(_ reader: inout JSONBytes, path: String) throws(StoreError) -> [Scope: ScopeIndex] {
        var found: [Scope: ScopeIndex] = [:]
        var kinds: [String: Int] = [:]
        let bytes = reader.bytes
        guard reader.peek == UInt8(ascii: "{") else { throw .corrupt(path: path, detail: "expected a \"scopes\" object") }
        try reader.members(at: "scopes") { kindRange, reader throws(StoreError) in
            let kind = try reader.decodeString(kindRange)
            if let first = kinds[kind] {
                throw .corrupt(path: path, detail: "scopes has \(JSONText.quoted(printable(kind))) twice (lines \(line(bytes, first)) and \(line(bytes, kindRange.lowerBound)))")
            }
            kinds[kind] = kindRange.lowerBound
            switch kind {
            case "team":
                found[.team] = try readSecrets(&reader, scope: .team)
            case "project", "cluster":
                guard reader.peek == UInt8(ascii: "{") else {
                    throw .corrupt(path: path, detail: "expected an object of ids at scopes.\(kind)")
                }
                var ids: [String: Int] = [:]
                try reader.members(at: "scopes.\(kind)") { idRange, reader throws(StoreError) in
                    let id = try reader.decodeString(idRange)
                    do { try Scope.validateID(id) } catch {
                        throw .corrupt(path: path, detail: "scopes.\(kind) has an invalid id; \(Scope.idRuleDescription)")
                    }
                    if let first = ids[id] {
                        throw .corrupt(path: path, detail: "scopes.\(kind) has the id '\(id)' twice (lines \(line(bytes, first)) and \(line(bytes, idRange.lowerBound)))")
                    }
                    ids[id] = idRange.lowerBound
                    let scope: Scope = kind == "project" ? .project(id) : .cluster(id)
                    found[scope] = try readSecrets(&reader, scope: scope)
                }
            default:
                throw .corrupt(path: path, detail: "unknown scope kind in scopes (expected team, project, cluster)")
            }
        }
        return found
    }

    /// One scope's `{name: {…}}`: names checked, ranges noted, values skipped.
    /// A name given twice anywhere in the scope is refused with both lines.
    private static func readSecrets(_ reader: inout JSONBytes, scope: Scope) throws(StoreError) -> ScopeIndex {
        let place = place(of: scope)
        let path = reader.path
        guard reader.peek == UInt8(ascii: "{") else {
            throw .corrupt(path: path, detail: "expected an object of secrets at \(place)")
        }
        var index = ScopeIndex()
        let bytes = reader.bytes
        func twice(_ a: Range<Int>, _ b: Range<Int>) -> StoreError {
            let name = String(decoding: bytes[a], as: UTF8.self)
            let (first, second) = (min(a.lowerBound, b.lowerBound), max(a.lowerBound, b.lowerBound))
            return .corrupt(path: path, detail: "\(place) has the name '\(name)' twice (lines \(line(bytes, first)) and \(line(bytes, second)))")
        }
        try reader.objectRaw(at: place) { nameRange, valueRange throws(StoreError) in
            let valid = bytes.withUnsafeBufferPointer { SecretName.isValid(UnsafeBufferPointer(rebasing: $0[nameRange])) }
            guard valid else {
                throw .corrupt(path: path, detail: "\(place) has an invalid secret name; \(SecretName.ruleDescription)")
            }
            if index.sorted, let last = index.names.last {
                let order = compare(bytes, last, nameRange)
                if order == 0 { throw twice(last, nameRange) }
                if order > 0 { index.sorted = false }
            }
            index.names.append(nameRange)
            index.values.append(valueRange)
        }
        if !index.sorted {
            // Out of order (edited by hand): look for a repeat anywhere, not only beside.
            let order = index.names.indices.sorted { compare(bytes, index.names[$0], index.names[$1]) < 0 }
            for (a, b) in zip(order, order.dropFirst()) where compare(bytes, index.names[a], index.names[b]) == 0 {
                throw twice(index.names[a], index.names[b])
            }
        }
        return index
    }

    /// Every scope that has an object in the file.
    var scopes: [Scope] { Array(indexes.keys) }

    func contains(_ name: String, in scope: Scope) throws(StoreError) -> Bool {
        try valueRange(of: name, in: scope) != nil
    }

    func entry(_ name: String, in scope: Scope) throws(StoreError) -> SealedEntry? {
        guard let range = try valueRange(of: name, in: scope) else { return nil }
        return try parseEntry(range, name: name, scope: scope)
    }

    /// Every entry of a scope, for listings and rewrites.
    func entries(in scope: Scope) throws(StoreError) -> [String: SealedEntry] {
        let index = self.index(of: scope)
        var result: [String: SealedEntry] = [:]
        result.reserveCapacity(index.names.count)
        for (nameRange, valueRange) in zip(index.names, index.values) {
            let name = String(decoding: bytes[nameRange], as: UTF8.self)
            result[name] = try parseEntry(valueRange, name: name, scope: scope)
        }
        return result
    }

    /// The whole document, every entry read (for rewrites).
    func document() throws(StoreError) -> StoreDocument {
        var document = StoreDocument(keyFingerprint: keyFingerprint)
        document.mac = mac
        document.dataKey = dataKey
        for scope in scopes {
            let entries = try entries(in: scope)
            document[scope] = entries
        }
        return document
    }

    /// `StoreCanonical.bytes(of: document())`, computed from the index
    /// without building the document: names in the file's byte order (sorted
    /// only when the file is not), each entry's `sealed` and `updated` copied
    /// as bytes when they need no unescaping. The fast path for the mac check
    /// on every keyed open; equal to the document's encoding by construction
    /// (and checked so by tests and the store fuzz target).
    func canonicalBytes() throws(StoreError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        StoreCanonical.appendHeader(&out, fingerprint: keyFingerprint, dataKey: dataKey)
        func ordered(_ kind: Scope.Kind) -> [Scope] {
            indexes.keys.filter { $0.kind == kind && !(indexes[$0]!.names.isEmpty) }
                .sorted { ($0.id ?? "").utf8.lexicographicallyPrecedes(($1.id ?? "").utf8) }
        }
        let scopes = ordered(.team) + ordered(.project) + ordered(.cluster)
        StoreCanonical.appendCount(&out, scopes.count)
        for scope in scopes {
            let index = indexes[scope]!
            StoreCanonical.appendField(&out, scope.kind.rawValue.utf8)
            StoreCanonical.appendField(&out, (scope.id ?? "").utf8)
            StoreCanonical.appendCount(&out, index.names.count)
            let order = index.sorted ? Array(index.names.indices)
                : index.names.indices.sorted { Self.compare(bytes, index.names[$0], index.names[$1]) < 0 }
            let scopePlace = Self.place(of: scope)
            for i in order {
                StoreCanonical.appendField(&out, bytes[index.names[i]])
                try appendRawEntry(index.values[i], nameRange: index.names[i], scope: scope, scopePlace: scopePlace, to: &out)
            }
        }
        return out
    }

    /// An entry's `sealed` then `updated` as canonical fields, with the same
    /// checks as `parseEntry` (missing or repeated keys, non-strings, bad text).
    private func appendRawEntry(_ range: Range<Int>, nameRange: Range<Int>, scope: Scope, scopePlace: String,
                                to out: inout [UInt8]) throws(StoreError) {
        // The shape secretfill writes, two plain strings, is read straight
        // from the bytes; anything else takes the general path below.
        if let fast = bytes.withUnsafeBufferPointer({ PlainJSONText.sealedAndUpdated($0, range) }) {
            StoreCanonical.appendField(&out, bytes[fast.sealed])
            StoreCanonical.appendField(&out, bytes[fast.updated])
            return
        }
        var reader = JSONBytes(bytes: bytes, path: path, position: range.lowerBound)
        var sealed: Range<Int>?
        var updated: Range<Int>?
        var decodedSealed: [UInt8]?
        var decodedUpdated: [UInt8]?
        // Repeated keys are refused. The two every entry has are tracked
        // without a Set: this runs once per entry on every read of the store.
        var seenSealed = false, seenUpdated = false
        var seenOthers: Set<String> = []
        let path = self.path
        let bytes = self.bytes
        func place() -> String { "\(Self.place(of: scope)).\(String(decoding: bytes[nameRange], as: UTF8.self))" }
        let sealedKey = Array("sealed".utf8), updatedKey = Array("updated".utf8)
        try reader.members(at: scopePlace) { keyRange, reader throws(StoreError) in
            let raw = bytes[keyRange]
            // Plain bytes for the two usual keys; anything else is decoded (an
            // escaped spelling of "sealed" is still the key "sealed").
            let key: String
            if raw.elementsEqual(sealedKey) { key = "sealed" } else if raw.elementsEqual(updatedKey) { key = "updated" } else { key = try reader.decodeString(keyRange) }
            let repeated: Bool
            switch key {
            case "sealed": repeated = seenSealed; seenSealed = true
            case "updated": repeated = seenUpdated; seenUpdated = true
            default: repeated = !seenOthers.insert(key).inserted
            }
            if repeated {
                throw .corrupt(path: path, detail: "\(JSONText.quoted(Self.printable(key))) appears twice in \(place())")
            }
            guard key == "sealed" || key == "updated" else {
                _ = try reader.skipValue(depth: 0)
                return
            }
            reader.skipSpace()
            let start = reader.position
            try reader.skipString()
            let inner = (start + 1)..<(reader.position - 1)
            // Plain printable ASCII: the bytes are the text. Anything else is decoded as parseEntry would.
            let plain = bytes.withUnsafeBufferPointer { PlainJSONText.isPlain($0, inner) }
            let decoded: [UInt8]? = plain ? nil : Array(try reader.decodeString(inner).utf8)
            if key == "sealed" { sealed = inner; decodedSealed = decoded } else { updated = inner; decodedUpdated = decoded }
        }
        guard let sealed, let updated else {
            throw .corrupt(path: path, detail: "expected {\"updated\": …, \"sealed\": …} at \(place())")
        }
        if let decodedSealed { StoreCanonical.appendField(&out, decodedSealed) } else { StoreCanonical.appendField(&out, bytes[sealed]) }
        if let decodedUpdated { StoreCanonical.appendField(&out, decodedUpdated) } else { StoreCanonical.appendField(&out, bytes[updated]) }
    }

    // MARK: Internals

    private func valueRange(of name: String, in scope: Scope) throws(StoreError) -> Range<Int>? {
        let index = self.index(of: scope)
        let wanted = Array(name.utf8)
        if index.sorted {
            var low = 0
            var high = index.names.count
            while low < high {
                let mid = (low + high) / 2
                let order = compare(index.names[mid], wanted)
                if order == 0 { return index.values[mid] }
                if order < 0 { low = mid + 1 } else { high = mid }
            }
            return nil
        }
        for (i, range) in index.names.enumerated() where compare(range, wanted) == 0 { return index.values[i] }
        return nil
    }

    private func index(of scope: Scope) -> ScopeIndex {
        indexes[scope] ?? ScopeIndex()
    }

    private func parseEntry(_ range: Range<Int>, name: String, scope: Scope) throws(StoreError) -> SealedEntry {
        var reader = JSONBytes(bytes: bytes, path: path, position: range.lowerBound)
        let (sealed, updated) = try Self.readTwoStrings(&reader, "sealed", "updated", at: "\(Self.place(of: scope)).\(name)", path: path)
        guard let sealed, let updated else {
            throw .corrupt(path: path, detail: "expected {\"updated\": …, \"sealed\": …} at \(Self.place(of: scope)).\(name)")
        }
        return SealedEntry(sealed: sealed, updated: updated)
    }

    /// Where a scope's secrets sit in the file, for messages: `scopes.project.pr-1`.
    static func place(of scope: Scope) -> String {
        "scopes.\(scope.kind.rawValue)" + (scope.id.map { ".\($0)" } ?? "")
    }

    /// Byte-wise order of two names in the file.
    private static func compare(_ bytes: [UInt8], _ a: Range<Int>, _ b: Range<Int>) -> Int {
        bytes.withUnsafeBufferPointer { buffer in
            let count = min(a.count, b.count)
            for i in 0..<count {
                let x = buffer[a.lowerBound + i]
                let y = buffer[b.lowerBound + i]
                if x != y { return x < y ? -1 : 1 }
            }
            return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
        }
    }

    /// Byte-wise order of a name in the file against `other`.
    private func compare(_ range: Range<Int>, _ other: [UInt8]) -> Int {
        let count = min(range.count, other.count)
        for i in 0..<count {
            let a = bytes[range.lowerBound + i]
            let b = other[i]
            if a != b { return a < b ? -1 : 1 }
        }
        return range.count == other.count ? 0 : (range.count < other.count ? -1 : 1)
    }
}

/// A strict JSON reader over bytes that can skip what it does not need.
/// Nesting is capped, so a hostile store cannot exhaust the stack.
struct JSONBytes {
    let bytes: [UInt8]
    let path: String
    var position = 0
    /// Errors carry only the syntax problem (`expected a value`), for import's messages.
    var plainDetails = false
    static let maximumDepth = 32

    init(bytes: [UInt8], path: String, position: Int = 0, plainDetails: Bool = false) {
        self.bytes = bytes
        self.path = path
        self.position = position
        self.plainDetails = plainDetails
    }

    var atEnd: Bool { position >= bytes.count }

    /// The byte at the cursor, or nil at the end.
    var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipSpace() {
        position = bytes.withUnsafeBufferPointer { buffer in
            var i = position
            while i < buffer.count {
                switch buffer[i] {
                case 0x20, 0x09, 0x0A, 0x0D: i += 1
                default: return i
                }
            }
            return i
        }
    }

    func corrupt(_ detail: String) -> StoreError {
        plainDetails ? .corrupt(path: path, detail: detail)
            : .corrupt(path: path, detail: "it is not valid JSON (\(detail) at byte \(position); truncated or edited by hand?)")
    }

    /// `what` is built only when the byte is missing: building it on every
    /// call once cost more than the rest of reading a 10,000-secret store.
    mutating func expect(_ byte: UInt8, _ what: @autoclosure () -> String) throws(StoreError) {
        skipSpace()
        guard position < bytes.count, bytes[position] == byte else { throw corrupt("expected \(what())") }
        position += 1
    }

    /// Walks an object's members: `body` gets each key's raw byte range
    /// (inside its quotes) with the reader at the value, which it must consume.
    mutating func members(at place: String, _ body: (Range<Int>, inout JSONBytes) throws(StoreError) -> Void) throws(StoreError) {
        try expect(UInt8(ascii: "{"), "an object at \(place)")
        skipSpace()
        if peek == UInt8(ascii: "}") {
            position += 1
            return
        }
        while true {
            skipSpace()
            let keyStart = position + 1
            try skipString()
            let keyEnd = position - 1
            try expect(UInt8(ascii: ":"), "':' after a key in \(place)")
            skipSpace()
            try body(keyStart..<keyEnd, &self)
            skipSpace()
            switch peek {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"): position += 1; return
            case nil: throw corrupt("unterminated object at \(place)")
            default: throw corrupt("expected ',' or '}' in \(place)")
            }
        }
    }

    /// Calls `body` with each decoded key, positioned at its value, which `body` must consume.
    mutating func object(at place: String, _ body: (String, inout JSONBytes) throws(StoreError) -> Void) throws(StoreError) {
        try members(at: place) { keyRange, reader throws(StoreError) in
            try body(try reader.decodeString(keyRange), &reader)
        }
    }

    /// Like `object`, giving the raw byte ranges of each key and value, neither decoded.
    mutating func objectRaw(at place: String, _ body: (Range<Int>, Range<Int>) throws(StoreError) -> Void) throws(StoreError) {
        try members(at: place) { keyRange, reader throws(StoreError) in
            try body(keyRange, try reader.skipValue(depth: 1))
        }
    }

    mutating func string() throws(StoreError) -> String {
        skipSpace()
        let start = position + 1
        try skipString()
        return try decodeString(start..<(position - 1))
    }

    /// The text of a string's contents (between its quotes), escapes decoded.
    func decodeString(_ range: Range<Int>) throws(StoreError) -> String {
        if bytes[range].contains(where: { $0 < 0x20 }) { throw corrupt("a control character in a string") }
        if !bytes[range].contains(UInt8(ascii: "\\")) {
            guard let text = String(validating: bytes[range], as: UTF8.self) else { throw corrupt("invalid UTF-8 in a string") }
            return text
        }
        return try unescape(range)
    }

    /// Moves past a string without decoding it; its text is checked when it
    /// is read. This is the hot loop of opening a large store: `memchr`
    /// finds each candidate closing quote, which counts only when an even
    /// number of backslashes precedes it.
    mutating func skipString() throws(StoreError) {
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw corrupt("expected a string") }
        let end: Int? = bytes.withUnsafeBufferPointer { buffer in
            let base = buffer.baseAddress!
            var from = position + 1
            while from < buffer.count {
                guard let found = memchr(base + from, 0x22, buffer.count - from) else { return nil }
                let quote = UnsafePointer<UInt8>(found.assumingMemoryBound(to: UInt8.self)) - base
                var backslashes = 0
                while quote - backslashes - 1 > position && base[quote - backslashes - 1] == 0x5C { backslashes += 1 }
                if backslashes % 2 == 0 { return quote + 1 }
                from = quote + 1
            }
            return nil
        }
        guard let end else {
            position = bytes.count
            throw corrupt("unterminated string")
        }
        position = end
    }

    /// A number's text (the store only has small integers).
    mutating func number() throws(StoreError) -> String {
        skipSpace()
        let start = position
        while position < bytes.count, bytes[position] == UInt8(ascii: "-") || bytes[position] == UInt8(ascii: ".")
                || bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") || bytes[position] == UInt8(ascii: "+")
                || (bytes[position] >= 0x30 && bytes[position] <= 0x39) {
            position += 1
        }
        guard position > start else { throw corrupt("expected a number") }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// Skips one value, checking its syntax; returns its byte range.
    mutating func skipValue(depth: Int) throws(StoreError) -> Range<Int> {
        guard depth < Self.maximumDepth else { throw corrupt("nesting too deep") }
        skipSpace()
        let start = position
        guard position < bytes.count else { throw corrupt("expected a value") }
        switch bytes[position] {
        case UInt8(ascii: "{"):
            try members(at: "a nested object") { _, reader throws(StoreError) in _ = try reader.skipValue(depth: depth + 1) }
        case UInt8(ascii: "["):
            position += 1
            skipSpace()
            if position < bytes.count && bytes[position] == UInt8(ascii: "]") {
                position += 1
            } else {
                while true {
                    _ = try skipValue(depth: depth + 1)
                    skipSpace()
                    guard position < bytes.count else { throw corrupt("unterminated array") }
                    if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                    if bytes[position] == UInt8(ascii: "]") { position += 1; break }
                    throw corrupt("expected ',' or ']'")
                }
            }
        case UInt8(ascii: "\""):
            try skipString()
        case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
            for literal in ["true", "false", "null"] {
                let word = Array(literal.utf8)
                if position + word.count <= bytes.count && Array(bytes[position..<(position + word.count)]) == word {
                    position += word.count
                    return start..<position
                }
            }
            throw corrupt("unexpected text")
        default:
            _ = try number()
        }
        return start..<position
    }

    /// Four hex digits at `at` (no sign, no spaces), or nil.
    private func hex4(at start: Int, before end: Int) -> UInt32? {
        guard start + 4 <= end else { return nil }
        var value: UInt32 = 0
        for b in bytes[start..<(start + 4)] {
            let digit: UInt8
            switch b {
            case 0x30...0x39: digit = b - 0x30
            case 0x41...0x46: digit = b - 0x41 + 10
            case 0x61...0x66: digit = b - 0x61 + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    private func unescape(_ range: Range<Int>) throws(StoreError) -> String {
        var out: [UInt8] = []
        var i = range.lowerBound
        while i < range.upperBound {
            let b = bytes[i]
            guard b == UInt8(ascii: "\\") else {
                out.append(b)
                i += 1
                continue
            }
            guard i + 1 < range.upperBound else { throw corrupt("a broken escape") }
            let e = bytes[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                guard let unit = hex4(at: i, before: range.upperBound) else { throw corrupt("a broken \\u escape") }
                i += 4
                var code = unit
                if unit >= 0xD800 && unit <= 0xDBFF {
                    // A high surrogate counts only with its low half next (`\ud83d\udd11`, as Python writes emoji).
                    guard i + 2 <= range.upperBound, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u"),
                          let low = hex4(at: i + 2, before: range.upperBound), low >= 0xDC00 && low <= 0xDFFF
                    else { throw corrupt("a \\u escape that is a lone UTF-16 surrogate (a high half without its low half)") }
                    code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                } else if unit >= 0xDC00 && unit <= 0xDFFF {
                    throw corrupt("a \\u escape that is a lone UTF-16 surrogate (a low half without its high half)")
                }
                guard let scalar = Unicode.Scalar(code) else { throw corrupt("a broken \\u escape") }
                out.append(contentsOf: Array(String(scalar).utf8))
            default:
                throw corrupt("an unknown escape")
            }
        }
        guard let text = String(validating: out, as: UTF8.self) else { throw corrupt("invalid UTF-8 in a string") }
        return text
    }
}

/// A JSON string's bytes that need no decoding.
package enum PlainJSONText {
    /// `{"sealed": "…", "updated": "…"}` in either order, JSON whitespace
    /// anywhere, both strings plain (`isPlain`), filling `range` exactly: the
    /// ranges of the two strings' text. Nil for anything else, which the
    /// caller then reads with the general (checking) parser.
    package static func sealedAndUpdated(_ buffer: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> (sealed: Range<Int>, updated: Range<Int>)? {
        var i = range.lowerBound
        let end = range.upperBound
        func skipSpace() { while i < end, buffer[i] == 0x20 || buffer[i] == 0x0A || buffer[i] == 0x0D || buffer[i] == 0x09 { i += 1 } }
        func expect(_ byte: UInt8) -> Bool {
            skipSpace()
            guard i < end, buffer[i] == byte else { return false }
            i += 1
            return true
        }
        /// A plain string's text, `i` after its closing quote.
        func string() -> Range<Int>? {
            guard expect(0x22) else { return nil }
            let start = i
            guard let quote = memchr(buffer.baseAddress! + i, 0x22, end - i) else { return nil }
            i = UnsafeRawPointer(buffer.baseAddress!).distance(to: UnsafeRawPointer(quote))
            guard isPlain(buffer, start..<i) else { return nil }
            i += 1
            return start..<i - 1
        }
        func isKey(_ text: Range<Int>, _ key: StaticString) -> Bool {
            text.count == key.utf8CodeUnitCount && memcmp(buffer.baseAddress! + text.lowerBound, key.utf8Start, text.count) == 0
        }
        guard expect(0x7B), let key1 = string(), expect(0x3A), let value1 = string(), expect(0x2C),
              let key2 = string(), expect(0x3A), let value2 = string(), expect(0x7D) else { return nil }
        skipSpace()
        guard i == end else { return nil }
        if isKey(key1, "sealed") && isKey(key2, "updated") { return (value1, value2) }
        if isKey(key1, "updated") && isKey(key2, "sealed") { return (value2, value1) }
        return nil
    }

    /// Whether `range` holds only printable ASCII other than `\\` (so the
    /// JSON string's bytes are its text). Eight bytes at a time: this runs
    /// over every sealed value on every read of the store.
    package static func isPlain(_ buffer: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        guard let start = buffer.baseAddress else { return range.isEmpty }
        let base = UnsafeRawPointer(start)
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            let word = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            // A high bit set, a byte below 0x20, or a byte equal to 0x5C:
            // (x - 0x20…) & ~x has a byte's high bit set where x < 0x20 (for
            // bytes below 0x80), and the same test on x ^ 0x5C… finds zeros.
            let below = (word &- ones &* 0x20) & ~word
            let backslash = word ^ (ones &* 0x5C)
            let zero = (backslash &- ones) & ~backslash
            if (word | below | zero) & highs != 0 { return false }
            i += 8
        }
        while i < range.upperBound {
            let byte = buffer[i]
            if byte < 0x20 || byte >= 0x80 || byte == 0x5C { return false }
            i += 1
        }
        return true
    }
}
