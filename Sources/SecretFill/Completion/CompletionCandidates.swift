/// What shell completion offers for secret names and `--select`: names
/// only, read without any key, and nothing at all (never an error) when the
/// store or the spec cannot be read.
public enum CompletionCandidates {
    /// Secret names in the given scopes of the store at `storePath`
    /// (team always), sorted and each once, that start with `prefix`.
    public static func secretNames(storePath: String, chain: ScopeChain, prefix: String) -> [String] {
        guard let store = try? LocalSecretStore(path: storePath, key: nil) else { return [] }
        var names = Set<String>()
        for scope in chain.scopes {
            guard let listing = try? store.listing(of: scope) else { continue }
            for entry in listing where entry.name.hasPrefix(prefix) { names.insert(entry.name) }
        }
        return names.sorted()
    }

    /// The names `--select` accepts for the spec at `specPath`: its
    /// containers, jobs and Paperspace specs, in file order, each once.
    public static func blockLabels(specPath: String, prefix: String) -> [String] {
        guard let bytes = try? FileIO.readAll(specPath) else { return [] }
        let scan = SpecScanner(detail: .full).scan(bytes, file: specPath)
        var seen = Set<String>()
        return EnvBlockSelector().candidates(in: scan).map(\.label)
            .filter { !$0.isEmpty && $0.hasPrefix(prefix) && seen.insert($0).inserted }
    }

    /// The value of `--NAME VALUE` or `--NAME=VALUE` among shell words (the last one given).
    public static func option(_ name: String, in words: [String]) -> String? {
        var result: String?
        var index = 0
        while index < words.count {
            let word = words[index]
            if word == "--\(name)", index + 1 < words.count {
                result = words[index + 1]
                index += 1
            } else if word.hasPrefix("--\(name)=") {
                result = String(word.dropFirst(name.count + 3))
            }
            index += 1
        }
        return result.map(unquoted)
    }

    /// The first word after `command` that is neither an option nor an
    /// option's value (`valueOptions` take one), as shells pass it (quotes removed).
    public static func firstPositional(after command: String, in words: [String], valueOptions: Set<String>) -> String? {
        guard var index = words.firstIndex(of: command) else { return nil }
        index += 1
        while index < words.count {
            let word = words[index]
            if word == "--" { return nil }
            if word.hasPrefix("-") && word != "-" {
                if valueOptions.contains(word) { index += 1 }
            } else {
                return unquoted(word)
            }
            index += 1
        }
        return nil
    }

    /// Shells hand words over verbatim: drop one level of surrounding quotes.
    static func unquoted(_ word: String) -> String {
        if word.count >= 2, let first = word.first, first == word.last, first == "'" || first == "\"" {
            return String(word.dropFirst().dropLast())
        }
        return word
    }
}
