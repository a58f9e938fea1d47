import ArgumentParser
import SecretFill

struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Accept a deliberate hand edit of the store file, or upgrade a store from before its mac.",
        discussion: """
            The store file carries a "mac" over its format version, key fingerprint and every \
            scope, id, name, sealed value and update time. Any command that has the key refuses \
            a store whose mac does not match (exit 2). These commands show what they would seal \
            (scopes and names, whether each value opens, and the names that differ from the \
            version committed in git) and ask before writing.

            Examples:
              secretfill store accept --store deploy/secrets.json
              secretfill store upgrade --yes
            """,
        subcommands: [Accept.self, Upgrade.self])

    struct Accept: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "accept",
            abstract: "Re-seal the mac after a deliberate edit of the store file, once reviewed.",
            discussion: """
                Refused when any sealed value does not open with the key, or when the file \
                changes during the review. Asks for confirmation on a terminal; otherwise pass --yes.

                Examples:
                  secretfill store accept                  # review, then type y
                  secretfill store accept --store deploy/secrets.json --yes
                """)

        @Flag(help: "Accept without asking (required when stdin is not a terminal).")
        var yes = false
        @OptionGroup var storeOptions: StoreOptions

        func run() throws {
            try reportingErrors { try reviewAndSeal(storeOptions, yes: yes, upgrading: false) }
        }
    }

    struct Upgrade: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "upgrade",
            abstract: "Upgrade a version 1 store (written before the mac) to version 2, once reviewed.",
            discussion: """
                Adds a "mac" over the store's content, keyed from the store key, after showing \
                what it covers. From then on secretfill refuses the store if it is changed \
                outside secretfill. Asks for confirmation on a terminal; otherwise pass --yes.

                Examples:
                  secretfill store upgrade
                  secretfill store upgrade --store deploy/secrets.json --yes
                """)

        @Flag(help: "Upgrade without asking (required when stdin is not a terminal).")
        var yes = false
        @OptionGroup var storeOptions: StoreOptions

        func run() throws {
            try reportingErrors { try reviewAndSeal(storeOptions, yes: yes, upgrading: true) }
        }
    }
}

/// Shows what would be sealed, refuses values that do not open, asks, and re-seals.
private func reviewAndSeal(_ options: StoreOptions, yes: Bool, upgrading: Bool) throws {
    let configuration = options.configuration
    let path = configuration.storePath
    let store = try configuration.openStore(needsKey: true)
    let review = try store.review()
    switch (review.state, upgrading) {
    case (.legacy, false):
        throw fail("the store at \(path) is a version 1 store (no mac); upgrade it with `secretfill store upgrade --store \(path)`")
    case (.valid, false):
        print("The store at \(path) matches its mac; nothing to accept.")
        return
    case (.legacy, true):
        print("Upgrading the store at \(path) from version 1 to version 2: this adds a \"mac\" over its format version, "
              + "key fingerprint and every scope, id, name, sealed value and update time, keyed from key \(review.document.keyFingerprint), "
              + "so that secretfill refuses the store if it is changed outside secretfill.")
    case (_, true):
        print("The store at \(path) is already version 2; nothing to upgrade.")
        if review.state != .valid {
            print("Its mac does not match its content: review it with `secretfill store accept --store \(path)`.")
        }
        return
    case (.mismatch, false):
        print("The store at \(path) does not match its mac (it was changed outside secretfill). Accepting re-seals its mac over this content:")
    case (.missing, false):
        print("The store at \(path) has no mac. Accepting seals a mac over this content:")
    }
    var currentScope: Scope?
    for entry in review.entries {
        if entry.scope != currentScope {
            print("  \(entry.scope):")
            currentScope = entry.scope
        }
        print("    \(entry.name)  \(entry.opens ? "opens" : "DOES NOT OPEN with this key")")
    }
    if review.entries.isEmpty { print("  (no secrets)") }
    let failing = review.failing
    if !failing.isEmpty {
        let names = failing.map { "\($0.scope) '\($0.name)'" }.joined(separator: ", ")
        throw fail("\(failing.count) sealed value(s) do not open with this key: \(names). Nothing was "
                   + (upgrading ? "upgraded" : "accepted") + "; set them again or restore them (from git) first")
    }
    if let committed = StoreGitBaseline.committedBytes(of: path) {
        if let base = try? StoreDocument.decode(committed, path: path + " (git HEAD)", allowLegacy: true) {
            let changes = review.changes(since: base)
            if changes.isEmpty {
                print("Same names and sealed values as the version committed in git (HEAD).")
            } else {
                print("Differences from the version committed in git (HEAD):")
                for change in changes { print("  \(change)") }
            }
        } else {
            print("The version committed in git (HEAD) is not a readable store, so it cannot be compared.")
        }
    }
    let verb = upgrading ? "upgraded" : "accepted"
    if !yes {
        guard Terminal.stdinIsTerminal else {
            throw fail("nothing \(verb): stdin is not a terminal, so pass --yes to confirm", Exit.usage)
        }
        Terminal.warn(upgrading ? "Upgrade and seal this content? [y/N] " : "Accept this content and re-seal its mac? [y/N] ")
        let answer = readLine()?.lowercased() ?? ""
        guard answer == "y" || answer == "yes" else {
            Terminal.warn("secretfill: nothing \(verb)")
            throw Exit.problems
        }
    }
    try store.accept(review)
    let scopes = Set(review.entries.map(\.scope)).count
    if upgrading {
        print("Upgraded the store at \(path) to version 2: its mac covers \(review.entries.count) secret(s) in \(scopes) scope(s).")
    } else {
        print("Accepted: the store at \(path) has a new mac over \(review.entries.count) secret(s) in \(scopes) scope(s).")
    }
}
