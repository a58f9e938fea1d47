import ArgumentParser
import SecretFill
import SecretFillAPI

/// `--store`, and the team server instead of it: shared by every command
/// that touches secrets. `open(lockTimeout:)` (StoreChoice.swift) chooses.
struct StoreOptions: ParsableArguments, ServerChoosing {
    @Option(name: .long, help: ArgumentHelp(
        "The store file. Default: $SECRETFILL_STORE, else ${XDG_CONFIG_HOME:-~/.config}/secretfill/store.json.",
        valueName: "path"))
    var store: String?

    // ServerOptions' options, declared again rather than nested as an
    // @OptionGroup: each nested group multiplies ArgumentParser's debug-build
    // validation of every command (measured: a debug `render` took 184 ms with
    // the group, 74 ms without). Their help and meaning are ServerChoosing's.
    @Option(help: StoreOptions.serverHelp("the store file"))
    var server: String?

    @Option(help: StoreOptions.tokenFileHelp)
    var tokenFile: String?

    @Option(help: StoreOptions.caFileHelp)
    var caFile: String?

    @Flag(help: StoreOptions.insecureHTTPHelp)
    var insecureHTTP = false

    @Option(help: StoreOptions.oidcTokenFileHelp)
    var oidcTokenFile: String?

    var configuration: StoreConfiguration {
        StoreConfiguration.forCommand(storeOption: store)
    }
}

/// `--project` and `--cluster`: the scopes a lookup may use besides team.
struct ScopeOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Project id whose secrets take precedence (default: $SECRETFILL_PROJECT).", valueName: "id"))
    var project: String?

    @Option(help: ArgumentHelp("Cluster id whose secrets come before team ones (default: $SECRETFILL_CLUSTER).", valueName: "id"))
    var cluster: String?

    func chain() throws(SecretInputError) -> ScopeChain {
        let environment = processEnvironment
        let project = self.project ?? environment["SECRETFILL_PROJECT"].flatMap { $0.isEmpty ? nil : $0 }
        let cluster = self.cluster ?? environment["SECRETFILL_CLUSTER"].flatMap { $0.isEmpty ? nil : $0 }
        if let project { try Scope.validateID(project) }
        if let cluster { try Scope.validateID(cluster) }
        return ScopeChain(project: project, cluster: cluster)
    }
}

/// What render and env share: the spec and `-o` as given, the scopes, and
/// the store (opened only if the spec has references).
struct SpecInputOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("The spec; `-` or nothing reads stdin.", valueName: "spec"))
    var spec: String?

    @OptionGroup var scopes: ScopeOptions
    @OptionGroup var storeOptions: StoreOptions

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Write here instead of stdout: a file is replaced atomically (mode 0600, links followed); a device, FIFO or socket is written in place.", valueName: "file"))
    var output: String?

    /// Checks `-o` first (so a bad path fails before any work), then reads the spec.
    func prepare() throws -> (chain: ScopeChain, source: SpecSource, openStore: StoreOpener) {
        let chain = try scopes.chain()
        if OutputWriter.isSameFile(output: output, input: spec) {
            throw fail("-o \(output ?? "") is the spec being read (\(spec ?? "<stdin>")): writing the values over it would lose the spec and put the secrets where the spec is kept; write to another file", Exit.usage)
        }
        try OutputWriter.checkWritable(output)
        let source = try SpecSource.read(spec)
        let backend = try storeOptions.open()
        return (chain, source, { names throws(StoreError) in try backend.resolving(names, in: chain) })
    }
}

/// `--lock-timeout`, on the verbs that change the store.
struct LockOptions: ParsableArguments {
    @Option(name: .customLong("lock-timeout"), help: ArgumentHelp(
        "Wait this long for another writer's lock on the store before failing.",
        valueName: "seconds"))
    var seconds: Double = FileLock.defaultTimeout

    func validate() throws {
        guard seconds >= 0, seconds.isFinite else { throw ValidationError("--lock-timeout must be 0 or more seconds") }
    }
}

/// The `git add would commit it` warning for `-o` (render and env).
func warnIfCommittable(_ output: String?) {
    if let warning = GitExposure.warning(forOutput: output) { Terminal.warn("secretfill: warning: \(warning)") }
}

extension Scope.Kind: ExpressibleByArgument {}
extension EnvFileFormat: ExpressibleByArgument {}
extension CheckOutputFormat: ExpressibleByArgument {}
extension SecretImport.Format: ExpressibleByArgument {}
