/// `did you mean 'db_password'?` for an unknown name that is a small typo
/// away from a name that exists in the scopes given. Names only: a value
/// is never looked at.
///
/// Distance is the optimal-string-alignment (restricted Damerau-Levenshtein)
/// distance over the names' bytes, letters compared without case: one
/// insertion, deletion, substitution or swap of two neighbours costs 1.
/// A name is suggested when its distance is at most 2 and at most a third
/// of the unknown name's length (so `ab` suggests nothing). The closest
/// wins; ties go to the first in byte order.
public enum NameSuggestion {
    /// The most edits a suggestion may be away.
    public static let maximumDistance = 2

    /// The candidate closest to `name`, if one is close enough.
    public static func closest<Names: Sequence<String>>(to name: String, among candidates: Names) -> String? {
        let target = Array(name.utf8)
        let limit = min(maximumDistance, target.count / 3)
        var best: (name: String, distance: Int)?
        for candidate in candidates where candidate != name {
            let bytes = Array(candidate.utf8)
            // Lengths further apart than the limit cannot be within it.
            guard abs(bytes.count - target.count) <= limit else { continue }
            let bound = best.map { $0.distance } ?? limit
            guard let distance = distance(target, bytes, within: bound) else { continue }
            if let held = best, held.distance < distance || (held.distance == distance && !candidate.utf8.lexicographicallyPrecedes(held.name.utf8)) {
                continue
            }
            best = (candidate, distance)
        }
        return best?.name
    }

    /// The distance between `a` and `b`, or nil when it is over `limit`.
    public static func distance(_ a: String, _ b: String, within limit: Int = .max) -> Int? {
        distance(Array(a.utf8), Array(b.utf8), within: limit)
    }

    static func distance(_ a: [UInt8], _ b: [UInt8], within limit: Int) -> Int? {
        func folded(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte }
        let a = a.map(folded), b = b.map(folded)
        if a == b { return 0 }
        guard abs(a.count - b.count) <= limit else { return nil }
        // Three rows: two back (for a swap), the previous and the current.
        var before = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            current[0] = i
            var rowMinimum = current[0]
            for j in 1..<(b.count + 1) {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    value = min(value, before[j - 2] + 1)
                }
                current[j] = value
                rowMinimum = min(rowMinimum, value)
            }
            // Every later row is at least this row's smallest entry.
            if rowMinimum > limit { return nil }
            (before, previous, current) = (previous, current, before)
        }
        let result = previous[b.count]
        return result <= limit ? result : nil
    }
}
