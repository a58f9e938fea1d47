/// The rendered spec: the input's bytes with each reference's scalar
/// replaced by its value as a double-quoted scalar, and nothing else changed.
///
/// It is kept as the input plus replacements and written out in large
/// slices, so a big spec is never held twice in memory.
public struct RenderedSpec: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    let input: [UInt8]
    let references: [SecretReference]
    /// Each name's value as a double-quoted YAML scalar, by `nameIndex`:
    /// quoted once per name, however many references share it.
    private let quoted: [[UInt8]]

    /// `values` is indexed like the scan's `secretNames` and must hold
    /// every referenced name (the caller fails closed before rendering
    /// otherwise).
    public init(input: [UInt8], references: [SecretReference], values: [SecretValue?]) {
        self.input = input
        self.references = references
        quoted = values.map { value in
            var bytes: [UInt8] = []
            if let value { YAMLDoubleQuoted.append(value.revealed, to: &bytes) }
            return bytes
        }
    }

    public var description: String { "RenderedSpec(\(input.count) input bytes, \(references.count) references, values <redacted>)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }

    /// Writes the rendered bytes to `fd` in slices of about 1 MiB.
    public func write(to fd: Int32, path: String) throws(IOError) {
        var pending: [UInt8] = []
        pending.reserveCapacity(1 << 20)
        var failure: IOError?
        input.withUnsafeBufferPointer { all in
            do throws(IOError) {
                try forEachPiece(all) { piece throws(IOError) in
                    if pending.count + piece.count > (1 << 20) && !pending.isEmpty {
                        try FileIO.write(pending, to: fd, path: path)
                        pending.removeAll(keepingCapacity: true)
                    }
                    if piece.count >= (1 << 20) {
                        try FileIO.writeAll(fd: fd, UnsafeRawBufferPointer(piece), path: path)
                    } else {
                        pending.append(contentsOf: piece)
                    }
                }
                try FileIO.write(pending, to: fd, path: path)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }

    /// The whole output in memory (tests, small specs).
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(input.count + references.count * 32)
        input.withUnsafeBufferPointer { all in
            forEachPiece(all) { out.append(contentsOf: $0) }
        }
        return out
    }

    private func forEachPiece<E: Error>(_ all: UnsafeBufferPointer<UInt8>,
                                        _ body: (UnsafeBufferPointer<UInt8>) throws(E) -> Void) throws(E) {
        var cursor = 0
        for reference in references {
            try body(UnsafeBufferPointer(rebasing: all[cursor..<reference.byteRange.lowerBound]))
            try quoted[reference.nameIndex].withUnsafeBufferPointer { (q) throws(E) in try body(q) }
            cursor = reference.byteRange.upperBound
        }
        try body(UnsafeBufferPointer(rebasing: all[cursor...]))
    }
}
