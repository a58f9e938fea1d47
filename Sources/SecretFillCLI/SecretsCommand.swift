import ArgumentParser
import SecretFill
import SecretFillAPI

struct SecretsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secrets",
        abstract: "Set, list, delete, import and look up secrets per scope (gradient's verbs).",
        discussion: """
            Scopes: team, project --id ID, cluster --id ID. When a name exists in several, \
            project beats cluster beats team.

            Examples:
              secretfill secrets set team --name=db_password --value-stdin < pw.txt
              secretfill secrets set project --id=pr-1 --name=api_key   # prompts
              secretfill secrets list team
              secretfill secrets which db_password --project pr-1
              secretfill secrets import team .env
            """,
        subcommands: [Set.self, List.self, Delete.self, Which.self, Import.self, History.self, Rollback.self]
    )
}

/// `SCOPE [--id ID]`, as gradient spells it.
struct ScopeArgument: ParsableArguments {
    @Argument(help: ArgumentHelp("team, project or cluster.", valueName: "scope"))
    var kind: Scope.Kind

    @Option(help: ArgumentHelp("The project or cluster id (not for team).", valueName: "id"))
    var id: String?

    func scope() throws(SecretInputError) -> Scope { try Scope(kind: kind, id: id) }
}

extension SecretsCommand {
    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Set a secret in a scope.",
            discussion: """
                Exactly one value source: --value V (lands in shell history), --value-stdin (all of \
                stdin less one final newline), --value-file F (the file's bytes exactly), or none \
                with a terminal on stdin to be prompted without echo. Values are 1 byte to 1 MiB of \
                UTF-8 without NUL.

                Examples:
                  secretfill secrets set team --name=db_password --value-stdin < pw.txt
                  secretfill secrets set cluster --id=c-1 --name=tls_key --value-file key.pem
                """)

        @OptionGroup var target: ScopeArgument
        @Option(help: ArgumentHelp("The secret's name: [A-Za-z_][A-Za-z0-9_.-]*, at most 128 characters.", valueName: "name"),
                completion: ShellCompletion.secretNames)
        var name: String
        @Option(help: ArgumentHelp("The value itself (visible in shell history and `ps`).", valueName: "value"))
        var value: String?
        @Flag(help: "Read the value from stdin, less one trailing newline.")
        var valueStdin = false
        @Option(help: ArgumentHelp("Read the value from this file, byte for byte.", valueName: "file"))
        var valueFile: String?
        @OptionGroup var storeOptions: StoreOptions
        @OptionGroup var lock: LockOptions

        func run() throws {
            try reportingErrors {
                let scope = try target.scope()
                let bytes: [UInt8]
                try SecretInputError.checkName(name)
                let sources = [value != nil, valueStdin, valueFile != nil].filter { $0 }.count
                guard sources <= 1 else { throw fail("give one value source: --value, --value-stdin or --value-file", Exit.usage) }
                if let value {
                    Terminal.warn("secretfill: note: --value leaves the secret in your shell history and the process list; --value-stdin or --value-file avoid that")
                    bytes = Array(value.utf8)
                } else if valueStdin {
                    bytes = Self.dropOneNewline(try FileIO.readAll("-"))
                } else if let valueFile {
                    bytes = try FileIO.readAll(valueFile)
                } else if Terminal.stdinIsTerminal {
                    bytes = try Terminal.readHidden(prompt: "Value for \(scope) secret '\(name)': ")
                } else {
                    throw fail("no value given: use --value-stdin, --value-file FILE or --value V", Exit.usage)
                }
                let secret = try SecretValue(validating: bytes)
                let replaced = try storeOptions.open(lockTimeout: lock.seconds).set([(name, secret)], in: scope, batched: false, label: name)
                print("\(replaced == 0 ? "Set" : "Updated") \(scope) secret '\(name)'")
            }
        }

        static func dropOneNewline(_ bytes: [UInt8]) -> [UInt8] {
            if bytes.suffix(2) == [0x0D, 0x0A] { return Array(bytes.dropLast(2)) }
            if bytes.last == 0x0A { return Array(bytes.dropLast()) }
            return bytes
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List the names in a scope (never values).",
            discussion: """
                Needs no key. A scope with no names prints nothing, and a note on stderr says \
                which other scopes of that kind have secrets (a mistyped id shows).

                Examples:
                  secretfill secrets list team
                  secretfill secrets list project --id pr-1 --format json
                """)

        @OptionGroup var target: ScopeArgument
        @Option(help: "text (one name per line) or json (name and last update).")
        var format: ListFormat = .text
        @OptionGroup var storeOptions: StoreOptions

        enum ListFormat: String, ExpressibleByArgument { case text, json }

        func run() throws {
            try reportingErrors {
                let scope = try target.scope()
                let store = try storeOptions.open().directory(of: [scope])
                let listing = try store.listing(of: scope)
                if listing.isEmpty { Terminal.warn("secretfill: note: " + (try ScopeHints.emptyScope(scope, in: store))) }
                switch format {
                case .text:
                    for entry in listing { print(entry.name) }
                case .json:
                    let items = listing.map { "  {\"name\": \(JSONText.quoted($0.name)), \"updated\": \(JSONText.quoted($0.updated))}" }
                    print(items.isEmpty ? "[]" : "[\n" + items.joined(separator: ",\n") + "\n]")
                }
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "delete",
            abstract: "Delete a secret from a scope.",
            discussion: """
                Example:
                  secretfill secrets delete project --id pr-1 --name db_password
                """)

        @OptionGroup var target: ScopeArgument
        @Option(help: ArgumentHelp("The secret's name.", valueName: "name"), completion: ShellCompletion.secretNames)
        var name: String
        @Flag(help: "On a team server: remove the history too (a delete is otherwise soft, its versions kept).")
        var purge = false
        @OptionGroup var storeOptions: StoreOptions
        @OptionGroup var lock: LockOptions

        func run() throws {
            try reportingErrors {
                let scope = try target.scope()
                try SecretInputError.checkName(name)
                let purged = try storeOptions.open(lockTimeout: lock.seconds).delete(name, in: scope, purge: purge)
                print("\(purged ? "Purged" : "Deleted") \(scope) secret '\(name)'")
            }
        }
    }

    struct Which: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "which",
            abstract: "Show which scope a name resolves from, and what it shadows.",
            discussion: """
                Exit 1 when the name resolves from no scope given; the message then says which \
                other scopes hold it, or else which name of the scopes given it may be a typo of. \
                Needs no key.

                Example:
                  secretfill secrets which db_password --project pr-1
                """)

        @Argument(help: ArgumentHelp("The secret's name.", valueName: "name"), completion: ShellCompletion.secretNames)
        var name: String
        @OptionGroup var scopes: ScopeOptions
        @OptionGroup var storeOptions: StoreOptions

        func run() throws {
            try reportingErrors {
                try SecretInputError.checkName(name)
                let chain = try scopes.chain()
                let store = try storeOptions.open().directory(of: chain.scopes)
                guard let found = try store.resolution(of: name, in: chain) else {
                    var chainNames: [String]?
                    let hint = try ScopeHints.hint(for: name, chain: chain, in: store, names: &chainNames)
                    Terminal.warn("secretfill: '\(name)' does not resolve (\(ScopeHints.lookedIn(chain, elsewhere: hint.elsewhere, suggestion: hint.suggestion)))")
                    throw Exit.problems
                }
                let shadows = found.shadows.isEmpty ? "" : " (shadows \(found.shadows.map(\.description).joined(separator: ", ")))"
                print("'\(name)' resolves from \(found.from)\(shadows)")
            }
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Import a dotenv file or a JSON object of name → value into a scope, all or nothing.",
            discussion: """
                The format follows the extension (.json is JSON, anything else dotenv) unless \
                --format says otherwise. Every bad entry is listed with its line and nothing is \
                imported unless every entry is good. dotenv is read as python-dotenv reads it, \
                except that ${NAME} only sees names earlier in the same file, never your environment. \
                A value must be at least one byte: `NAME=` is refused with its line, unless \
                --skip-empty leaves such lines out (each named in a note).

                Example:
                  secretfill secrets import project --id pr-1 .env
                """)

        @OptionGroup var target: ScopeArgument
        @Argument(help: ArgumentHelp("The file to import; `-` reads stdin.", valueName: "file"))
        var file: String
        @Option(help: "dotenv or json (default: from the file's extension).")
        var format: SecretImport.Format?
        @Flag(help: "Leave out entries whose value is empty (NAME=), with a note naming each line, instead of refusing the file.")
        var skipEmpty = false
        @Flag(help: "With --server: send an import of more than 250 secrets in batches of 250, each all or nothing (without it, such an import is refused before anything is sent).")
        var batch = false
        @OptionGroup var storeOptions: StoreOptions
        @OptionGroup var lock: LockOptions

        func run() throws {
            try reportingErrors {
                let scope = try target.scope()
                let bytes = try FileIO.readAll(file)
                let label = file == "-" ? "<stdin>" : file
                switch SecretImport.parse(bytes, format: format ?? SecretImport.format(forPath: file), skipEmpty: skipEmpty) {
                case .failure(let problems):
                    for problem in problems.problems { Terminal.warn("\(label):\(problem.line): error: \(problem.message)") }
                    Terminal.warn("secretfill: nothing imported (\(problems.problems.count) problem(s))")
                    throw Exit.problems
                case .success(let parsed):
                    for note in parsed.skippedEmpty { Terminal.warn("\(label):\(note.line): note: \(note.message)") }
                    let entries = parsed.entries
                    let replaced = try storeOptions.open(lockTimeout: lock.seconds).set(entries, in: scope, batched: batch, label: label)
                    let names = entries.prefix(20).map(\.name).joined(separator: ", ")
                    print("Imported \(entries.count) \(scope) secret(s) (\(entries.count - replaced) added, \(replaced) replaced): "
                          + "\(names)\(entries.count > 20 ? ", …" : "")")
                }
            }
        }
    }
}
