/// The whole of `secretfill env` short of argument parsing: pick the env
/// block, resolve its references, and write it in the chosen format.
public struct EnvJob {
    public var openStore: StoreOpener
    public var chain: ScopeChain
    public var format: EnvFileFormat
    public var select: String?
    public var limits: ScanLimits

    public init(chain: ScopeChain, format: EnvFileFormat, select: String?, limits: ScanLimits = ScanLimits(),
                openStore: @escaping StoreOpener) {
        self.chain = chain
        self.format = format
        self.select = select
        self.limits = limits
        self.openStore = openStore
    }

    /// What went right (bytes and notes for stderr) or every problem.
    public struct Output: Sendable {
        public var bytes: [UInt8]
        /// Name-only notes for stderr: entries skipped, duplicates overridden.
        public var notes: [Diagnostic]
    }

    public func run(_ source: SpecSource) throws(StoreError) -> Result<Output, SpecProblems> {
        let writer = EnvFileWriter(format: format)
        let refusal = { (variable: EnvVariable) -> Diagnostic? in
            writer.refusal(for: variable).map { reason in
                Diagnostic(code: "env-\(writer.format.rawValue)-unwritable", file: source.label, location: variable.location,
                           message: "env '\(variable.name)' cannot be written as \(writer.format.rawValue): \(reason)",
                           name: variable.name)
            }
        }
        switch try resolve(source, refusal: refusal) {
        case .failure(let problems): return .failure(problems)
        case .success(let block):
            switch writer.write(block.variables, file: source.label) {
            case .success(let bytes): return .success(Output(bytes: bytes, notes: block.notes))
            case .failure(let refused): return .failure(SpecProblems(diagnostics: refused.diagnostics))
            }
        }
    }

    /// The chosen block's variables in order, resolved, with name-only notes.
    public struct ResolvedBlock: Sendable {
        public var variables: [EnvVariable]
        public var notes: [Diagnostic]
    }

    /// Picks and resolves the block as `env` does, for any consumer (a file
    /// format, `exec`'s child environment). `refusal` is the problem that
    /// keeps a variable from being carried (nil when it can be); it is asked about every variable
    /// that has a value, even when other entries failed, so every problem
    /// is listed at once.
    public func resolve(_ source: SpecSource,
                        refusal: (EnvVariable) -> Diagnostic?) throws(StoreError) -> Result<ResolvedBlock, SpecProblems> {
        let file = source.label
        let scan = SpecScanner(limits: limits, detail: .full, focus: select).scan(source.bytes, file: file)
        var notes = scan.diagnostics.filter { $0.code == "duplicate-env-name" || $0.severity == .warning }.map { d -> Diagnostic in
            var warning = d
            warning.severity = .warning
            return warning
        }
        var problems = scan.diagnostics.filter { $0.code != "duplicate-env-name" && $0.severity != .warning }
        // With problems in the scan, the block's references are still
        // resolved, so unknown names are listed with them at once (as render
        // lists them); a block that cannot be chosen stops here.
        let scanFailed = !problems.isEmpty

        let candidate: EnvBlockSelector.Candidate
        switch EnvBlockSelector().select(select, in: scan) {
        case .success(let c): candidate = c
        case .failure(let failure):
            // After invalid YAML the blocks may be incomplete: its errors come first.
            return .failure(SpecProblems(diagnostics: scanFailed ? problems : [selectionProblem(failure, file: file)]))
        }

        // Overlay the blocks in order: a later entry replaces an earlier one in place.
        var order: [String] = []
        var chosen: [String: EnvEntry] = [:]
        var references: [SecretReference] = []
        for blockIndex in candidate.blocks {
            let block = scan.envBlocks[blockIndex]
            if block.usesAlias {
                problems.append(Diagnostic(code: "env-alias", file: file, location: block.location,
                                           message: "this env block takes entries through an alias or a merge key ('<<'), which secretfill does not expand; write the entries out"))
            }
            for entry in block.entries {
                guard let name = entry.name else {
                    problems.append(Diagnostic(code: "env-unnamed", file: file, location: entry.location,
                                               message: "env entry has no 'name'"))
                    continue
                }
                if chosen[name] == nil { order.append(name) }
                chosen[name] = entry
            }
        }
        for name in order {
            let entry = chosen[name]!
            switch entry.value {
            case .reference(let index): references.append(scan.references[index])
            case .nonScalar:
                // A refused reference (malformed, tagged) is scanned as a
                // non-scalar value, and the scan has said why already.
                guard !scanFailed else { break }
                problems.append(Diagnostic(code: "env-non-scalar", file: file, location: entry.location,
                                           message: "env '\(name)' has a mapping or list as its value; an env value must be a string", name: name))
            case .absent:
                notes.append(Diagnostic(code: "env-skipped", severity: .warning, file: file, location: entry.location,
                                        message: "env '\(name)' has no 'value' (valueFrom?); it is left out", name: name))
            case .text: break
            }
        }
        var values: [SecretValue?] = []
        if !references.isEmpty {
            let resolved = try ReferenceResolver(store: openStore(ReferenceResolver.names(of: references, in: scan.secretNames)), chain: chain)
                .resolve(references, names: scan.secretNames, file: file)
            values = resolved.values
            problems += resolved.diagnostics
        }

        var variables: [EnvVariable] = []
        for name in order {
            let entry = chosen[name]!
            let variable: EnvVariable
            switch entry.value {
            case .text(let text): variable = EnvVariable(name: name, value: text, location: entry.location)
            case .reference(let index):
                guard let value = values[scan.references[index].nameIndex] else { continue }
                variable = EnvVariable(name: name, value: value.revealed, location: entry.location)
            case .absent, .nonScalar: continue
            }
            if let refused = refusal(variable) { problems.append(refused) }
            variables.append(variable)
        }
        guard problems.isEmpty else { return .failure(SpecProblems(diagnostics: problems.sorted(by: SpecProblems.order))) }
        return .success(ResolvedBlock(variables: variables, notes: notes.sorted(by: SpecProblems.order)))
    }

    private func selectionProblem(_ failure: EnvBlockSelector.Failure, file: String) -> Diagnostic {
        func describe(_ candidates: [EnvBlockSelector.Candidate]) -> String {
            candidates.map { c in
                let label = c.label.isEmpty ? "(unnamed)" : "'\(c.label)'"
                return "\(label) at \(c.location.line):\(c.location.column)"
            }.joined(separator: ", ")
        }
        let start = SourceLocation(line: 1, column: 1)
        switch failure {
        case .noEnvBlock:
            return Diagnostic(code: "env-none", file: file, location: start, message: "the spec has no env block")
        case .ambiguous(let candidates):
            return Diagnostic(code: "env-ambiguous", file: file, location: start,
                              message: "the spec has \(candidates.count) env blocks; choose one with --select NAME: \(describe(candidates))")
        case .noMatch(let name, let candidates):
            return Diagnostic(code: "env-no-match", file: file, location: start,
                              message: "no env block is named '\(name)'; candidates: \(describe(candidates))")
        }
    }
}
