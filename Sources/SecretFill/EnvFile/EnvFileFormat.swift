/// The container env file formats secretfill writes, each for a named reader
/// that must load every value back exactly.
public enum EnvFileFormat: String, Sendable, CaseIterable {
    /// `NAME="…"` for python-dotenv's `dotenv_values()` (and compatible readers).
    case dotenv
    /// `NAME=value` for `docker run --env-file`, which has no quoting at all.
    case docker
    /// `export NAME='…'` for `. FILE` in bash, dash and other POSIX shells.
    case shell
    /// One JSON object, name to value.
    case json
}

/// One variable to write: its name, its value, and where the spec set it.
/// Its value may be a resolved secret, so it never describes itself with it.
public struct EnvVariable: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var name: String
    public var value: String
    public var location: SourceLocation

    public init(name: String, value: String, location: SourceLocation) {
        self.name = name
        self.value = value
        self.location = location
    }

    public var description: String { "\(name)=<redacted>" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["name": name, "location": location]) }
}

/// Renders variables in one format, refusing (with a reason per name, never a
/// value) whatever that format's reader could not load back exactly.
public struct EnvFileWriter: Sendable {
    public var format: EnvFileFormat

    /// docker reads env files with a 64 KiB line buffer.
    public static let dockerLineLimit = 64 * 1024

    public init(format: EnvFileFormat) {
        self.format = format
    }

    /// The file's bytes, or the problems that prevent writing it (all of them).
    public func write(_ variables: [EnvVariable], file: String) -> Result<[UInt8], EnvFileProblems> {
        var problems: [Diagnostic] = []
        var out = ""
        if format == .json { out += "{" }
        for (index, variable) in variables.enumerated() {
            if let reason = refusal(for: variable) {
                problems.append(Diagnostic(code: "env-\(format.rawValue)-unwritable", file: file, location: variable.location,
                                           message: "env '\(variable.name)' cannot be written as \(format.rawValue): \(reason)",
                                           name: variable.name))
                continue
            }
            switch format {
            case .dotenv: out += variable.name + "=" + Self.dotenvValue(variable.value) + "\n"
            case .docker: out += variable.name + "=" + variable.value + "\n"
            case .shell: out += "export " + variable.name + "=" + Self.shellQuoted(variable.value) + "\n"
            case .json: out += (index == 0 ? "\n  " : ",\n  ") + JSONText.quoted(variable.name) + ": " + JSONText.quoted(variable.value)
            }
        }
        if format == .json { out += variables.isEmpty ? "}\n" : "\n}\n" }
        guard problems.isEmpty else { return .failure(EnvFileProblems(diagnostics: problems)) }
        return .success(Array(out.utf8))
    }

    /// Why this format cannot carry the variable, or nil when it can.
    func refusal(for variable: EnvVariable) -> String? {
        let name = variable.name
        switch format {
        case .shell:
            guard Self.isShellIdentifier(name) else {
                return "'\(name)' is not a shell variable name ([A-Za-z_][A-Za-z0-9_]*); use --format dotenv or json"
            }
        case .dotenv:
            guard !name.isEmpty, name.unicodeScalars.allSatisfy({ !Self.dotenvKeyForbidden($0) }) else {
                return "the name has whitespace, '=', '#', a quote, '$' or a backslash, which dotenv readers split on"
            }
        case .docker:
            guard !name.isEmpty, !name.hasPrefix("#"), name.unicodeScalars.allSatisfy({ $0 != "=" && !$0.properties.isWhitespace }) else {
                return "the name is empty, starts with '#' or has '=' or whitespace"
            }
            if variable.value.utf8.contains(where: { $0 == 0x0A || $0 == 0x0D }) {
                return "its value has a line break, and docker's --env-file has no quoting; use --format dotenv, shell or json"
            }
            if name.utf8.count + 1 + variable.value.utf8.count >= Self.dockerLineLimit {
                return "the line would be longer than docker's 64 KiB line limit"
            }
        case .json:
            break
        }
        return nil
    }

    // MARK: dotenv

    /// Single quotes when nothing inside needs care, so every dotenv reader
    /// takes the text literally; otherwise double quotes with escapes that
    /// python-dotenv decodes, `${:-$}` for a `$` before `{` (python-dotenv
    /// expands `${…}` in every quoting style and has no escape for it) and
    /// `${:-\}` for a final backslash (which would otherwise escape the
    /// closing quote).
    static func dotenvValue(_ value: String) -> String {
        let needsCare = value.unicodeScalars.contains { $0 == "'" || $0 == "\\" || $0 == "\n" || $0 == "\r" || $0 == "$" }
        if !needsCare { return "'" + value + "'" }
        var out = "\""
        let scalars = Array(value.unicodeScalars)
        for (i, scalar) in scalars.enumerated() {
            switch scalar {
            case "\\": out += i == scalars.count - 1 ? "${:-\\}" : "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "$" where i + 1 < scalars.count && scalars[i + 1] == "{": out += "${:-$}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func dotenvKeyForbidden(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || scalar.value < 0x20 || "=#'\"$\\".unicodeScalars.contains(scalar)
    }

    // MARK: shell

    static func isShellIdentifier(_ name: String) -> Bool {
        guard let first = name.utf8.first, SecretName.isLetter(first) || first == UInt8(ascii: "_") else { return false }
        return name.utf8.allSatisfy { SecretName.isLetter($0) || SecretName.isDigit($0) || $0 == UInt8(ascii: "_") }
    }

    /// POSIX single quotes: everything literal, a quote as `'\''`.
    static func shellQuoted(_ value: String) -> String {
        "'" + value.replacingAll("'", with: "'\\''") + "'"
    }

    // MARK: json
}

/// Every reason an env file could not be written.
public struct EnvFileProblems: Error, Sendable {
    public var diagnostics: [Diagnostic]
}

extension String {
    /// Replaces every occurrence of the scalar `target`, scalar by scalar, so a
    /// combining mark after it cannot hide it inside a grapheme cluster.
    func replacingAll(_ target: Unicode.Scalar, with replacement: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in unicodeScalars {
            if scalar == target { out.append(contentsOf: replacement.unicodeScalars) } else { out.append(scalar) }
        }
        return String(out)
    }
}
