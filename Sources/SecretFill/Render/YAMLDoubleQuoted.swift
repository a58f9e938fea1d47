/// Writes a string as a YAML double-quoted scalar that every YAML 1.1 and 1.2
/// loader reads back as exactly that string.
///
/// Double quotes are the only YAML style that can hold any text on one line:
/// typed-looking text (`true`, `0x1F`, `~`), indicators (`- `, `: `, `#`),
/// leading and trailing spaces and line breaks all survive. Characters that
/// loaders fold or reject when raw are escaped: C0 and C1 controls, DEL,
/// U+0085 (`\N`), U+2028 (`\L`), U+2029 (`\P`), U+FEFF, U+FFFE and U+FFFF.
public enum YAMLDoubleQuoted {
    public static func append(_ text: String, to out: inout [UInt8]) {
        out.append(0x22)
        // Fast path: printable ASCII without quotes or backslashes is copied as is.
        var text = text
        let plain = text.withUTF8 { bytes -> Bool in
            for b in bytes where b < 0x20 || b > 0x7E || b == 0x22 || b == 0x5C { return false }
            out.append(contentsOf: bytes)
            return true
        }
        if plain {
            out.append(0x22)
            return
        }
        for scalar in text.unicodeScalars {
            let v = scalar.value
            switch v {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, 0x6E])
            case 0x09: out.append(contentsOf: [0x5C, 0x74])
            case 0x0D: out.append(contentsOf: [0x5C, 0x72])
            case 0x00: out.append(contentsOf: [0x5C, 0x30])
            case 0x1B: out.append(contentsOf: [0x5C, 0x65])
            case 0x85: out.append(contentsOf: [0x5C, 0x4E])
            case 0x2028: out.append(contentsOf: [0x5C, 0x4C])
            case 0x2029: out.append(contentsOf: [0x5C, 0x50])
            case 0x01...0x1F, 0x7F...0x9F:
                out.append(contentsOf: [0x5C, 0x78, hex(v >> 4), hex(v & 0xF)])
            case 0xFEFF, 0xFFFE, 0xFFFF:
                out.append(contentsOf: [0x5C, 0x75, hex(v >> 12), hex((v >> 8) & 0xF), hex((v >> 4) & 0xF), hex(v & 0xF)])
            case 0x20...0x7E:
                out.append(UInt8(v))
            default:
                out.append(contentsOf: String(scalar).utf8)
            }
        }
        out.append(0x22)
    }

    public static func quote(_ text: String) -> String {
        var out: [UInt8] = []
        append(text, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @inline(__always) private static func hex(_ v: UInt32) -> UInt8 {
        v < 10 ? UInt8(0x30 + v) : UInt8(0x41 + v - 10)
    }
}
