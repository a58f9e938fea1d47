#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The rendered spec: the input's bytes with each reference's scalar
/// replaced by its value as a double-quoted scalar, and nothing else changed.
///
/// It is kept as the input plus replacements and written straight from
/// those buffers with `writev`, so a big spec is never held, or copied,
/// twice.
public struct RenderedSpec: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    let input: [UInt8]
    let references: [SecretReference]
    /// Every name's value as a double-quoted YAML scalar, one after another:
    /// quoted once per name, however many references share it.
    private let quotedBytes: [UInt8]
    /// Where each name's quoted value is in `quotedBytes`, by `nameIndex`.
    private let quotedRanges: [Range<Int>]
    /// Warnings that did not stop the render (`SECRET:x` left as text), for stderr.
    public var warnings: [Diagnostic] = []

    /// `values` is indexed like the scan's `secretNames` and must hold
    /// every referenced name (the caller fails closed before rendering
    /// otherwise).
    public init(input: [UInt8], references: [SecretReference], values: [SecretValue?]) {
        self.input = input
        self.references = references
        var bytes: [UInt8] = []
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(values.count)
        for value in values {
            let start = bytes.count
            if let value { YAMLDoubleQuoted.append(value.revealed, to: &bytes) }
            ranges.append(start..<bytes.count)
        }
        quotedBytes = bytes
        quotedRanges = ranges
    }

    public var description: String { "RenderedSpec(\(input.count) input bytes, \(references.count) references, values <redacted>)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }

    /// Writes the rendered bytes to `fd`, gathering up to 1,024 pieces per
    /// `writev` call.
    public func write(to fd: Int32, path: String) throws(IOError) {
        try withPieces { (pieces) throws(IOError) in
            var vectors: [iovec] = []
            vectors.reserveCapacity(Self.piecesPerWrite)
            for piece in pieces where !piece.isEmpty {
                vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: piece.baseAddress!), iov_len: piece.count))
                if vectors.count == Self.piecesPerWrite {
                    try FileIO.writeAll(fd: fd, vectors: &vectors, path: path)
                    vectors.removeAll(keepingCapacity: true)
                }
            }
            try FileIO.writeAll(fd: fd, vectors: &vectors, path: path)
        }
    }

    /// The whole output in memory (tests, small specs).
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(input.count + references.count * 32)
        withPieces { pieces in
            for piece in pieces { out.append(contentsOf: piece) }
        }
        return out
    }

    /// Linux and macOS both accept 1,024 vectors per call (IOV_MAX).
    private static let piecesPerWrite = 1_024

    /// Calls `body` with the output as a sequence of slices of the input and
    /// of the quoted values, valid only during the call.
    private func withPieces<E: Error>(_ body: (Pieces) throws(E) -> Void) throws(E) {
        try input.withUnsafeBufferPointer { (all) throws(E) in
            try quotedBytes.withUnsafeBufferPointer { (quoted) throws(E) in
                try body(Pieces(input: all, quoted: quoted, ranges: quotedRanges, references: references))
            }
        }
    }

    /// Input up to the first reference, its value, input up to the next, …,
    /// the rest of the input.
    private struct Pieces: Sequence, IteratorProtocol {
        let input: UnsafeBufferPointer<UInt8>
        let quoted: UnsafeBufferPointer<UInt8>
        let ranges: [Range<Int>]
        let references: [SecretReference]
        var index = 0
        var cursor = 0
        var valueIsNext = false

        init(input: UnsafeBufferPointer<UInt8>, quoted: UnsafeBufferPointer<UInt8>, ranges: [Range<Int>], references: [SecretReference]) {
            self.input = input
            self.quoted = quoted
            self.ranges = ranges
            self.references = references
        }

        mutating func next() -> UnsafeBufferPointer<UInt8>? {
            if valueIsNext {
                valueIsNext = false
                let reference = references[index]
                index += 1
                cursor = reference.byteRange.upperBound
                return UnsafeBufferPointer(rebasing: quoted[ranges[reference.nameIndex]])
            }
            if index < references.count {
                valueIsNext = true
                return UnsafeBufferPointer(rebasing: input[cursor..<references[index].byteRange.lowerBound])
            }
            guard cursor <= input.count else { return nil }
            defer { cursor = input.count + 1 }
            return UnsafeBufferPointer(rebasing: input[cursor...])
        }
    }
}
