import ArgumentParser
import SecretFill
import SecretFillAPI

/// `--store`, shared by every command that touches the store.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The store file. Default: $SECRETFILL_STORE, else ${XDG_CONFIG_HOME:-~/.config}/secretfill/store.json.",
        valueName: "path"))
    var store: String?

    // `--server`, `--token-file`, `--ca-file`: a team server instead of the file.
    // Declared here rather than as a nested ServerOptions group: each nested
    // group multiplies ArgumentParser's debug-build validation of every command
    // (measured: a debug `render` took 184 ms with the group, 74 ms without).
    @Option(help: ArgumentHelp("A team server (`secretfill serve`) instead of the store file (default: $SECRETFILL_SERVER).", valueName: "url"))
    var server: String?

    @Option(help: ArgumentHelp("Read the API key from this file (mode 0600); default: $SECRETFILL_TOKEN, else the file $SECRETFILL_TOKEN_FILE.", valueName: "path"))
    var tokenFile: String?

    @Option(help: ArgumentHelp("Also trust this CA (PEM) for the server's certificate (default: $SECRETFILL_CA_FILE).", valueName: "path"))
    var caFile: String?

    @Flag(help: ArgumentHelp("Allow an http:// --server that is not loopback (the API key then crosses the network in clear; a warning says so)."))
    var insecureHTTP = false

    /// The team server to use instead of the store file, if one is given.
    func endpoint() throws -> ServerEndpoint? { try serverEndpoint(server: server, tokenFile: tokenFile, caFile: caFile, insecureHTTP: insecureHTTP) }

    /// Whether a server is asked for (checked later, by `endpoint()`).
    var asksForServer: Bool { ServerEndpoint.requestedURL(server: server, environment: processEnvironment) != nil }

    var configuration: StoreConfiguration {
        StoreConfiguration.resolve(storeOption: store, environment: processEnvironment)
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
    func prepare() throws -> (chain: ScopeChain, source: SpecSource, openStore: () throws(StoreError) -> any SecretStore) {
        let chain = try scopes.chain()
        if OutputWriter.isSameFile(output: output, input: spec) {
            throw fail("-o \(output ?? "") is the spec being read (\(spec ?? "<stdin>")): writing the values over it would lose the spec and put the secrets where the spec is kept; write to another file", Exit.usage)
        }
        try OutputWriter.checkWritable(output)
        let source = try SpecSource.read(spec)
        if let endpoint = try storeOptions.endpoint() {
            // One /v1/resolve for every name the spec references; the job then runs as it does locally.
            let snapshot = try RemoteStores.forSpecs([source], chain: chain, endpoint: endpoint)
            return (chain, source, { () throws(StoreError) -> any SecretStore in snapshot })
        }
        let configuration = storeOptions.configuration
        return (chain, source, { () throws(StoreError) -> any SecretStore in try configuration.openStore(needsKey: true) })
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

    func applied(to configuration: StoreConfiguration) -> StoreConfiguration {
        var configuration = configuration
        configuration.lockTimeout = seconds
        return configuration
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
