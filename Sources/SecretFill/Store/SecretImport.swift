/// Reads a dotenv file or a JSON object of name → value for
/// `secrets import`, all or nothing: every bad entry is reported with its
/// line, and nothing is returned unless every entry is good.
///
/// dotenv follows python-dotenv's reading (quotes, escapes, comments,
/// `export`, `${NAME:-default}`), except that `${…}` only sees entries
/// earlier in the same file, never this process's environment, so an import
/// cannot pick up whatever happens to be set in the shell.
public enum SecretImport {
    public enum Format: String, Sendable, CaseIterable {
        case dotenv, json
    }

    /// One rejected entry: its line and why (never its value).
    public struct Problem: Sendable, Hashable {
        public var line: Int
        public var message: String
    }

    public struct Problems: Error, Sendable {
        public var problems: [Problem]
    }

    /// Picks the format from the extension: `.json` is JSON, anything else dotenv.
    public static func format(forPath path: String) -> Format {
        path.lowercased().hasSuffix(".json") ? .json : .dotenv
    }

    public static func parse(_ bytes: [UInt8], format: Format) -> Result<[(name: String, value: SecretValue)], Problems> {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return .failure(Problems(problems: [Problem(line: 1, message: "the file is not valid UTF-8")]))
        }
        let raw: [(line: Int, name: String, value: String?)]
        var problems: [Problem] = []
        switch format {
        case .dotenv:
            var reader = DotenvReader(text)
            (raw, problems) = reader.entries()
        case .json:
            (raw, problems) = jsonEntries(bytes)
        }
        var result: [(name: String, value: SecretValue)] = []
        var firstLine: [String: Int] = [:]
        for entry in raw {
            do {
                try SecretInputError.checkName(entry.name)
                guard let value = entry.value else {
                    problems.append(Problem(line: entry.line, message: "the entry has no value (expected NAME=VALUE)"))
                    continue
                }
                result.append((entry.name, try SecretValue(validating: value)))
            } catch {
                let subject = SecretName.isValid(entry.name) ? "'\(entry.name)': " : ""
                // A refused name is not quoted here: in a file it may be a line of a value.
                let message: String
                if case .invalidName = error { message = SecretName.ruleDescription } else { message = error.description }
                problems.append(Problem(line: entry.line, message: subject + message))
                continue
            }
            if let first = firstLine[entry.name] {
                problems.append(Problem(line: entry.line, message: "'\(entry.name)' is set twice (first on line \(first))"))
            } else {
                firstLine[entry.name] = entry.line
            }
        }
        guard problems.isEmpty else { return .failure(Problems(problems: problems.sorted { $0.line < $1.line })) }
        return .success(result)
    }

    /// Entries of a JSON object in file order, with the line of each key,
    /// duplicates kept (so they can be reported), in one pass.
    private static func jsonEntries(_ bytes: [UInt8]) -> ([(line: Int, name: String, value: String?)], [Problem]) {
        var reader = JSONBytes(bytes: bytes, path: "the file")
        var entries: [(line: Int, name: String, value: String?)] = []
        var problems: [Problem] = []
        var counted = (offset: 0, line: 1)
        func line(at offset: Int) -> Int {
            for b in bytes[counted.offset..<max(counted.offset, min(offset, bytes.count))] where b == 0x0A { counted.line += 1 }
            counted.offset = max(counted.offset, offset)
            return counted.line
        }
        reader.skipSpace()
        guard reader.peek == UInt8(ascii: "{") else {
            return ([], [Problem(line: line(at: reader.position), message: "expected a JSON object of name → value")])
        }
        do {
            try reader.members(at: "the file") { keyRange, reader throws(StoreError) in
                let keyLine = line(at: keyRange.lowerBound)
                let name = try reader.decodeString(keyRange)
                if reader.peek == UInt8(ascii: "\"") {
                    entries.append((keyLine, name, try reader.string()))
                } else {
                    _ = try reader.skipValue(depth: 1)
                    problems.append(Problem(line: keyLine, message: "the value of '\(SecretName.isValid(name) ? name : "?")' is not a JSON string"))
                }
            }
            reader.skipSpace()
            guard reader.atEnd else { throw StoreError.corrupt(path: "", detail: "") }
        } catch {
            return (entries, [Problem(line: line(at: reader.position), message: "the file is not valid JSON")])
        }
        return (entries, problems)
    }
}

/// A dotenv reader with python-dotenv's rules.
struct DotenvReader {
    private let s: [Unicode.Scalar]
    private var i = 0
    private var line = 1

    init(_ text: String) {
        s = Array(text.unicodeScalars)
    }

    mutating func entries() -> ([(line: Int, name: String, value: String?)], [SecretImport.Problem]) {
        var entries: [(line: Int, name: String, value: String?)] = []
        var problems: [SecretImport.Problem] = []
        var defined: [String: String] = [:]
        while true {
            while i < s.count && s[i].properties.isWhitespace { advance() }
            guard i < s.count else { break }
            let start = line
            if s[i] == "#" {
                skipRestOfLine()
                continue
            }
            guard var binding = parseBinding() else {
                problems.append(.init(line: start, message: "this line is not NAME=VALUE dotenv syntax"))
                skipRestOfLine()
                continue
            }
            if let value = binding.value {
                binding.value = Self.interpolate(value, defined: defined)
                defined[binding.name] = binding.value
            }
            entries.append((start, binding.name, binding.value))
        }
        return (entries, problems)
    }

    private mutating func parseBinding() -> (name: String, value: String?)? {
        // Optional `export ` prefix.
        if matches("export"), i + 6 < s.count, isInlineSpace(s[i + 6]) {
            i += 6
            while i < s.count && isInlineSpace(s[i]) { i += 1 }
        }
        var name = ""
        if i < s.count && s[i] == "'" {
            i += 1
            while i < s.count && s[i] != "'" { name.unicodeScalars.append(s[i]); advance() }
            guard i < s.count, !name.isEmpty else { return nil }
            i += 1
        } else {
            while i < s.count && s[i] != "=" && s[i] != "#" && !s[i].properties.isWhitespace {
                name.unicodeScalars.append(s[i]); i += 1
            }
            guard !name.isEmpty else { return nil }
        }
        while i < s.count && isInlineSpace(s[i]) { i += 1 }
        var value: String?
        if i < s.count && s[i] == "=" {
            i += 1
            while i < s.count && isInlineSpace(s[i]) { i += 1 }
            guard let parsed = parseValue() else { return nil }
            value = parsed
        }
        // Trailing comment and end of line.
        while i < s.count && isInlineSpace(s[i]) { i += 1 }
        if i < s.count && s[i] == "#" { while i < s.count && !isBreak(s[i]) { i += 1 } }
        guard i >= s.count || isBreak(s[i]) else { return nil }
        return (name, value)
    }

    private mutating func parseValue() -> String? {
        guard i < s.count, !isBreak(s[i]) else { return "" }
        if s[i] == "'" || s[i] == "\"" {
            let quote = s[i]
            guard let body = quoted(quote) else { return nil }
            return quote == "'" ? Self.decode(body, escapes: "\\'") : Self.decode(body, escapes: "\\'\"abfnrtv")
        }
        var part = ""
        while i < s.count && !isBreak(s[i]) { part.unicodeScalars.append(s[i]); i += 1 }
        // python-dotenv drops ` #…` and trailing whitespace from unquoted values.
        let scalars = Array(part.unicodeScalars)
        var end = scalars.count
        for j in 1..<max(1, scalars.count) where scalars[j] == "#" && scalars[j - 1].properties.isWhitespace {
            end = j
            break
        }
        while end > 0 && scalars[end - 1].properties.isWhitespace { end -= 1 }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars[..<end])
        return String(out)
    }

    /// The regex `Q((?:\\Q|[^Q])*)Q` with its backtracking: close at the
    /// first bare quote; with none, at the quote of the last `\Q`.
    private mutating func quoted(_ quote: Unicode.Scalar) -> [Unicode.Scalar]? {
        let open = i
        var j = open + 1
        var lastEscapedQuote: Int?
        while j < s.count {
            if s[j] == "\\" && j + 1 < s.count && s[j + 1] == quote {
                lastEscapedQuote = j + 1
                j += 2
            } else if s[j] == quote {
                break
            } else {
                j += 1
            }
        }
        let close: Int
        if j < s.count { close = j } else if let last = lastEscapedQuote { close = last } else { return nil }
        let body = Array(s[(open + 1)..<close])
        for scalar in s[open...close] where scalar == "\n" { line += 1 }
        i = close + 1
        return body
    }

    /// Decodes `\x` for each x in `escapes`, left to right, as python-dotenv does.
    private static func decode(_ body: [Unicode.Scalar], escapes: String) -> String {
        var out = String.UnicodeScalarView()
        var k = 0
        while k < body.count {
            if body[k] == "\\", k + 1 < body.count, escapes.unicodeScalars.contains(body[k + 1]) {
                switch body[k + 1] {
                case "a": out.append("\u{07}")
                case "b": out.append("\u{08}")
                case "f": out.append("\u{0C}")
                case "n": out.append("\n")
                case "r": out.append("\r")
                case "t": out.append("\t")
                case "v": out.append("\u{0B}")
                default: out.append(body[k + 1])
                }
                k += 2
            } else {
                out.append(body[k])
                k += 1
            }
        }
        return String(out)
    }

    /// `${NAME}` and `${NAME:-default}` against earlier entries only.
    static func interpolate(_ value: String, defined: [String: String]) -> String {
        let v = Array(value.unicodeScalars)
        var out = String.UnicodeScalarView()
        var k = 0
        outer: while k < v.count {
            if v[k] == "$", k + 1 < v.count, v[k + 1] == "{" {
                var j = k + 2
                var name = ""
                while j < v.count && v[j] != "}" && v[j] != ":" { name.unicodeScalars.append(v[j]); j += 1 }
                var fallback: String?
                if j + 1 < v.count && v[j] == ":" && v[j + 1] == "-" {
                    j += 2
                    var d = ""
                    while j < v.count && v[j] != "}" { d.unicodeScalars.append(v[j]); j += 1 }
                    fallback = d
                }
                if j < v.count && v[j] == "}" {
                    out.append(contentsOf: (defined[name] ?? fallback ?? "").unicodeScalars)
                    k = j + 1
                    continue outer
                }
            }
            out.append(v[k])
            k += 1
        }
        return String(out)
    }

    private func matches(_ word: String) -> Bool {
        let w = Array(word.unicodeScalars)
        guard i + w.count <= s.count else { return false }
        return Array(s[i..<(i + w.count)]) == w
    }

    private mutating func advance() {
        if s[i] == "\n" { line += 1 }
        i += 1
    }

    private mutating func skipRestOfLine() {
        while i < s.count && s[i] != "\n" { i += 1 }
    }

    private func isInlineSpace(_ c: Unicode.Scalar) -> Bool { c.properties.isWhitespace && !isBreak(c) }
    private func isBreak(_ c: Unicode.Scalar) -> Bool { c == "\n" || c == "\r" }
}
