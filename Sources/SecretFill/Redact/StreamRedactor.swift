/// Replaces secret values in a byte stream with `[secret:NAME]`, holding back
/// only the bytes that could still begin a value, so a followed log shows up
/// as soon as it can and memory stays bounded whatever the stream's length.
///
/// Each value is looked for as printed and in its encoded forms (base64 at
/// every alignment and in both alphabets, JSON string escaping, URL
/// encoding, XML/HTML escaping: see `SecretForms`). A value's final line
/// breaks stay in the log. A multi-line value is matched whole and also line
/// by line (lines of at least `minimumLength` bytes), as GitHub Actions masks
/// multi-line secrets.
///
/// Matches that overlap are redacted as their union, so no tail of either
/// passes: at one position the longest wins, and a match that runs on past
/// the end of the one before adds its own marker (`[secret:A][secret:B]`).
public struct StreamRedactor: CustomReflectable, Sendable {
    /// Shorter values would redact ordinary words; they are skipped.
    public static let minimumLength = 6

    private let matcher: SecretMatcher?
    /// For each pattern, the index of its marker in `markers`.
    private let markerOf: [Int32]
    private let markers: [[UInt8]]
    private var state = SecretMatcher.State()
    /// The stream from position `emitted` on, not yet written.
    private var pending: [UInt8] = []
    private var emitted = 0
    /// Matches found whose fate more input could still change.
    private var found: [SecretMatcher.Match] = []
    /// The marker written last, so a run of overlapping matches of one value
    /// (`abababab` in `ababababab`) reads as one marker.
    private var lastMarker: Int32 = -1

    /// Names of values skipped for being too short (for a warning).
    public let skipped: [String]

    /// `secrets`: name and value pairs; several names may share a value (the
    /// first name given is the one shown).
    public init(secrets: [(name: String, value: SecretValue)]) {
        var patterns: [[UInt8]] = []
        var markerOf: [Int32] = []
        var markers: [[UInt8]] = []
        var skipped: [String] = []
        for (name, value) in secrets {
            guard let forms = SecretForms.patterns(for: Array(value.revealed.utf8), minimumLength: Self.minimumLength) else {
                skipped.append(name)
                continue
            }
            markers.append(Array("[secret:\(name)]".utf8))
            for form in forms {
                patterns.append(form)
                markerOf.append(Int32(markers.count - 1))
            }
        }
        self.matcher = patterns.isEmpty ? nil : SecretMatcher(patterns: patterns)
        self.markerOf = markerOf
        self.markers = markers
        self.skipped = skipped
    }

    /// Its patterns are secret values: reflection shows only the skipped names.
    public var customMirror: Mirror { Mirror(self, children: ["skipped": skipped]) }

    /// Takes the next bytes of the stream and returns what can be written now.
    public mutating func feed(_ chunk: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        guard let matcher else { return Array(chunk) }
        matcher.scan(chunk, from: &state, offset: emitted + pending.count, into: &found)
        pending.append(contentsOf: chunk)
        let end = emitted + pending.count
        return drain(decidedUpTo: end - matcher.pendingLength(state))
    }

    /// Returns everything still held back, at the end of the stream; the
    /// redactor is then ready for a new stream.
    public mutating func finish() -> [UInt8] {
        guard matcher != nil else { return [] }
        let out = drain(decidedUpTo: emitted + pending.count)
        state = SecretMatcher.State()
        emitted = 0
        lastMarker = -1
        return out
    }

    /// How many bytes are held back now (never more than the longest form).
    var heldBack: Int { pending.count }

    /// Writes out the stream up to `decided` (no match not yet found can
    /// start before it), and any marker whose match starts before it.
    private mutating func drain(decidedUpTo decided: Int) -> [UInt8] {
        var out: [UInt8] = []
        var cursor = emitted
        if !found.isEmpty {
            out.reserveCapacity(pending.count)
            // Leftmost first, at one position the longest, then the first name given.
            found.sort {
                $0.start != $1.start ? $0.start < $1.start : $0.end != $1.end ? $0.end > $1.end : $0.pattern < $1.pattern
            }
            var undecided = found.count
            for (index, match) in found.enumerated() {
                if match.start >= decided {
                    undecided = index
                    break
                }
                // Inside what is already replaced: nothing of it passes.
                if match.end <= cursor { continue }
                let marker = markerOf[match.pattern]
                if match.start < cursor && marker == lastMarker {
                    // The same value runs on: its marker already stands for this.
                    cursor = match.end
                    continue
                }
                if match.start > cursor { out.append(contentsOf: pending[(cursor - emitted)..<(match.start - emitted)]) }
                out.append(contentsOf: markers[Int(marker)])
                lastMarker = marker
                cursor = match.end
            }
            let reach = cursor
            found.removeSubrange(0..<undecided)
            found.removeAll { $0.end <= reach }
        }
        if cursor < decided {
            if cursor == emitted && decided == emitted + pending.count && out.isEmpty {
                // Nothing held back and nothing replaced: hand the bytes over whole.
                emitted = decided
                defer { pending = [] }
                return pending
            }
            out.append(contentsOf: pending[(cursor - emitted)..<(decided - emitted)])
            cursor = decided
        }
        pending.removeSubrange(0..<(cursor - emitted))
        emitted = cursor
        return out
    }
}
