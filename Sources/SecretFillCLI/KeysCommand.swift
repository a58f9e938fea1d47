import ArgumentParser
import SecretFill
import SecretFillAPI

struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Create, list and revoke the team server's API keys (admin; through --server, or straight to serve's database).",
        discussion: """
            Grants: admin, team:ACCESS, project:ID:ACCESS, cluster:ID:ACCESS (ID may be *), where \
            ACCESS is names (list, which, check), read (names and values: render, env, redact) or \
            write (set, delete, import, history, rollback; names, never values).

            Examples:
              secretfill keys create admin --grant admin --database postgres://sf@db/secretfill
              secretfill keys create ci-pr-1 --grant project:pr-1:read --grant team:read --expires 90d
              secretfill keys list --format json
              secretfill keys revoke ci-pr-1
            """,
        subcommands: [Create.self, List.self, Revoke.self])
}

extension KeysCommand {
    static let databaseHelp = "Straight to this database instead of a server. Without --server or SECRETFILL_SERVER: the database serve uses (SECRETFILL_DATABASE_URL, else server.db beside the default store)."

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Create a key; prints its token once, alone on stdout.",
            discussion: "The very first key: without --server (or SECRETFILL_SERVER) it is written straight to the database serve uses (--database URL, else SECRETFILL_DATABASE_URL, else sqlite: server.db beside the default store), no server and no key needed. keys list, keys revoke and audit go there too when no server is given.")

        @Argument(help: ArgumentHelp("The key's name: [A-Za-z_][A-Za-z0-9_.-]*.", valueName: "name"))
        var name: String
        @Option(name: .customLong("grant"), help: ArgumentHelp("A grant (repeatable).", valueName: "grant"))
        var grants: [String] = []
        @Option(help: ArgumentHelp("Lifetime: 2w, 90d, 12h, 30m or 45s (default: no expiry).", valueName: "duration"))
        var expires: String?
        @Option(help: ArgumentHelp(KeysCommand.databaseHelp, valueName: "url"))
        var database: String?
        @OptionGroup var serverOptions: ServerOptions

        func run() throws {
            guard KeyName.isValid(name) else { throw fail(KeyName.ruleDescription, Exit.usage) }
            guard !grants.isEmpty else { throw fail("give at least one --grant; \(Grant.ruleDescription)", Exit.usage) }
            do { _ = try GrantSet(parsing: grants) } catch { throw fail(error.description, Exit.usage) }
            var seconds: Int?
            if let expires {
                guard let parsed = DurationText.seconds(expires) else { throw fail(DurationText.ruleDescription, Exit.usage) }
                seconds = parsed
            }
            let (name, grants, expiresIn) = (self.name, self.grants, seconds)
            let token = try withAdministration(serverOptions, database: database) { try await $0.createKey(name: name, grants: grants, expiresIn: expiresIn) }
            Terminal.warn("secretfill: created key '\(name)'; its token is printed once and will not be shown again")
            print(token)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List keys: name, grants, created, last used, expiry (never a token).",
                                                         discussion: "Last used is recorded at most once a minute per key, so it may lag by up to 60 s.")

        @Option(help: ListFormat.help)
        var format: ListFormat?
        @Option(help: ArgumentHelp(KeysCommand.databaseHelp, valueName: "url"))
        var database: String?
        @OptionGroup var serverOptions: ServerOptions

        func run() throws {
            let keys = try withAdministration(serverOptions, database: database) { try await $0.listKeys() }
            switch ListFormat.resolved(format) {
            case .text:
                for key in keys {
                    var line = "\(key.name)  \(key.grants.joined(separator: ","))  created \(key.created)  last used \(key.lastUsed ?? "never")  expires \(key.expires ?? "never")"
                    if let revoked = key.revoked { line += "  revoked \(revoked)" }
                    print(line)
                }
            case .table:
                var table = TextTable("NAME", "GRANTS", "CREATED", "LAST USED", "EXPIRES", "REVOKED")
                for key in keys {
                    table.add(key.name, key.grants.joined(separator: ","), key.created, key.lastUsed ?? "never", key.expires ?? "never", key.revoked ?? "-")
                }
                print(keys.isEmpty ? "(no keys)" : table.rendered())
            case .json:
                let items = keys.map { key in
                    "  {\"name\": \(JSONText.quoted(key.name)), \"grants\": [\(key.grants.map(JSONText.quoted).joined(separator: ", "))], "
                        + "\"created\": \(JSONText.quoted(key.created)), \"last_used\": \(JSONText.optional(key.lastUsed)), "
                        + "\"expires\": \(JSONText.optional(key.expires)), \"revoked\": \(JSONText.optional(key.revoked))}"
                }
                print(items.isEmpty ? "[]" : "[\n" + items.joined(separator: ",\n") + "\n]")
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a key: it is refused from then on.")

        @Argument(help: ArgumentHelp("The key's name.", valueName: "name"))
        var name: String
        @Option(help: ArgumentHelp(KeysCommand.databaseHelp, valueName: "url"))
        var database: String?
        @OptionGroup var serverOptions: ServerOptions

        func run() throws {
            guard KeyName.isValid(name) else { throw fail(KeyName.ruleDescription, Exit.usage) }
            let name = self.name
            try withAdministration(serverOptions, database: database) { try await $0.revokeKey(name: name) }
            print("Revoked key '\(name)'")
        }
    }
}
