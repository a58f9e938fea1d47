import ArgumentParser

/// Messages for command lines that fail to parse in ways people hit when
/// pasting gradient's: gradient's flag spellings, `--apiKey`, a command that
/// does not exist. Consulted only after ArgumentParser has refused the line,
/// so no valid command line is affected. Never quotes an option's value.
enum ArgumentHints {
    /// Taken from the command definitions, so a new command or verb is never "unknown".
    static let commands = names(of: Secretfill.configuration.subcommands)
    static let secretsVerbs = names(of: SecretsCommand.configuration.subcommands)

    private static func names(of commands: [any ParsableCommand.Type]) -> [String] {
        commands.compactMap { $0.configuration.commandName }
    }

    static func message(for arguments: [String]) -> String? {
        let options = arguments.prefix { $0 != "--" }
        let names = options.compactMap { argument -> String? in
            guard argument.hasPrefix("--") else { return nil }
            return String(argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0])
        }
        let first = arguments.first.flatMap { $0.hasPrefix("-") ? nil : $0 }
        if let first, !commands.contains(first), first != "help" {
            return "unknown command '\(first)'; the commands are \(list(commands)) (see `secretfill --help`)"
        }
        var verb: String?
        if first == "secrets", arguments.count > 1, !arguments[1].hasPrefix("-") {
            guard secretsVerbs.contains(arguments[1]) else {
                return "unknown secrets verb '\(arguments[1])'; the verbs are \(list(secretsVerbs)) (see `secretfill secrets --help`)"
            }
            verb = arguments[1]
        }
        if names.contains(where: { $0.lowercased() == "--apikey" }) {
            return "secretfill has no --apiKey: it takes its key from SECRETFILL_KEY (base64 of 32 bytes) or the key file "
                + "(SECRETFILL_KEY_FILE, default ${XDG_CONFIG_HOME:-~/.config}/secretfill/key)"
        }
        // `secrets which` takes --project/--cluster like render; the other verbs take a scope and --id.
        let takesID = first == "secrets" && verb != "which"
        for name in names {
            switch name.lowercased() {
            case "--projectid": return "unknown option '\(name)'. Did you mean '\(takesID ? "--id" : "--project")'?" + (takesID ? " (as in `secrets \(verb ?? "set") project --id ID`)" : "")
            case "--clusterid": return "unknown option '\(name)'. Did you mean '\(takesID ? "--id" : "--cluster")'?" + (takesID ? " (as in `secrets \(verb ?? "set") cluster --id ID`)" : "")
            default: continue
            }
        }
        return nil
    }

    private static func list(_ words: [String]) -> String {
        words.dropLast().joined(separator: ", ") + " and " + words.last!
    }
}
