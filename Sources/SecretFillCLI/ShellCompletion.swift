import ArgumentParser
import SecretFill

/// Custom completions for `--generate-completion-script bash|zsh|fish`.
/// They read names only (no key) and offer nothing when anything is missing.
enum ShellCompletion {
    /// Secret names from the store the command line would use (`--store`,
    /// else $SECRETFILL_STORE, else the default), in team and in the project
    /// and cluster the line or the environment names.
    static var secretNames: CompletionKind {
        .custom { words, _, prefix in
            let environment = processEnvironment
            let storePath = StoreConfiguration.resolve(storeOption: CompletionCandidates.option("store", in: words),
                                                       environment: environment).storePath
            let id = CompletionCandidates.option("id", in: words)
            let project = CompletionCandidates.option("project", in: words) ?? (words.contains("project") ? id : nil)
                ?? environment["SECRETFILL_PROJECT"].flatMap { $0.isEmpty ? nil : $0 }
            let cluster = CompletionCandidates.option("cluster", in: words) ?? (words.contains("cluster") ? id : nil)
                ?? environment["SECRETFILL_CLUSTER"].flatMap { $0.isEmpty ? nil : $0 }
            return CompletionCandidates.secretNames(storePath: storePath, chain: ScopeChain(project: project, cluster: cluster), prefix: prefix)
        }
    }

    /// `--select`: the candidate block names of the spec given to `command`.
    static func blockNames(of command: String) -> CompletionKind {
        .custom { words, _, prefix in
            let valueOptions: Set<String> = ["--select", "--project", "--cluster", "--store", "--format", "-o", "--output"]
            guard let spec = CompletionCandidates.firstPositional(after: command, in: words, valueOptions: valueOptions) else { return [] }
            return CompletionCandidates.blockLabels(specPath: spec, prefix: prefix)
        }
    }
}
