/// A place in an input file, counted the way an editor shows it.
///
/// Lines and columns are 1-based and columns count Unicode characters, so the
/// numbers match what a person sees after non-ASCII text.
public struct SourceLocation: Sendable, Hashable, Comparable {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public static func < (a: SourceLocation, b: SourceLocation) -> Bool {
        (a.line, a.column) < (b.line, b.column)
    }
}

/// How serious a diagnostic is.
public enum Severity: String, Sendable, Codable {
    case error
    case warning
}

/// One problem found in a spec, with the file and position it concerns.
///
/// Messages name secrets and positions, never secret values: they are shown
/// in CI logs that many people can read.
public struct Diagnostic: Sendable, Hashable {
    /// Stable short code for machines (`unknown-secret`, `yaml-syntax`, …).
    public var code: String
    public var severity: Severity
    public var file: String
    public var location: SourceLocation
    public var message: String
    /// The secret or env name the diagnostic is about, when there is one.
    public var name: String?

    public init(code: String, severity: Severity = .error, file: String, location: SourceLocation,
                message: String, name: String? = nil) {
        self.code = code
        self.severity = severity
        self.file = file
        self.location = location
        self.message = message
        self.name = name
    }

    /// `FILE:LINE:COL: error: message`, the form compilers use and editors link.
    /// Control characters in the path or the message (an env name, a tag)
    /// are escaped, so a spec cannot drive the terminal or forge a line.
    public var formatted: String {
        "\(TerminalText.escaped(file)):\(location.line):\(location.column): \(severity.rawValue): \(TerminalText.escaped(message))"
    }
}

/// Text from outside (paths, env names, tags, ids) made safe to print on a
/// terminal or in a line-based log: every control character is escaped, as
/// the `json` check format escapes it, so a name holding ESC or BEL cannot
/// drive the terminal and one holding a line break cannot forge a line.
///
/// Used by every message and every text and github format; text without
/// control characters comes back unchanged, so escaping twice is harmless.
public enum TerminalText {
    /// C0 (U+0000–U+001F), DEL and C1 (U+0080–U+009F) as `\n`, `\r`, `\t`,
    /// `\x1b` (C0 and DEL) or `\u0085` (C1); everything else as it is.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar) else {
                out.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                let hex = String(scalar.value, radix: 16)
                out += scalar.value < 0x80
                    ? "\\x" + (hex.count == 1 ? "0" : "") + hex
                    : "\\u00" + hex
            }
        }
        return out
    }

    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (scalar.value >= 0x7F && scalar.value <= 0x9F)
    }
}
