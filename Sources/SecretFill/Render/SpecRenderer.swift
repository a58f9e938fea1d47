/// Produces the rendered spec: the input's bytes with each reference's
/// scalar replaced by its value as a double-quoted scalar, and nothing else
/// changed.
public enum SpecRenderer {
    /// `values` must hold every referenced name (the caller fails closed
    /// before rendering otherwise).
    public static func render(_ input: UnsafeBufferPointer<UInt8>, references: [SecretReference],
                              values: [String: SecretValue]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(input.count + references.count * 32)
        var cursor = 0
        for reference in references {
            out.append(contentsOf: UnsafeBufferPointer(rebasing: input[cursor..<reference.byteRange.lowerBound]))
            YAMLDoubleQuoted.append(values[reference.name]!.revealed, to: &out)
            cursor = reference.byteRange.upperBound
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: input[cursor...]))
        return out
    }
}
