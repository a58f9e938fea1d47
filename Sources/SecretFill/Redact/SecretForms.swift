/// The byte strings `redact` looks for on behalf of one secret value: the
/// value as a log prints it, and the forms encoders give it on the way
/// (base64, JSON strings, URLs, XML and HTML), as GitHub Actions masks them.
///
/// - A value's final line breaks are not part of what is replaced: a value
///   read with `--value-file` usually ends in one, and the log's line must
///   keep it. CRLF and LF are both trimmed.
/// - A multi-line value is looked for whole (with LF and with CRLF line
///   ends), and each of its lines of `minimumLength` bytes or more on its own.
/// - Encoded forms are made for the value exactly as stored, for it without
///   its final line breaks, for each multi-line spelling and for each long
///   enough line. They are made only for what passes the minimum, and are
///   never shorter than it (the shortest, a base64 fragment of a 6-byte value,
///   is 7 characters).
enum SecretForms {
    /// The patterns for `value`, or nil when it is shorter than `minimumLength`
    /// once its final line breaks are set aside.
    static func patterns(for value: [UInt8], minimumLength: Int) -> [[UInt8]]? {
        let trimmed = trimmingFinalLineBreaks(value)
        guard trimmed.count >= minimumLength else { return nil }
        var raw: [[UInt8]] = [trimmed]
        var encode: [[UInt8]] = [value, trimmed]
        if trimmed.contains(0x0A) || trimmed.contains(0x0D) {
            let lf = lineEndings(trimmed, crlf: false)
            let crlf = lineEndings(trimmed, crlf: true)
            raw += [lf, crlf]
            encode += [lf, crlf]
            for line in lines(of: trimmed) where line.count >= minimumLength {
                raw.append(line)
                encode.append(line)
            }
        }
        var result: [[UInt8]] = []
        var seen: Set<[UInt8]> = []
        func add(_ form: [UInt8]) {
            // A line break at the end stays in the log, whichever form brought
            // it (XML escaping keeps a newline as it is).
            let pattern = trimmingFinalLineBreaks(form)
            if pattern.count >= minimumLength, seen.insert(pattern).inserted { result.append(pattern) }
        }
        raw.forEach(add)
        for text in encode {
            base64Forms(text).forEach(add)
            jsonForms(text).forEach(add)
            urlForms(text).forEach(add)
            xmlForms(text).forEach(add)
        }
        return result
    }

    static func trimmingFinalLineBreaks(_ bytes: [UInt8]) -> [UInt8] {
        var end = bytes.count
        while end > 0, bytes[end - 1] == 0x0A || bytes[end - 1] == 0x0D { end -= 1 }
        return Array(bytes[..<end])
    }

    /// Lines split at LF, CRLF or a lone CR, without their breaks.
    static func lines(of bytes: [UInt8]) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        var current: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == 0x0A || b == 0x0D {
                lines.append(current)
                current.removeAll()
                if b == 0x0D, i + 1 < bytes.count, bytes[i + 1] == 0x0A { i += 1 }
            } else {
                current.append(b)
            }
            i += 1
        }
        lines.append(current)
        return lines
    }

    /// The text with every line break spelt LF, or CRLF.
    static func lineEndings(_ bytes: [UInt8], crlf: Bool) -> [UInt8] {
        let lines = lines(of: bytes)
        var out: [UInt8] = []
        for (index, line) in lines.enumerated() {
            if index > 0 { out += crlf ? [0x0D, 0x0A] : [0x0A] }
            out += line
        }
        return out
    }

    // MARK: base64

    private static let standardAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let urlAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func base64(_ bytes: [UInt8], alphabet: [UInt8], padding: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            for shift in [18, 12, 6, 0] { out.append(alphabet[Int(n >> UInt32(shift) & 63)]) }
            i += 3
        }
        let rest = bytes.count - i
        if rest > 0 {
            let n = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            if rest == 2 { out.append(alphabet[Int(n >> 6 & 63)]) }
            if padding { out += Array(repeating: UInt8(ascii: "="), count: 3 - rest) }
        }
        return out
    }

    /// For each of the three places the value can start in a base64 group
    /// and each alphabet: the characters that only the value's bits make
    /// (what follows may still change the last partial character), and the
    /// run to its end as an encoder ends it, with and without padding.
    static func base64Forms(_ text: [UInt8]) -> [[UInt8]] {
        var forms: [[UInt8]] = []
        for alphabet in [standardAlphabet, urlAlphabet] {
            for shift in 0..<3 {
                let data = [UInt8](repeating: 0, count: shift) + text
                let padded = base64(data, alphabet: alphabet, padding: true)
                // Characters carrying a bit from before the value: none, 2, 3.
                let skip = [0, 2, 3][shift]
                let determined = data.count * 4 / 3
                forms.append(Array(padded[skip..<determined]))
                let unpadded = padded.count - (padded.reversed().prefix { $0 == UInt8(ascii: "=") }.count)
                forms.append(Array(padded[skip..<unpadded]))
                forms.append(Array(padded[skip...]))
            }
        }
        return forms
    }

    // MARK: JSON

    /// The value inside a JSON string as common encoders write it: minimal
    /// escaping, `\/` (PHP), non-ASCII as `\u` escapes in lower or upper case
    /// hex (Python's default), and `<` `>` `&` as `\u003c`… (Go's default).
    static func jsonForms(_ text: [UInt8]) -> [[UInt8]] {
        let scalars = Array(String(decoding: text, as: UTF8.self).unicodeScalars)
        var forms: [[UInt8]] = []
        for solidus in [false, true] {
            for ascii in [0, 1, 2] {  // keep, lower hex, upper hex
                for html in [false, true] {
                    forms.append(json(scalars, solidus: solidus, asciiHex: ascii, htmlSafe: html))
                }
            }
        }
        return forms
    }

    private static func json(_ scalars: [Unicode.Scalar], solidus: Bool, asciiHex: Int, htmlSafe: Bool) -> [UInt8] {
        let digits = Array((asciiHex == 2 ? "0123456789ABCDEF" : "0123456789abcdef").utf8)
        var out: [UInt8] = []
        func unit(_ u: UInt16) {
            out += Array("\\u".utf8)
            for shift in [12, 8, 4, 0] { out.append(digits[Int(u >> UInt16(shift) & 15)]) }
        }
        for scalar in scalars {
            let v = scalar.value
            switch v {
            case 0x22: out += Array("\\\"".utf8)
            case 0x5C: out += Array("\\\\".utf8)
            case 0x08: out += Array("\\b".utf8)
            case 0x0C: out += Array("\\f".utf8)
            case 0x0A: out += Array("\\n".utf8)
            case 0x0D: out += Array("\\r".utf8)
            case 0x09: out += Array("\\t".utf8)
            case 0..<0x20: unit(UInt16(v))
            case 0x2F where solidus: out += Array("\\/".utf8)
            case _ where htmlSafe && [0x3C, 0x3E, 0x26, 0x2028, 0x2029].contains(v): unit(UInt16(v))
            case 0x7F... where asciiHex != 0:
                for u in String(scalar).utf16 { unit(u) }
            default: out += Array(String(scalar).utf8)
            }
        }
        return out
    }

    // MARK: URL

    /// Percent-encoding as URL encoders write it: RFC 3986's unreserved
    /// characters kept (plus `!'()*` as JavaScript keeps them, or `/` as
    /// Python's `quote` does), upper or lower case hex, a space as `%20` or
    /// as `+` (HTML forms, `quote_plus`, Go's `QueryEscape`).
    static func urlForms(_ text: [UInt8]) -> [[UInt8]] {
        var forms: [[UInt8]] = []
        for extra in [[UInt8](), Array("!'()*".utf8), Array("/".utf8)] {
            for upper in [true, false] {
                for plus in [false, true] {
                    forms.append(percentEncoded(text, keeping: extra, upper: upper, spaceAsPlus: plus))
                }
            }
        }
        return forms
    }

    private static func percentEncoded(_ text: [UInt8], keeping extra: [UInt8], upper: Bool, spaceAsPlus: Bool) -> [UInt8] {
        let digits = Array((upper ? "0123456789ABCDEF" : "0123456789abcdef").utf8)
        var out: [UInt8] = []
        for b in text {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(b)
            case UInt8(ascii: " ") where spaceAsPlus:
                out.append(UInt8(ascii: "+"))
            case _ where extra.contains(b):
                out.append(b)
            default:
                out += [UInt8(ascii: "%"), digits[Int(b >> 4)], digits[Int(b & 15)]]
            }
        }
        return out
    }

    // MARK: XML and HTML

    /// `&` `<` `>` as entities, with `"` and `'` kept or written as the
    /// encoders in use write them (`&quot;` `&#34;`; `&apos;` `&#39;` `&#x27;`).
    static func xmlForms(_ text: [UInt8]) -> [[UInt8]] {
        var forms: [[UInt8]] = []
        for quote in ["\"", "&quot;", "&#34;"] {
            for apostrophe in ["'", "&apos;", "&#39;", "&#x27;"] {
                var out: [UInt8] = []
                for b in text {
                    switch b {
                    case UInt8(ascii: "&"): out += Array("&amp;".utf8)
                    case UInt8(ascii: "<"): out += Array("&lt;".utf8)
                    case UInt8(ascii: ">"): out += Array("&gt;".utf8)
                    case UInt8(ascii: "\""): out += Array(quote.utf8)
                    case UInt8(ascii: "'"): out += Array(apostrophe.utf8)
                    default: out.append(b)
                    }
                }
                forms.append(out)
            }
        }
        return forms
    }
}
