/// The rule secret names follow, shared by the store and by references in specs.
///
/// Names match `[A-Za-z_][A-Za-z0-9_.-]*` and are at most 128 characters, so a
/// name is always safe to print, to use as a JSON key and to put in a message.
public enum SecretName {
    public static let maximumLength = 128
    public static let ruleDescription = "a secret name must match [A-Za-z_][A-Za-z0-9_.-]* and be at most 128 characters"

    public static func isValid(_ name: String) -> Bool {
        var copy = name
        return copy.withUTF8 { isValid($0) }
    }

    public static func isValid(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = bytes.first, bytes.count <= maximumLength else { return false }
        guard isLetter(first) || first == UInt8(ascii: "_") else { return false }
        for b in bytes.dropFirst() {
            guard isLetter(b) || isDigit(b) || b == UInt8(ascii: "_") || b == UInt8(ascii: ".") || b == UInt8(ascii: "-") else {
                return false
            }
        }
        return true
    }

    @inline(__always) static func isLetter(_ b: UInt8) -> Bool { (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A }
    @inline(__always) static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
}
