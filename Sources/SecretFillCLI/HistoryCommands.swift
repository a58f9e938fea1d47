import ArgumentParser
import SecretFill
import SecretFillAPI

extension SecretsCommand {
    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "history",
            abstract: "List a secret's versions on a team server: number, time, key (never values).",
            discussion: "The server keeps the last 10 versions of each name. Needs a write grant. Exit 1 when the server has no such name in the scope; 64 without --server (the local store file keeps no history).")

        @OptionGroup var target: ScopeArgument
        @Option(help: ArgumentHelp("The secret's name.", valueName: "name"))
        var name: String
        @Option(help: ListFormat.help)
        var format: ListFormat?
        @OptionGroup var storeOptions: StoreOptions

        func run() throws {
            try reportingErrors {
                let scope = try target.scope()
                try SecretInputError.checkName(name)
                let history = try storeOptions.open().history(of: name, in: scope)
                switch ListFormat.resolved(format) {
                case .text:
                    for version in history.versions {
                        print("\(version.version)  \(version.time)  \(version.key)\(version.current ? "  (current)" : "")")
                    }
                case .table:
                    var table = TextTable("VERSION", "TIME", "KEY", "")
                    for version in history.versions {
                        table.add(String(version.version), version.time, version.key, version.current ? "(current)" : "")
                    }
                    print(table.rendered())
                case .json:
                    let versions = history.versions.map { version in
                        "{\"version\": \(version.version), \"time\": \(JSONText.quoted(version.time)), \"key\": \(JSONText.quoted(version.key)), \"current\": \(version.current)}"
                    }
                    print("{\"scope\": \(JSONText.quoted(scope.kind.rawValue)), \"id\": \(JSONText.optional(scope.id)), \"name\": \(JSONText.quoted(name)), \"deleted\": \(history.deleted), \"versions\": [\(versions.joined(separator: ", "))]}")
                    return
                }
                if history.deleted { print("(deleted; \(scope) secret '\(name)' has no current value)") }
            }
        }
    }

    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rollback",
            abstract: "Make an earlier version of a secret current again (as a new version).",
            discussion: "Needs a write grant. Exit 1 when the server has no such name or version (only the last 10 are kept); 64 without --server.")

        @OptionGroup var target: ScopeArgument
        @Option(help: ArgumentHelp("The secret's name.", valueName: "name"))
        var name: String
        @Option(help: ArgumentHelp("The version to restore (see `secrets history`).", valueName: "n"))
        var version: Int
        @OptionGroup var storeOptions: StoreOptions

        func run() throws {
            try reportingErrors {
                let scope = try target.scope()
                try SecretInputError.checkName(name)
                guard version >= 1 else { throw fail("--version must be 1 or more", Exit.usage) }
                let new = try storeOptions.open().rollback(name, in: scope, to: version)
                print("Rolled back \(scope) secret '\(name)' to version \(version) (now version \(new))")
            }
        }
    }
}
