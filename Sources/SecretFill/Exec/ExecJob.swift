/// `secretfill exec` short of starting the program: choose and resolve the
/// env block exactly as `env` does (through `EnvJob`), refuse whatever cannot
/// be an environment string, and build the child's environment.
public struct ExecJob {
    public var chain: ScopeChain
    public var select: String?
    public var pristine: Bool
    public var limits: ScanLimits
    public var openStore: StoreOpener

    public init(chain: ScopeChain, select: String?, pristine: Bool, limits: ScanLimits = ScanLimits(),
                openStore: @escaping StoreOpener) {
        self.chain = chain
        self.select = select
        self.pristine = pristine
        self.limits = limits
        self.openStore = openStore
    }

    /// The child's environment and name-only notes, or every problem.
    public struct Plan: Sendable {
        public var environment: ExecEnvironment
        public var notes: [Diagnostic]
    }

    public func plan(_ source: SpecSource, parent: [[UInt8]]) throws(StoreError) -> Result<Plan, SpecProblems> {
        // The format is not used by `resolve`; EnvJob needs one for `run`.
        let job = EnvJob(chain: chain, format: .json, select: select, limits: limits, openStore: openStore)
        let refusal = { (variable: EnvVariable) -> Diagnostic? in
            ExecEnvironment.refusal(for: variable).map { reason in
                Diagnostic(code: "env-exec-unpassable", file: source.label, location: variable.location,
                           message: "env '\(variable.name)' cannot be passed to a program: \(reason)", name: variable.name)
            }
        }
        switch try job.resolve(source, refusal: refusal) {
        case .failure(let problems): return .failure(problems)
        case .success(let block):
            return .success(Plan(environment: ExecEnvironment(parent: parent, block: block.variables, pristine: pristine),
                                 notes: block.notes))
        }
    }
}
