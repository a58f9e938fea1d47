import ArgumentParser
import SecretFill

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate specs' secret references against the store, for CI.",
        discussion: """
            Reports every unknown, malformed or alias-reached reference, every duplicate env name \
            in a block and every YAML error, in every file, as FILE:LINE:COL on stdout. An \
            unknown name that exists in scopes not given is shown with where it is; one that exists \
            nowhere else but is a typo away from a name of the scopes given gets "did you mean". A reference \
            written in another case (SECRET:x) is a warning. Only the scopes given resolve names. \
            check reads names only: it needs the store file but no key, and decrypts nothing. A \
            spec that cannot be read is reported on stderr and the others are still checked.

            Exit: 0 clean (warnings alone too), 1 errors found, 2 a spec or the store could not \
            be read (after checking the rest), 64 usage.

            Examples:
              secretfill check deploy/*.yaml --project pr-1
              secretfill check spec.yaml --format github   # GitHub annotations
              secretfill check spec.yaml --explain         # where each resolves from
            """)

    @Argument(help: ArgumentHelp("Specs to check; `-` reads stdin.", valueName: "spec"))
    var specs: [String] = []

    @OptionGroup var scopes: ScopeOptions
    @OptionGroup var storeOptions: StoreOptions

    @Option(help: "Output format: text, json or github.")
    var format: CheckOutputFormat = .text

    @Flag(help: "Also list every reference with the scope it resolves from and the scopes it shadows.")
    var explain = false

    func validate() throws {
        guard !specs.isEmpty else { throw ValidationError("give at least one spec to check (`-` for stdin)") }
    }

    func run() throws {
        ignoreBrokenPipeSignal()
        try reportingErrors {
            let chain = try scopes.chain()
            // A file that cannot be read is reported at once and the rest
            // are still checked; the exit is 2 at the end.
            var sources: [SpecSource] = []
            var unreadable = 0
            for spec in specs {
                do throws(IOError) {
                    sources.append(try SpecSource.read(spec))
                } catch {
                    unreadable += 1
                    Terminal.warn("secretfill: error: \(error.description)")
                }
            }
            // The names of the chain's scopes (a names grant is enough on a server), on first need.
            let backend = try storeOptions.open()
            let job = CheckJob(chain: chain, explains: explain) { () throws(StoreError) -> any SecretDirectory in
                try backend.directory(of: chain.scopes)
            }
            let result = try job.check(sources)
            try OutputWriter.emit(Array(format.render(result, explain: explain).utf8), to: nil)
            if unreadable > 0 {
                Terminal.warn("secretfill: error: \(unreadable) of \(specs.count) spec(s) could not be read; the others were checked")
                throw Exit.failure
            }
            // Warnings alone (a reference in another case) leave the exit at 0.
            if result.findings.contains(where: { $0.severity == .error }) { throw Exit.problems }
        }
    }
}
