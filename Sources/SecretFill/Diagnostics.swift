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
    public var formatted: String {
        "\(file):\(location.line):\(location.column): \(severity.rawValue): \(message)"
    }
}
