/// Finds occurrences of many byte strings at once (Aho–Corasick), so a log
/// can be scanned for every secret value and every encoded form of it in one
/// pass whatever their number.
///
/// The automaton is laid out breadth-first: the first nodes (the root and the
/// shallow ones, where a scan of ordinary text spends nearly all its time) get
/// a full transition row, one entry per byte that occurs in some pattern
/// (all others share one), with a bit saying whether the target reports
/// anything, in 1 MiB of rows at most so they stay in cache; deeper nodes keep their children side by
/// side and fall back along failure links. Scanning can resume across reads
/// from a saved state, so a stream is read once.
///
/// Only the first `prefixLength` bytes of a longer pattern (a key, a
/// certificate, and their encoded forms) are in the automaton: where they
/// match, the rest is compared as it arrives. The automaton's size is then
/// bounded by the number of patterns, not by their length (a 1 MiB value has
/// some thirty forms). A long pattern that overlaps itself by 64 bytes or more
/// (`abab…`) could have many comparisons under way at once; for those alone a
/// Knuth–Morris–Pratt failure table keeps it to one, so the cost per byte
/// stays bounded whatever the input.
struct SecretMatcher: Sendable {
    struct Match: Sendable {
        var start: Int
        var end: Int
        var pattern: Int
    }

    /// Where a scan stopped: pass it back to continue with the next bytes.
    struct State: Sendable {
        fileprivate var node: Int32 = 0
        /// Long patterns whose first `prefixLength` bytes matched, being
        /// compared: at most one per pattern, the longest part matched.
        fileprivate var candidates: [Candidate] = []
    }

    fileprivate struct Candidate: Sendable {
        var pattern: Int32
        /// How many bytes of the pattern matched so far (the last ones read).
        var matched: Int
    }

    let patternLengths: [Int]
    /// The longest pattern: no more than this is ever held back.
    let maximumLength: Int
    private let tables: Tables

    /// The most memory the dense rows take.
    static let denseBudget = 1 << 20
    /// How much of a pattern goes into the automaton.
    static let prefixLength = 64

    /// `patterns` must be non-empty byte strings; equal ones keep the first index.
    init(patterns: [[UInt8]]) {
        patternLengths = patterns.map(\.count)
        maximumLength = patternLengths.max() ?? 0
        tables = Tables(patterns: patterns)
    }

    /// Every occurrence in `bytes` (positions from 0), and how many final
    /// bytes could still be the start of an occurrence that more input would
    /// complete.
    func scan(_ bytes: UnsafeBufferPointer<UInt8>) -> (matches: [Match], pendingSuffix: Int) {
        var state = State()
        var matches: [Match] = []
        scan(bytes, from: &state, offset: 0, into: &matches)
        return (matches, pendingLength(state))
    }

    /// Continues from `state` over `bytes`, whose first byte is at stream
    /// position `offset`; appends each occurrence as it ends.
    func scan(_ bytes: UnsafeBufferPointer<UInt8>, from state: inout State, offset: Int, into matches: inout [Match]) {
        let t = tables
        let dense = t.dense, denseCount = Int32(t.denseCount), classes = t.byteClass, width = t.classCount
        let childStart = t.childStart, childCount = t.childCount, inByte = t.inByte
        let fail = t.fail, outputLink = t.outputLink, patternAt = t.patternAt
        let triggerHead = t.triggerHead, triggerNext = t.triggerNext, depth = t.depth
        let longBytes = t.longBytes, longOffset = t.longOffset, longBorders = t.longBorders
        let cut = SecretMatcher.prefixLength
        var node = state.node
        var candidates = state.candidates
        state.candidates = []
        for i in 0..<bytes.count {
            let byte = bytes[i]
            if !candidates.isEmpty {
                var kept = 0
                for r in 0..<candidates.count {
                    var candidate = candidates[r]
                    let pattern = Int(candidate.pattern)
                    let base = longOffset[pattern]
                    let borders = longBorders[pattern]
                    var k = candidate.matched
                    while longBytes[base + k] != byte {
                        // Mismatch: the next shorter part of the pattern that still ends here.
                        k = borders.map { Int($0[k]) } ?? 0
                        if k < cut { break }
                    }
                    guard k >= cut else { continue }  // the automaton sees shorter ones
                    k += 1
                    if k == patternLengths[pattern] {
                        let end = offset + i + 1
                        matches.append(Match(start: end - k, end: end, pattern: pattern))
                        k = borders.map { Int($0[k]) } ?? 0
                        if k < cut { continue }
                    }
                    candidate.matched = k
                    candidates[kept] = candidate
                    kept += 1
                }
                candidates.removeLast(candidates.count - kept)
            }
            var reports: Bool
            while true {
                if node < denseCount {
                    let entry = dense[Int(node) &* width &+ Int(classes[Int(byte)])]
                    node = entry & Tables.nodeMask
                    reports = entry < 0
                    break
                }
                let first = Int(childStart[Int(node)])
                let end = first + Int(childCount[Int(node)])
                var next: Int32 = -1
                var k = first
                while k < end {
                    if inByte[k] == byte { next = Int32(k); break }
                    k += 1
                }
                if next >= 0 {
                    node = next
                    reports = outputLink[Int(node)] >= 0
                    break
                }
                node = fail[Int(node)]
            }
            guard reports else { continue }
            var out = outputLink[Int(node)]
            while out > 0 {
                let pattern = Int(patternAt[Int(out)])
                if pattern >= 0 {
                    let end = offset + i + 1
                    matches.append(Match(start: end - patternLengths[pattern], end: end, pattern: pattern))
                }
                var long = triggerHead[Int(out)]
                while long >= 0 {
                    // One already under way has matched this stretch too (it keeps the longest).
                    if !candidates.contains(where: { $0.pattern == long }) {
                        candidates.append(Candidate(pattern: long, matched: Int(depth[Int(out)])))
                    }
                    long = triggerNext[Int(long)]
                }
                out = outputLink[Int(fail[Int(out)])]
            }
        }
        state.node = node
        state.candidates = candidates
    }

    /// How many of the last bytes scanned are the start of a pattern not yet
    /// complete (the longest such): earlier bytes can begin no new match.
    func pendingLength(_ state: State) -> Int {
        state.candidates.reduce(Int(tables.depth[Int(state.node)])) { max($0, $1.matched) }
    }
}

/// The automaton's arrays, allocated once and zeroed when released: the
/// transition bytes are the secret values themselves.
private final class Tables: @unchecked Sendable {
    // All arrays are written only in `init` and read-only afterwards.
    let nodeCount: Int
    let denseCount: Int
    /// Rows of `classCount` entries: the target node, its sign bit set when it reports.
    let dense: UnsafeMutableBufferPointer<Int32>
    /// Each byte's column: bytes on no edge share column 0.
    let byteClass: UnsafeMutableBufferPointer<Int32>
    let classCount: Int
    static let nodeMask: Int32 = 0x7FFF_FFFF
    let childStart: UnsafeMutableBufferPointer<Int32>
    let childCount: UnsafeMutableBufferPointer<UInt16>
    let inByte: UnsafeMutableBufferPointer<UInt8>
    let fail: UnsafeMutableBufferPointer<Int32>
    /// The nearest node on the failure chain (self included) where a pattern ends; -1 for none.
    let outputLink: UnsafeMutableBufferPointer<Int32>
    let patternAt: UnsafeMutableBufferPointer<Int32>
    let depth: UnsafeMutableBufferPointer<Int32>
    /// The first long pattern whose prefix ends at a node (-1: none), and the next one with the same prefix.
    let triggerHead: UnsafeMutableBufferPointer<Int32>
    let triggerNext: UnsafeMutableBufferPointer<Int32>
    /// Long patterns whole, one after another, and where each starts (-1 for short ones).
    let longBytes: UnsafeMutableBufferPointer<UInt8>
    let longOffset: [Int]
    /// For a long pattern with a border (a prefix that is also a suffix) of
    /// `prefixLength` bytes or more: entry k is the longest border of its
    /// first k bytes. nil for all others, where a mismatch ends the comparison.
    let longBorders: [UnsafeMutableBufferPointer<Int32>?]

    init(patterns: [[UInt8]]) {
        // 1. A trie with linked children, in insertion order.
        var firstChild: [Int32] = [-1]
        var nextSibling: [Int32] = [-1]
        var byteInto: [UInt8] = [0]
        var endsPattern: [Int32] = [-1]
        var triggers: [Int32] = [-1]
        var rootChild = [Int32](repeating: -1, count: 256)
        let cut = SecretMatcher.prefixLength
        var longOffset = [Int](repeating: -1, count: patterns.count)
        var longTotal = 0
        for (index, pattern) in patterns.enumerated() where pattern.count > cut {
            longOffset[index] = longTotal
            longTotal += pattern.count
        }
        longBytes = .allocate(capacity: max(longTotal, 1))
        self.longOffset = longOffset
        triggerNext = .allocate(capacity: max(patterns.count, 1))
        triggerNext.update(repeating: -1)
        for (index, pattern) in patterns.enumerated() where !pattern.isEmpty {
            var node: Int32 = 0
            var fresh = false
            for byte in pattern.prefix(cut) {
                var next: Int32 = -1
                if !fresh {
                    if node == 0 {
                        next = rootChild[Int(byte)]
                    } else {
                        var c = firstChild[Int(node)]
                        while c >= 0 {
                            if byteInto[Int(c)] == byte { next = c; break }
                            c = nextSibling[Int(c)]
                        }
                    }
                }
                if next < 0 {
                    next = Int32(firstChild.count)
                    firstChild.append(-1)
                    nextSibling.append(firstChild[Int(node)])
                    byteInto.append(byte)
                    endsPattern.append(-1)
                    triggers.append(-1)
                    firstChild[Int(node)] = next
                    if node == 0 { rootChild[Int(byte)] = next }
                    fresh = true
                }
                node = next
            }
            if pattern.count > cut {
                _ = UnsafeMutableBufferPointer(rebasing: longBytes[longOffset[index]...]).initialize(from: pattern)
                triggerNext[index] = triggers[Int(node)]
                triggers[Int(node)] = Int32(index)
            } else if endsPattern[Int(node)] < 0 {
                endsPattern[Int(node)] = Int32(index)
            }
        }
        longBorders = patterns.map { pattern in
            guard pattern.count > cut else { return nil }
            let table = Tables.borders(pattern)
            if table.contains(where: { $0 >= Int32(cut) }) { return table }
            table.deallocate()
            return nil
        }
        let n = firstChild.count
        nodeCount = n

        // 2. Renumber breadth-first, children of a node side by side in byte order.
        childStart = .allocate(capacity: n)
        childCount = .allocate(capacity: n)
        inByte = .allocate(capacity: n)
        patternAt = .allocate(capacity: n)
        depth = .allocate(capacity: n)
        triggerHead = .allocate(capacity: n)
        triggerHead[0] = -1
        var order = [Int32](repeating: 0, count: n)
        order[0] = 0
        var filled = 1
        inByte[0] = 0
        patternAt[0] = -1
        depth[0] = 0
        var kids: [Int32] = []
        for u in 0..<n {
            let old = Int(order[u])
            kids.removeAll(keepingCapacity: true)
            var c = firstChild[old]
            while c >= 0 {
                kids.append(c)
                c = nextSibling[Int(c)]
            }
            kids.sort { byteInto[Int($0)] < byteInto[Int($1)] }
            childStart[u] = Int32(filled)
            childCount[u] = UInt16(kids.count)
            for kid in kids {
                order[filled] = kid
                inByte[filled] = byteInto[Int(kid)]
                patternAt[filled] = endsPattern[Int(kid)]
                triggerHead[filled] = triggers[Int(kid)]
                depth[filled] = depth[u] + 1
                filled += 1
            }
        }
        for i in byteInto.indices { byteInto[i] = 0 }

        // 3. Failure links, output links and the dense rows, in that order.
        byteClass = .allocate(capacity: 256)
        byteClass.update(repeating: 0)
        var classCount = 1
        for k in 1..<n where byteClass[Int(inByte[k])] == 0 {
            byteClass[Int(inByte[k])] = Int32(classCount)
            classCount += 1
        }
        self.classCount = classCount
        let width = classCount
        denseCount = max(1, min(n, SecretMatcher.denseBudget / (width * 4)))
        dense = .allocate(capacity: denseCount * width)
        fail = .allocate(capacity: n)
        outputLink = .allocate(capacity: n)
        fail[0] = 0
        for u in 0..<n {
            let reports = patternAt[u] >= 0 || triggerHead[u] >= 0
            outputLink[u] = u == 0 ? -1 : (reports ? Int32(u) : outputLink[Int(fail[u])])
            let first = Int(childStart[u]), end = first + Int(childCount[u])
            if u < denseCount {
                let row = u * width
                if u == 0 {
                    for c in 0..<width { dense[c] = 0 }
                } else {
                    let from = Int(fail[u]) * width
                    for c in 0..<width { dense[row + c] = dense[from + c] }
                }
                for k in first..<end { dense[row + Int(byteClass[Int(inByte[k])])] = Int32(k) }
            }
            for k in first..<end {
                fail[k] = u == 0 ? 0 : next(from: fail[u], inByte[k])
            }
        }
        // Mark the entries whose target reports, now that every link is known.
        for e in 0..<(denseCount * width) where outputLink[Int(dense[e])] >= 0 {
            dense[e] |= ~Tables.nodeMask
        }
    }

    /// Knuth–Morris–Pratt: entry k (0...count) is the length of the longest
    /// proper prefix of `pattern[0..<k]` that is also its suffix.
    static func borders(_ pattern: [UInt8]) -> UnsafeMutableBufferPointer<Int32> {
        let table = UnsafeMutableBufferPointer<Int32>.allocate(capacity: pattern.count + 1)
        table[0] = 0
        if pattern.count > 0 { table[1] = 0 }
        var k = 0
        var i = 1
        while i < pattern.count {
            while k > 0 && pattern[i] != pattern[k] { k = Int(table[k]) }
            if pattern[i] == pattern[k] { k += 1 }
            table[i + 1] = Int32(k)
            i += 1
        }
        return table
    }

    /// The transition from `node` on `byte`, for nodes already linked.
    private func next(from node: Int32, _ byte: UInt8) -> Int32 {
        var node = node
        while true {
            if Int(node) < denseCount { return dense[Int(node) * classCount + Int(byteClass[Int(byte)])] }
            let first = Int(childStart[Int(node)]), end = first + Int(childCount[Int(node)])
            for k in first..<end where inByte[k] == byte { return Int32(k) }
            node = fail[Int(node)]
        }
    }

    deinit {
        for buffer in [dense, byteClass, childStart, fail, outputLink, patternAt, depth, triggerHead, triggerNext] {
            buffer.update(repeating: 0)
            buffer.deallocate()
        }
        childCount.update(repeating: 0)
        childCount.deallocate()
        inByte.update(repeating: 0)
        inByte.deallocate()
        longBytes.update(repeating: 0)
        longBytes.deallocate()
        for case let table? in longBorders {
            table.update(repeating: 0)
            table.deallocate()
        }
    }
}
