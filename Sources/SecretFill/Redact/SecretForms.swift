/// The byte strings `redact` looks for on behalf of one secret value: the
/// value as a log prints it, and the forms encoders give it on the way
/// (base64, JSON strings, URLs, XML and HTML), as GitHub Actions masks them.
///
/// - A value's final line breaks are not part of what is replaced: a value
///   read with `--value-file` usually ends in one, and the log's line must
///   keep it. CRLF and LF are both trimmed, from every form.
/// - A multi-line value is looked for whole (with LF and with CRLF line
///   ends, as a terminal may turn one into the other), and each of its lines
///   of `minimumLength` bytes or more on its own.
/// - Encoded forms are made for the whole value, exactly as stored and
///   without its final line breaks (a Kubernetes secret's base64 holds the
///   file's bytes, newline included). They are made only for values that
///   pass the minimum, and are never shorter than it (the shortest, a base64
///   fragment of a 6-byte value, is 7 characters).
enum SecretForms {
    /// The patterns for `value`, or nil when it is shorter than `minimumLength`
    /// once its final line breaks are set aside.
    static func patterns(for value: [UInt8], minimumLength: Int) -> [[UInt8]]? {
        let trimmed = trimmingFinalLineBreaks(value)
        guard trimmed.count >= minimumLength else { return nil }
        var result: [[UInt8]] = []
        var seen: Set<[UInt8]> = []
        func add(_ form: [UInt8]) {
            // A line break at the end stays in the log, whichever form brought
            // it (XML escaping keeps a newline as it is).
            let pattern = trimmingFinalLineBreaks(form)
            if pattern.count >= minimumLength, seen.insert(pattern).inserted { result.append(pattern) }
        }
        add(trimmed)
        if trimmed.contains(0x0A) || trimmed.contains(0x0D) {
            add(lineEndings(trimmed, crlf: false))
            add(lineEndings(trimmed, crlf: true))
            for line in lines(of: trimmed) { add(line) }
        }
        for text in value == trimmed ? [value] : [value, trimmed] {
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
        var out = [UInt8](repeating: UInt8(ascii: "="), count: (bytes.count + 2) / 3 * 4)
        var i = 0, o = 0
        while i + 3 <= bytes.count {
            let n = Int(bytes[i]) << 16 | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2])
            out[o] = alphabet[n >> 18 & 63]
            out[o + 1] = alphabet[n >> 12 & 63]
            out[o + 2] = alphabet[n >> 6 & 63]
            out[o + 3] = alphabet[n & 63]
            i += 3
            o += 4
        }
        let rest = bytes.count - i
        if rest > 0 {
            let n = Int(bytes[i]) << 16 | (rest == 2 ? Int(bytes[i + 1]) << 8 : 0)
            out[o] = alphabet[n >> 18 & 63]
            out[o + 1] = alphabet[n >> 12 & 63]
            if rest == 2 { out[o + 2] = alphabet[n >> 6 & 63] }
            if !padding { out.removeLast(3 - rest) }
        }
        return out
    }

    /// For each of the three places the value can start in a base64 group
    /// and each alphabet: the characters that only the value's bits make
    /// (what follows may still change the last partial character), and the
    /// run to its end as an encoder ends it, with and without padding.
    static func base64Forms(_ text: [UInt8]) -> [[UInt8]] {
        var forms: [[UInt8]] = []
        for shift in 0..<3 {
            let data = [UInt8](repeating: 0, count: shift) + text
            let padded = base64(data, alphabet: standardAlphabet, padding: true)
            // Characters carrying a bit from before the value: none, 2, 3.
            let skip = [0, 2, 3][shift]
            let determined = data.count * 4 / 3
            let unpadded = (data.count * 8 + 5) / 6
            var standard = [Array(padded[skip..<determined])]
            if unpadded > determined { standard.append(Array(padded[skip..<unpadded])) }
            if padded.count > unpadded { standard.append(Array(padded[skip...])) }
            forms += standard
            // URL-safe differs only where '+' or '/' occur.
            if standard.last!.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "/") }) {
                for form in standard {
                    forms.append(form.map { $0 == UInt8(ascii: "+") ? UInt8(ascii: "-") : $0 == UInt8(ascii: "/") ? UInt8(ascii: "_") : $0 })
                }
            }
        }
        return forms
    }

    // MARK: JSON

    /// The value inside a JSON string as common encoders write it: minimal
    /// escaping, `\/` (PHP), non-ASCII as `\u` escapes in lower or upper case
    /// hex (Python's default), and `<` `>` `&` as `\u003c`… (Go's default).
    static func jsonForms(_ text: [UInt8]) -> [[UInt8]] {
        // Only the options that change something for this text.
        let solidi = text.contains(UInt8(ascii: "/")) ? [false, true] : [false]
        let asciis = text.contains(where: { $0 >= 0x7F }) ? [0, 1, 2] : [0]
        let htmls = text.contains(where: { $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") || $0 == UInt8(ascii: "&") || $0 == 0xE2 })
            ? [false, true] : [false]
        var forms: [[UInt8]] = []
        for solidus in solidi {
            for ascii in asciis {
                for html in htmls {
                    forms.append(json(text, solidus: solidus, asciiHex: ascii, htmlSafe: html))
                }
            }
        }
        return forms
    }

    private static let lowerHex = Array("0123456789abcdef".utf8)
    private static let upperHex = Array("0123456789ABCDEF".utf8)

    private static func json(_ text: [UInt8], solidus: Bool, asciiHex: Int, htmlSafe: Bool) -> [UInt8] {
        let digits = asciiHex == 2 ? upperHex : lowerHex
        var out: [UInt8] = []
        out.reserveCapacity(text.count + text.count / 8)
        func unit(_ u: UInt32) {
            out += [UInt8(ascii: "\\"), UInt8(ascii: "u"), digits[Int(u >> 12 & 15)], digits[Int(u >> 8 & 15)],
                    digits[Int(u >> 4 & 15)], digits[Int(u & 15)]]
        }
        func short(_ c: Character) { out += [UInt8(ascii: "\\"), c.asciiValue!] }
        var i = 0
        while i < text.count {
            let b = text[i]
            if b < 0x80 {
                switch b {
                case 0x22: short("\"")
                case 0x5C: short("\\")
                case 0x08: short("b")
                case 0x0C: short("f")
                case 0x0A: short("n")
                case 0x0D: short("r")
                case 0x09: short("t")
                case 0..<0x20: unit(UInt32(b))
                case 0x2F where solidus: short("/")
                case 0x3C, 0x3E, 0x26: if htmlSafe { unit(UInt32(b)) } else { out.append(b) }
                case 0x7F where asciiHex != 0: unit(0x7F)
                default: out.append(b)
                }
                i += 1
                continue
            }
            // A multi-byte scalar (the text is valid UTF-8).
            let length = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2
            let end = min(i + length, text.count)
            var scalar = UInt32(b) & (length == 4 ? 0x07 : length == 3 ? 0x0F : 0x1F)
            for k in (i + 1)..<end { scalar = scalar << 6 | UInt32(text[k] & 0x3F) }
            if asciiHex != 0 {
                if scalar >= 0x10000 {
                    let v = scalar - 0x10000
                    unit(0xD800 + (v >> 10))
                    unit(0xDC00 + (v & 0x3FF))
                } else {
                    unit(scalar)
                }
            } else if htmlSafe && (scalar == 0x2028 || scalar == 0x2029) {
                unit(scalar)
            } else {
                out += text[i..<end]
            }
            i = end
        }
        return out
    }

    // MARK: URL

    /// Percent-encoding as URL encoders write it: RFC 3986's unreserved
    /// characters kept (plus `!'()*` as JavaScript keeps them, or `/` as
    /// Python's `quote` does), upper or lower case hex, a space as `%20` or
    /// as `+` (HTML forms, `quote_plus`, Go's `QueryEscape`).
    static func urlForms(_ text: [UInt8]) -> [[UInt8]] {
        let javascript = Array("!'()*".utf8)
        var extras: [[UInt8]] = [[]]
        if text.contains(where: javascript.contains) { extras.append(javascript) }
        if text.contains(UInt8(ascii: "/")) { extras.append([UInt8(ascii: "/")]) }
        let pluses = text.contains(UInt8(ascii: " ")) ? [false, true] : [false]
        var forms: [[UInt8]] = []
        for extra in extras {
            for upper in [true, false] {
                for plus in pluses {
                    forms.append(percentEncoded(text, keeping: extra, upper: upper, spaceAsPlus: plus))
                }
            }
        }
        return forms
    }

    private static func percentEncoded(_ text: [UInt8], keeping extra: [UInt8], upper: Bool, spaceAsPlus: Bool) -> [UInt8] {
        let digits = upper ? upperHex : lowerHex
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
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
        let quotes = text.contains(UInt8(ascii: "\"")) ? ["\"", "&quot;", "&#34;"] : ["\""]
        let apostrophes = text.contains(UInt8(ascii: "'")) ? ["'", "&apos;", "&#39;", "&#x27;"] : ["'"]
        var forms: [[UInt8]] = []
        for quote in quotes {
            for apostrophe in apostrophes {
                var out: [UInt8] = []
                out.reserveCapacity(text.count)
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
