/// Replaces secret values in a byte stream with `[secret:NAME]`, holding back
/// only the bytes that could still begin a value, so a followed log shows up
/// as soon as it can and memory stays bounded whatever the stream's length.
///
/// When values overlap, the leftmost wins, and at one position the longest.
/// A multi-line value is matched whole and also line by line (lines of at
/// least `minimumLength` bytes), as GitHub Actions masks multi-line secrets.
public struct StreamRedactor: CustomReflectable {
    /// Shorter values would redact ordinary words; they are skipped.
    public static let minimumLength = 6

    private let matcher: SecretMatcher?
    private let replacements: [[UInt8]]
    private var pending: [UInt8] = []

    /// Names of values skipped for being too short (for a warning).
    public let skipped: [String]

    /// `secrets`: name and value pairs; several names may share a value.
    public init(secrets: [(name: String, value: SecretValue)]) {
        var patterns: [[UInt8]] = []
        var replacements: [[UInt8]] = []
        var skipped: [String] = []
        for (name, value) in secrets {
            let bytes = Array(value.revealed.utf8)
            guard bytes.count >= Self.minimumLength else {
                skipped.append(name)
                continue
            }
            let replacement = Array("[secret:\(name)]".utf8)
            patterns.append(bytes)
            replacements.append(replacement)
            if bytes.contains(0x0A) {
                for line in bytes.split(separator: 0x0A) {
                    var line = Array(line)
                    if line.last == 0x0D { line.removeLast() }
                    if line.count >= Self.minimumLength {
                        patterns.append(line)
                        replacements.append(replacement)
                    }
                }
            }
        }
        self.matcher = patterns.isEmpty ? nil : SecretMatcher(patterns: patterns)
        self.replacements = replacements
        self.skipped = skipped
    }

    /// Its patterns are secret values: reflection shows only the skipped names.
    public var customMirror: Mirror { Mirror(self, children: ["skipped": skipped]) }

    /// Takes the next bytes of the stream and returns what can be written now.
    public mutating func feed(_ chunk: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        guard matcher != nil else { return Array(chunk) }
        pending.append(contentsOf: chunk)
        return drain(final: false)
    }

    /// Returns everything still held back, at the end of the stream.
    public mutating func finish() -> [UInt8] {
        guard matcher != nil else { return [] }
        return drain(final: true)
    }

    private mutating func drain(final: Bool) -> [UInt8] {
        guard let matcher else { return [] }
        let (matches, suffix) = pending.withUnsafeBufferPointer { matcher.scan($0) }
        let decidedUpTo = final ? pending.count : pending.count - suffix
        var out: [UInt8] = []
        out.reserveCapacity(pending.count)
        var cursor = 0
        // Leftmost, then longest: sort by start, longer first.
        let ordered = matches.sorted { $0.start != $1.start ? $0.start < $1.start : $0.end > $1.end }
        for match in ordered where match.start >= cursor && match.start < decidedUpTo {
            out.append(contentsOf: pending[cursor..<match.start])
            out.append(contentsOf: replacements[match.pattern])
            cursor = match.end
        }
        let keepFrom = max(cursor, decidedUpTo)
        out.append(contentsOf: pending[cursor..<keepFrom])
        pending.removeSubrange(0..<keepFrom)
        return out
    }
}
