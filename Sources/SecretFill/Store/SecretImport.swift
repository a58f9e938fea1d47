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

    /// What an import would set, and the lines left out (empty values under `--skip-empty`).
    public struct Parsed: Sendable {
        public var entries: [(name: String, value: SecretValue)]
        public var skippedEmpty: [Problem]
    }

    public static func parse(_ bytes: [UInt8], format: Format) -> Result<[(name: String, value: SecretValue)], Problems> {
        parse(bytes, format: format, skipEmpty: false).map(\.entries)
    }

    /// Every entry, or every problem. A value must be at least one byte, so
    /// `NAME=` is refused naming its line, unless `skipEmpty` leaves it out
    /// (listed in `skippedEmpty`, for a note).
    public static func parse(_ bytes: [UInt8], format: Format, skipEmpty: Bool) -> Result<Parsed, Problems> {
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
        var skipped: [Problem] = []
        var firstLine: [String: Int] = [:]
        for entry in raw {
            guard let value = entry.value else {
                // A line without `=` is not quoted back: it may be a line of a value pasted loose.
                problems.append(Problem(line: entry.line, message: "the line has no '=' (expected NAME=VALUE)"))
                continue
            }
            do {
                try SecretInputError.checkName(entry.name)
                if value.isEmpty && skipEmpty {
                    skipped.append(Problem(line: entry.line, message: "'\(entry.name)' has an empty value; left out (--skip-empty)"))
                    continue
                }
                result.append((entry.name, try SecretValue(validating: value)))
            } catch {
                let subject = SecretName.isValid(entry.name) ? "'\(entry.name)': " : ""
                // A refused name is not quoted here: in a file it may be a line of a value.
                let message: String
                if case .invalidName = error { message = SecretName.ruleDescription } else { message = error.description }
                let hint = error == .emptyValue ? " (or pass --skip-empty to leave empty values out)" : ""
                problems.append(Problem(line: entry.line, message: subject + message + hint))
                continue
            }
            if let first = firstLine[entry.name] {
                problems.append(Problem(line: entry.line, message: "'\(entry.name)' is set twice (first on line \(first))"))
            } else {
                firstLine[entry.name] = entry.line
            }
        }
        guard problems.isEmpty else { return .failure(Problems(problems: problems.sorted { $0.line < $1.line })) }
        return .success(Parsed(entries: result, skippedEmpty: skipped))
    }

    /// Entries of a JSON object in file order, with the line of each key,
    /// duplicates kept (so they can be reported), in one pass.
    private static func jsonEntries(_ bytes: [UInt8]) -> ([(line: Int, name: String, value: String?)], [Problem]) {
        var reader = JSONBytes(bytes: bytes, path: "the file", plainDetails: true)
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
            // The reader's details are fixed phrases (never the file's text).
            if let error = error as? StoreError, case .corrupt(_, let detail) = error, !detail.isEmpty {
                return (entries, [Problem(line: line(at: reader.position), message: "the file is not valid JSON: \(detail)")])
            }
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
    /// Set when a quoted value never closes: the rest of the file is its body.
    private var unclosedQuote = false
    /// Expansion limits: each value at most SecretValue.maximumBytes as it
    /// grows, all values together at most `totalLimit`, so nested `${…}`
    /// (`L1=${L0}${L0}…`) stop early with the line instead of growing memory.
    static let totalLimit = 64 << 20

    init(_ text: String) {
        s = Array(text.unicodeScalars)
    }

    mutating func entries() -> ([(line: Int, name: String, value: String?)], [SecretImport.Problem]) {
        var entries: [(line: Int, name: String, value: String?)] = []
        var problems: [SecretImport.Problem] = []
        var defined: [String: String] = [:]
        var failed: Set<String> = []
        var total = 0
        reading: while true {
            while i < s.count && s[i].properties.isWhitespace { advance() }
            guard i < s.count else { break }
            let start = line
            if s[i] == "#" {
                skipRestOfLine()
                continue
            }
            guard var binding = parseBinding() else {
                if unclosedQuote {
                    // Reported once, at the quote's line; what follows is its value, never read as entries.
                    problems.append(.init(line: start, message: "a quoted value opened on this line is never closed; nothing after it was read"))
                    break
                }
                problems.append(.init(line: start, message: "this line is not NAME=VALUE dotenv syntax"))
                skipRestOfLine()
                continue
            }
            let subject = SecretName.isValid(binding.name) ? "'\(binding.name)' " : "the value "
            if let value = binding.value {
                switch Self.interpolate(value, defined: defined, failed: failed, limit: SecretValue.maximumBytes) {
                case .value(let expanded):
                    total += expanded.utf8.count
                    guard total <= Self.totalLimit else {
                        problems.append(.init(line: start, message: "the file's values expand to more than \(Self.totalLimit >> 20) MiB in all; nothing after this line was read"))
                        break reading
                    }
                    binding.value = expanded
                    defined[binding.name] = expanded
                    failed.remove(binding.name)
                case .tooLarge:
                    problems.append(.init(line: start, message: subject + "is more than 1 MiB with its ${…} references expanded (stopped there); \(SecretValue.ruleDescription)"))
                    failed.insert(binding.name)
                    defined[binding.name] = nil
                    continue
                case .usesFailed(let name):
                    problems.append(.init(line: start, message: subject + "uses ${\(name)}, which could not be expanded"))
                    failed.insert(binding.name)
                    defined[binding.name] = nil
                    continue
                }
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
        if j < s.count { close = j } else if let last = lastEscapedQuote { close = last } else {
            unclosedQuote = true
            return nil
        }
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

    enum Expansion {
        case value(String)
        /// The result would pass `limit` bytes of UTF-8.
        case tooLarge
        /// It refers to an earlier entry whose own expansion failed.
        case usesFailed(String)
    }

    /// `${NAME}` and `${NAME:-default}` against earlier entries only, stopped
    /// as soon as the result passes `limit` bytes.
    static func interpolate(_ value: String, defined: [String: String], failed: Set<String> = [],
                            limit: Int = SecretValue.maximumBytes) -> Expansion {
        let v = Array(value.unicodeScalars)
        var out = String.UnicodeScalarView()
        var size = 0
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
                    if failed.contains(name) { return .usesFailed(SecretName.isValid(name) ? name : "…") }
                    let part = defined[name] ?? fallback ?? ""
                    size += part.utf8.count
                    guard size <= limit else { return .tooLarge }
                    out.append(contentsOf: part.unicodeScalars)
                    k = j + 1
                    continue outer
                }
            }
            size += v[k].utf8.count
            guard size <= limit else { return .tooLarge }
            out.append(v[k])
            k += 1
        }
        return .value(String(out))
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
