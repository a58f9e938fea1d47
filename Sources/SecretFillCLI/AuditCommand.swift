import ArgumentParser
import SecretFill
import SecretFillAPI

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Show the team server's audit log, oldest first (admin).",
        discussion: """
            Each entry: time, key, action, scope, secret names, client address, outcome (ok or \
            denied). Never a value, never a token. json is JSON Lines, one object per entry.

            Examples:
              secretfill audit --since 24h
              secretfill audit --key ci-pr-1 --format json | jq .
            """)

    @Option(help: ArgumentHelp("Only entries newer than this: 90d, 12h, 30m, 45s.", valueName: "duration"))
    var since: String?
    @Option(help: ArgumentHelp("Only this key's entries.", valueName: "name"))
    var key: String?
    @Option(help: ArgumentHelp("Only entries naming this secret.", valueName: "name"))
    var secret: String?
    @Option(help: "text or json (JSON Lines).")
    var format: Format = .text
    @OptionGroup var serverOptions: ServerOptions

    enum Format: String, ExpressibleByArgument { case text, json }

    func run() throws {
        var seconds: Int?
        if let since {
            guard let parsed = DurationText.seconds(since) else { throw fail(DurationText.ruleDescription, Exit.usage) }
            seconds = parsed
        }
        if let key, !KeyName.isValid(key) { throw fail(KeyName.ruleDescription, Exit.usage) }
        if let secret { do { try SecretInputError.checkName(secret) } catch { throw fail(error) } }
        let endpoint = try requireServer(serverOptions, for: "audit")
        let (key, secret, since) = (self.key, self.secret, seconds)
        let entries = try withClient(endpoint) { try await $0.audit(since: since, key: key, secret: secret) }
        for entry in entries {
            switch format {
            case .text:
                print("\(entry.time)  \(entry.key)  \(entry.action)  \(entry.outcome)  \(entry.scope)  \(entry.names.isEmpty ? "-" : entry.names.joined(separator: ","))  \(entry.client)")
            case .json:
                print("{\"time\": \(JSONText.quoted(entry.time)), \"key\": \(JSONText.quoted(entry.key)), \"action\": \(JSONText.quoted(entry.action)), "
                    + "\"scope\": \(JSONText.quoted(entry.scope)), \"names\": [\(entry.names.map(JSONText.quoted).joined(separator: ", "))], "
                    + "\"client\": \(JSONText.quoted(entry.client)), \"outcome\": \(JSONText.quoted(entry.outcome))}")
            }
        }
    }
}
