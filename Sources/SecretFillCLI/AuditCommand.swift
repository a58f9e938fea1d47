import ArgumentParser
import SecretFill
import SecretFillAPI

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Show the newest entries of the team server's audit log, printed oldest first (admin).",
        discussion: """
            Each entry: time, key, action, scope, secret names, client address, outcome (ok or \
            denied). Never a value, never a token. A person signed in through single sign-on is \
            user:EMAIL in the key column. json adds actor (key:NAME, user:EMAIL for a person, or role:NAME for a \
            token an OIDC role issued), subject (the OIDC token's sub) and, for an OIDC exchange, \
            detail (the issuer and, when refused, the failed check). json is JSON Lines, one object per entry. \
            The newest --limit entries (default 100) are shown, oldest of them first; a note on \
            stderr says when older ones exist. An entry lists at most 100 names, then "+N more". \
            Requests refused before a key was accepted are one entry per client address and \
            second, with their count ("x12" in text, "count" in json).

            Examples:
              secretfill audit --since 24h
              secretfill audit --since 2026-12-01 --limit 1000
              secretfill audit --key ci-pr-1 --format json | jq .
              secretfill audit --user ana@acme.dev --since 7d
            """)

    @Option(help: ArgumentHelp("Only entries newer than this: a duration back from now (2w, 90d, 12h, 30m, 45s), a date (2026-12-01, from midnight UTC) or an RFC 3339 time (2026-12-01T09:30:00Z).", valueName: "when"))
    var since: String?
    @Option(help: ArgumentHelp("Only this key's entries (- for requests refused before a key was accepted).", valueName: "name"))
    var key: String?
    @Option(help: ArgumentHelp("Only this person's entries (signed in through single sign-on: their pages and sign-ins).", valueName: "email"))
    var user: String?
    @Option(help: ArgumentHelp("Only entries naming this secret.", valueName: "name"))
    var secret: String?
    @Option(help: ArgumentHelp("Only this OIDC role's entries: its exchanges and the requests made with the tokens it issued.", valueName: "name"))
    var role: String?
    @Option(help: ArgumentHelp("Show the newest N entries (1 to 100000), oldest of them first.", valueName: "n"))
    var limit: Int = 100
    @Option(help: ArgumentHelp("table (a header and aligned columns; the default on a terminal), text (one line per entry; the default otherwise) or json (JSON Lines).", valueName: "format"))
    var format: ListFormat?
    @Option(help: ArgumentHelp(KeysCommand.databaseHelp, valueName: "url"))
    var database: String?
    @OptionGroup var serverOptions: ServerOptions

    func run() throws {
        var seconds: Int?
        if let since {
            guard let parsed = SinceText.secondsBefore(UTCTime.nowSeconds(), since) else { throw fail(SinceText.ruleDescription + " in the past", Exit.usage) }
            seconds = parsed
        }
        if let key, key != "-", !KeyName.isValid(key) { throw fail(KeyName.ruleDescription, Exit.usage) }
        if let user {
            guard key == nil else { throw fail("--key and --user each choose whose entries to show: give one", Exit.usage) }
            // An email (as members are named), or the subject of a person who has no verified email.
            guard MemberName.person(user) != nil else { throw fail("--user takes a person's email (LOCAL@DOMAIN), as `members add` does", Exit.usage) }
        }
        if let secret { do { try SecretInputError.checkName(secret) } catch { throw fail(error) } }
        guard (1...100_000).contains(limit) else { throw fail("--limit must be 1 to 100000 entries", Exit.usage) }
        if let role, !KeyName.isValid(role) { throw fail(RoleDraft.nameRule, Exit.usage) }
        let (key, secret, since, limit, role, user) = (self.key, self.secret, seconds, self.limit, self.role, self.user)
        let (entries, more) = try withAdministration(serverOptions, database: database) { try await $0.audit(since: since, key: key, secret: secret, role: role, user: user, limit: limit) }
        let format = ListFormat.resolved(self.format)
        var table = TextTable("TIME", "KEY", "ACTION", "OUTCOME", "SCOPE", "NAMES", "CLIENT", "COUNT")
        for entry in entries.reversed() {
            let names = entry.names.isEmpty ? "-" : entry.names.joined(separator: ",")
            switch format {
            case .text:
                let count = entry.count.map { "  x\($0)" } ?? ""
                print("\(entry.time)  \(entry.key)  \(entry.action)  \(entry.outcome)  \(entry.scope)  \(names)  \(entry.client)\(count)")
            case .table:
                table.add(entry.time, entry.key, entry.action, entry.outcome, entry.scope, names, entry.client, entry.count.map { "x\($0)" } ?? "")
            case .json:
                var count = entry.count.map { ", \"count\": \($0)" } ?? ""
                if let actor = entry.actor { count += ", \"actor\": \(JSONText.quoted(actor))" }
                if let subject = entry.subject { count += ", \"subject\": \(JSONText.quoted(subject))" }
                if let detail = entry.detail { count += ", \"detail\": \(JSONText.quoted(detail))" }
                print("{\"time\": \(JSONText.quoted(entry.time)), \"key\": \(JSONText.quoted(entry.key)), \"action\": \(JSONText.quoted(entry.action)), "
                    + "\"scope\": \(JSONText.quoted(entry.scope)), \"names\": [\(entry.names.map(JSONText.quoted).joined(separator: ", "))], "
                    + "\"client\": \(JSONText.quoted(entry.client)), \"outcome\": \(JSONText.quoted(entry.outcome))\(count)}")
            }
        }
        if format == .table { print(entries.isEmpty ? "(no entries)" : table.rendered()) }
        if more {
            Terminal.warn("secretfill: showing the newest \(entries.count) entries; older ones exist (--limit N shows more)")
        }
    }
}
