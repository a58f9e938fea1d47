/// The whole of `secretfill check` short of argument parsing: every finding
/// in every file, using secret names only (never a key, never a value).
public struct CheckJob {
    /// Opens the name directory on first need.
    public var openDirectory: () throws(StoreError) -> any SecretDirectory
    public var chain: ScopeChain
    public var limits: ScanLimits
    /// Collect an explanation per reference (`--explain`).
    public var explains: Bool

    public init(chain: ScopeChain, limits: ScanLimits = ScanLimits(), explains: Bool = false,
                openDirectory: @escaping () throws(StoreError) -> any SecretDirectory) {
        self.chain = chain
        self.limits = limits
        self.explains = explains
        self.openDirectory = openDirectory
    }

    /// One reference and where it resolves, for `--explain`.
    public struct Explanation: Sendable {
        public var file: String
        public var reference: SecretReference
        public var resolvedFrom: Scope?
        public var shadows: [Scope]
    }

    public struct Report: Sendable {
        public var findings: [Diagnostic] = []
        public var explanations: [Explanation] = []
        public var filesChecked = 0
        public var referencesChecked = 0
    }

    public func check(_ sources: [SpecSource]) throws(StoreError) -> Report {
        var report = Report()
        var directory: (any SecretDirectory)?
        // The chain's names, read once on the first unknown name (for suggestions).
        var chainNames: [String]?
        for source in sources {
            let scan = SpecScanner(limits: limits, detail: .names).scan(source.bytes, file: source.label)
            report.filesChecked += 1
            report.findings += scan.diagnostics
            guard !scan.references.isEmpty else { continue }
            if directory == nil { directory = try openDirectory() }
            // Looked up once per name, by the scan's name index.
            var cache = [(from: Scope, shadows: [Scope])??](repeating: nil, count: scan.secretNames.count)
            var hints = [(elsewhere: [Scope], suggestion: String?)?](repeating: nil, count: scan.secretNames.count)
            for reference in scan.references {
                report.referencesChecked += 1
                let resolution: (from: Scope, shadows: [Scope])?
                if let cached = cache[reference.nameIndex] {
                    resolution = cached
                } else {
                    resolution = try directory!.resolution(of: reference.name, in: chain)
                    cache[reference.nameIndex] = .some(resolution)
                }
                if resolution == nil {
                    if hints[reference.nameIndex] == nil {
                        hints[reference.nameIndex] = try ScopeHints.hint(for: reference.name, chain: chain, in: directory!, names: &chainNames)
                    }
                    let hint = hints[reference.nameIndex]!
                    report.findings.append(ReferenceResolver.unknown(reference, chain: chain, file: source.label,
                                                                     elsewhere: hint.elsewhere, suggestion: hint.suggestion))
                }
                guard explains else { continue }
                report.explanations.append(Explanation(file: source.label, reference: reference,
                                                       resolvedFrom: resolution?.from, shadows: resolution?.shadows ?? []))
            }
        }
        report.findings.sort(by: SpecProblems.order)
        return report
    }
}

/// Prints check's findings for a person, for a program, or for GitHub Actions.
public enum CheckOutputFormat: String, Sendable, CaseIterable {
    case text, json, github

    public func render(_ report: CheckJob.Report, explain: Bool) -> String {
        switch self {
        case .text:
            var lines = report.findings.map(\.formatted)
            if explain {
                lines += report.explanations.map { e in
                    "\(TerminalText.escaped(e.file)):\(e.reference.location.line):\(e.reference.location.column): note: \(TerminalText.escaped(Self.explain(e)))"
                }
            }
            let warnings = report.findings.count { $0.severity == .warning }
            let count = report.findings.count - warnings
            let warned = warnings == 0 ? "" : ", \(warnings) warning(s)"
            lines.append(count == 0
                ? "checked \(report.filesChecked) file(s), \(report.referencesChecked) reference(s): no problems\(warned)"
                : "checked \(report.filesChecked) file(s), \(report.referencesChecked) reference(s): \(count) problem(s)\(warned)")
            return lines.joined(separator: "\n") + "\n"
        case .github:
            var lines = report.findings.map { d in
                "::\(d.severity.rawValue) file=\(Self.githubProperty(d.file)),line=\(d.location.line),col=\(d.location.column),title=secretfill \(d.code)::\(Self.githubData(d.message))"
            }
            if explain {
                lines += report.explanations.map { e in
                    "::notice file=\(Self.githubProperty(e.file)),line=\(e.reference.location.line),col=\(e.reference.location.column)::\(Self.githubData(Self.explain(e)))"
                }
            }
            return lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
        case .json:
            var out = "{\n  \"findings\": ["
            out += report.findings.map { d in
                "\n    {\"file\": \(JSONText.quoted(d.file)), \"line\": \(d.location.line), \"column\": \(d.location.column), "
                    + "\"severity\": \"\(d.severity.rawValue)\", \"code\": \"\(d.code)\", \"name\": "
                    + (d.name.map(JSONText.quoted) ?? "null") + ", \"message\": \(JSONText.quoted(d.message))}"
            }.joined(separator: ",")
            out += report.findings.isEmpty ? "]" : "\n  ]"
            if explain {
                out += ",\n  \"references\": ["
                out += report.explanations.map { e in
                    "\n    {\"file\": \(JSONText.quoted(e.file)), \"line\": \(e.reference.location.line), \"column\": \(e.reference.location.column), "
                        + "\"name\": \(JSONText.quoted(e.reference.name)), \"env\": " + (e.reference.envName.map(JSONText.quoted) ?? "null")
                        + ", \"resolvesFrom\": " + (e.resolvedFrom.map { JSONText.quoted($0.description) } ?? "null")
                        + ", \"shadows\": [" + e.shadows.map { JSONText.quoted($0.description) }.joined(separator: ", ") + "]}"
                }.joined(separator: ",")
                out += report.explanations.isEmpty ? "]" : "\n  ]"
            }
            out += ",\n  \"filesChecked\": \(report.filesChecked),\n  \"referencesChecked\": \(report.referencesChecked)\n}\n"
            return out
        }
    }

    static func explain(_ e: CheckJob.Explanation) -> String {
        let env = e.reference.envName.map { "env '\($0)' ← " } ?? ""
        guard let from = e.resolvedFrom else { return "\(env)secret '\(e.reference.name)' resolves nowhere" }
        let shadows = e.shadows.isEmpty ? "" : " (shadows \(e.shadows.map(\.description).joined(separator: ", ")))"
        return "\(env)secret '\(e.reference.name)' resolves from \(from)\(shadows)"
    }

    /// GitHub workflow commands: control characters escaped as in text
    /// output (`TerminalText`), then `%` (and CR and LF, should any remain)
    /// as GitHub decodes them in data; also `:` and `,` in properties.
    static func githubData(_ text: String) -> String {
        var out = ""
        for scalar in TerminalText.escaped(text).unicodeScalars {
            switch scalar {
            case "%": out += "%25"
            case "\r": out += "%0D"
            case "\n": out += "%0A"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func githubProperty(_ text: String) -> String {
        githubData(text).replacingAll(":", with: "%3A").replacingAll(",", with: "%2C")
    }
}
