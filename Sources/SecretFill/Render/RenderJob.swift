/// The whole of `secretfill render` short of argument parsing: scan, resolve,
/// and splice, or every problem when anything is unresolved.
public struct RenderJob {
    /// Opens the store on first need, so a spec without references renders
    /// without any store or key.
    public var openStore: StoreOpener
    public var chain: ScopeChain
    public var limits: ScanLimits

    public init(chain: ScopeChain, limits: ScanLimits = ScanLimits(), openStore: @escaping StoreOpener) {
        self.chain = chain
        self.limits = limits
        self.openStore = openStore
    }

    /// The rendered spec, or the diagnostics that stop it (fail closed).
    public func run(_ source: SpecSource) throws(StoreError) -> Result<RenderedSpec, SpecProblems> {
        let scan = SpecScanner(limits: limits, detail: .references).scan(source.bytes, file: source.label)
        var diagnostics = scan.diagnostics
        var values: [SecretValue?] = []
        if !scan.references.isEmpty {
            let resolved = try ReferenceResolver(store: openStore(ReferenceResolver.names(of: scan.references, in: scan.secretNames)), chain: chain)
                .resolve(scan.references, names: scan.secretNames, file: source.label)
            values = resolved.values
            diagnostics += resolved.diagnostics
        }
        // Warnings (`SECRET:x` in another case) do not stop a render; they
        // are listed with the errors when something else does.
        guard diagnostics.allSatisfy({ $0.severity == .warning }) else {
            return .failure(SpecProblems(diagnostics: diagnostics.sorted(by: SpecProblems.order)))
        }
        var rendered = RenderedSpec(input: source.bytes, references: scan.references, values: values)
        rendered.warnings = diagnostics.sorted(by: SpecProblems.order)
        return .success(rendered)
    }
}

/// Everything wrong with a spec, in file order.
public struct SpecProblems: Error, Sendable {
    public var diagnostics: [Diagnostic]

    public init(diagnostics: [Diagnostic]) {
        self.diagnostics = diagnostics
    }

    static func order(_ a: Diagnostic, _ b: Diagnostic) -> Bool {
        (a.file, a.location.line, a.location.column) < (b.file, b.location.line, b.location.column)
    }
}
