/// Finds occurrences of many byte strings at once (Aho–Corasick), so a log
/// can be scanned for every secret value in one pass whatever their number.
struct SecretMatcher {
    struct Match {
        var start: Int
        var end: Int
        var pattern: Int
    }

    private var children: [[(byte: UInt8, node: Int32)]] = [[]]
    private var rootNext = [Int32](repeating: 0, count: 256)
    private var fail: [Int32] = [0]
    /// The nearest node on the failure chain (self included) where a pattern ends.
    private var outputLink: [Int32] = [-1]
    private var patternAt: [Int32] = [-1]
    private var depth: [Int32] = [0]
    let patternLengths: [Int]

    /// `patterns` must be non-empty byte strings; equal ones keep the first index.
    init(patterns: [[UInt8]]) {
        patternLengths = patterns.map(\.count)
        for (index, pattern) in patterns.enumerated() {
            var node: Int32 = 0
            for byte in pattern {
                if let next = child(of: node, byte) {
                    node = next
                } else {
                    let new = Int32(children.count)
                    children.append([])
                    fail.append(0)
                    outputLink.append(-1)
                    patternAt.append(-1)
                    depth.append(depth[Int(node)] + 1)
                    children[Int(node)].append((byte, new))
                    node = new
                }
            }
            if patternAt[Int(node)] < 0 { patternAt[Int(node)] = Int32(index) }
        }
        // Breadth-first: failure links, then the root's dense table.
        var queue: [Int32] = []
        for (_, node) in children[0] {
            fail[Int(node)] = 0
            queue.append(node)
        }
        var head = 0
        while head < queue.count {
            let node = queue[head]
            head += 1
            outputLink[Int(node)] = patternAt[Int(node)] >= 0 ? node : outputLink[Int(fail[Int(node)])]
            for (byte, next) in children[Int(node)] {
                var f = fail[Int(node)]
                while f != 0 && child(of: f, byte) == nil { f = fail[Int(f)] }
                let target = child(of: f, byte) ?? 0
                fail[Int(next)] = target == next ? 0 : target
                queue.append(next)
            }
        }
        for (byte, node) in children[0] { rootNext[Int(byte)] = node }
    }

    private func child(of node: Int32, _ byte: UInt8) -> Int32? {
        for entry in children[Int(node)] where entry.byte == byte { return entry.node }
        return nil
    }

    /// Every occurrence in `bytes`, and how many final bytes could still be
    /// the start of an occurrence that more input would complete.
    func scan(_ bytes: UnsafeBufferPointer<UInt8>) -> (matches: [Match], pendingSuffix: Int) {
        var matches: [Match] = []
        var node: Int32 = 0
        for i in 0..<bytes.count {
            let byte = bytes[i]
            while true {
                if node == 0 {
                    node = rootNext[Int(byte)]
                    break
                }
                if let next = child(of: node, byte) {
                    node = next
                    break
                }
                node = fail[Int(node)]
            }
            var out = outputLink[Int(node)]
            while out > 0 {
                let pattern = Int(patternAt[Int(out)])
                matches.append(Match(start: i + 1 - patternLengths[pattern], end: i + 1, pattern: pattern))
                out = outputLink[Int(fail[Int(out)])]
            }
        }
        return (matches, Int(depth[Int(node)]))
    }
}
