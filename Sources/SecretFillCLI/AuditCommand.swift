import ArgumentParser
import SecretFill
import SecretFillAPI

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Show the newest entries of the team server's audit log, printed oldest first (admin).",
        discussion: """
            Each entry: time, key, action, scope, secret names, client address, outcome (ok or \
            denied). Never a value, never a token. json is JSON Lines, one object per entry. \
            The newest --limit entries (default 100) are shown, oldest of them first; a note on \
            stderr says when older ones exist. An entry lists at most 100 names, then "+N more". \
            Requests refused before a key was accepted are one entry per client address and \
            second, with their count ("x12" in text, "count" in json).

            Examples:
              secretfill audit --since 24h
              secretfill audit --key ci-pr-1 --format json | jq .
            """)

    @Option(help: ArgumentHelp("Only entries newer than this: 90d, 12h, 30m, 45s.", valueName: "duration"))
    var since: String?
    @Option(help: ArgumentHelp("Only this key's entries (- for requests refused before a key was accepted).", valueName: "name"))
    var key: String?
    @Option(help: ArgumentHelp("Only entries naming this secret.", valueName: "name"))
    var secret: String?
    @Option(help: ArgumentHelp("Show the newest N entries (1 to 100000), oldest of them first.", valueName: "n"))
    var limit: Int = 100
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
        if let key, key != "-", !KeyName.isValid(key) { throw fail(KeyName.ruleDescription, Exit.usage) }
        if let secret { do { try SecretInputError.checkName(secret) } catch { throw fail(error) } }
        guard (1...100_000).contains(limit) else { throw fail("--limit must be 1 to 100000 entries", Exit.usage) }
        let endpoint = try requireServer(serverOptions, for: "audit")
        let (key, secret, since, limit) = (self.key, self.secret, seconds, self.limit)
        let (entries, more) = try withClient(endpoint) { try await $0.audit(since: since, key: key, secret: secret, limit: limit) }
        for entry in entries.reversed() {
            switch format {
            case .text:
                let count = entry.count.map { "  x\($0)" } ?? ""
                print("\(entry.time)  \(entry.key)  \(entry.action)  \(entry.outcome)  \(entry.scope)  \(entry.names.isEmpty ? "-" : entry.names.joined(separator: ","))  \(entry.client)\(count)")
            case .json:
                let count = entry.count.map { ", \"count\": \($0)" } ?? ""
                print("{\"time\": \(JSONText.quoted(entry.time)), \"key\": \(JSONText.quoted(entry.key)), \"action\": \(JSONText.quoted(entry.action)), "
                    + "\"scope\": \(JSONText.quoted(entry.scope)), \"names\": [\(entry.names.map(JSONText.quoted).joined(separator: ", "))], "
                    + "\"client\": \(JSONText.quoted(entry.client)), \"outcome\": \(JSONText.quoted(entry.outcome))\(count)}")
            }
        }
        if more {
            Terminal.warn("secretfill: showing the newest \(entries.count) entries; older ones exist (--limit N shows more)")
        }
    }
}
