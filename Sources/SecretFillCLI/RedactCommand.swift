import ArgumentParser
import SecretFill

struct RedactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redact",
        abstract: "Copy stdin to stdout, replacing every stored secret value with [secret:NAME].",
        discussion: """
            Every value stored in the scopes given (team, plus --project and --cluster; shadowed \
            values too) is replaced wherever it appears, so logs are safe to share. Output is \
            written as soon as no value could still match across it, so a followed stream shows up \
            promptly; memory stays bounded whatever the log's length. A value's final line break \
            stays in the log. A multi-line value is redacted whole and line by line. Encoded forms \
            are redacted too, as GitHub Actions masks them: base64 (any alignment, standard or \
            URL-safe), JSON string escaping, URL encoding, XML/HTML escaping. Overlapping values \
            are redacted as their union. Values shorter than 6 characters are skipped (they would \
            redact ordinary words) and named in a warning.

            Examples:
              kubectl logs -f deploy/api | secretfill redact --project pr-1
              ./deploy.sh 2>&1 | secretfill redact > deploy.log
            """)

    @OptionGroup var scopes: ScopeOptions
    @OptionGroup var storeOptions: StoreOptions

    func run() throws {
        ignoreBrokenPipeSignal()
        try reportingErrors {
            let chain = try scopes.chain()
            var redactor = try RedactJob(store: storeOptions.open().values(in: chain), chain: chain).redactor()
            if !redactor.skipped.isEmpty {
                Terminal.warn("secretfill: warning: not redacting \(redactor.skipped.map { "'\($0)'" }.joined(separator: ", ")): values shorter than \(StreamRedactor.minimumLength) characters would redact ordinary words")
            }
            try RedactJob.stream(&redactor, from: 0, to: 1)
        }
    }
}
