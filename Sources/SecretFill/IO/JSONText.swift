/// JSON string literals, written the same way everywhere secretfill emits
/// JSON (env files, check reports, listings, the store).
public enum JSONText {
    /// `text` as a JSON string literal: quotes, backslashes and control
    /// characters escaped, U+2028 and U+2029 too (JavaScript readers).
    public static func quoted(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count + 2)
        appendQuoted(text, to: &out)
        return out
    }

    /// `quoted(text)` appended to `out`, without a string of its own.
    public static func appendQuoted(_ text: String, to out: inout String) {
        // Most text needs no escape: copy it whole (0xE2 starts U+2028 and
        // U+2029, so text with it takes the scalar-by-scalar path).
        if !needsEscape(text) {
            out += "\""
            out += text
            out += "\""
        } else {
            out += quotedScalarByScalar(text)
        }
    }

    /// Whether `text` has a byte that `appendQuoted` cannot copy as it is.
    /// Looked for in the text's bytes in place where it has them in one piece
    /// (any string made in Swift): through `String.UTF8View` it was
    /// 785 instructions a string, 2.5% of a resolve (callgrind, BENCHMARKS.md).
    package static func needsEscape(_ text: String) -> Bool {
        let escaped: (UInt8) -> Bool = { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 == 0xE2 }
        return text.utf8.withContiguousStorageIfAvailable { $0.contains(where: escaped) } ?? text.utf8.contains(where: escaped)
    }

    /// The general path: each scalar looked at (tests check `quoted` against it).
    package static func quotedScalarByScalar(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
