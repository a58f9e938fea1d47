/// Turns a scan's references into values, reporting every name that does
/// not resolve instead of stopping at the first.
///
/// Each distinct name is decrypted once, and only names the given
/// references use are decrypted at all.
public struct ReferenceResolver {
    public var store: any SecretStore
    public var chain: ScopeChain

    public init(store: any SecretStore, chain: ScopeChain) {
        self.store = store
        self.chain = chain
    }

    /// Values indexed like `names` (a scan's `secretNames`, which each
    /// reference's `nameIndex` points into), or the diagnostics for the
    /// references whose name failed. Names no reference uses stay nil.
    /// Store-wide failures (wrong key, unreadable store) are thrown.
    public func resolve(_ references: [SecretReference], names: [String], file: String) throws(StoreError) -> (values: [SecretValue?], diagnostics: [Diagnostic]) {
        var needed = [Bool](repeating: false, count: names.count)
        for reference in references { needed[reference.nameIndex] = true }
        var values = [SecretValue?](repeating: nil, count: names.count)
        var failures = [StoreError?](repeating: nil, count: names.count)
        var anyFailed = false
        for (index, name) in names.enumerated() where needed[index] {
            do {
                values[index] = try store.resolve(name, in: chain)
                if values[index] == nil { anyFailed = true }
            } catch {
                // A value that does not open is this reference's problem; anything else is the store's.
                guard case .cannotOpen = error else { throw error }
                failures[index] = error
                anyFailed = true
            }
        }
        guard anyFailed else { return (values, []) }
        var diagnostics: [Diagnostic] = []
        // Where each unknown name exists instead, or the name it may be a
        // typo of, looked up once per name.
        var hints = [(elsewhere: [Scope], suggestion: String?)?](repeating: nil, count: names.count)
        var chainNames: [String]?
        for reference in references where values[reference.nameIndex] == nil {
            if let error = failures[reference.nameIndex] {
                diagnostics.append(Diagnostic(code: "undecryptable-secret", file: file, location: reference.location,
                                              message: error.description, name: reference.name))
            } else {
                if hints[reference.nameIndex] == nil {
                    hints[reference.nameIndex] = try ScopeHints.hint(for: reference.name, chain: chain, in: store, names: &chainNames)
                }
                let hint = hints[reference.nameIndex]!
                diagnostics.append(ReferenceResolver.unknown(reference, chain: chain, file: file,
                                                             elsewhere: hint.elsewhere, suggestion: hint.suggestion))
            }
        }
        return (values, diagnostics)
    }

    /// The distinct names `references` use, in the order of `names` (a
    /// scan's `secretNames`): what a store is asked for (`StoreOpener`).
    public static func names(of references: [SecretReference], in names: [String]) -> [String] {
        var needed = [Bool](repeating: false, count: names.count)
        for reference in references { needed[reference.nameIndex] = true }
        return names.indices.filter { needed[$0] }.map { names[$0] }
    }

    /// `unknown secret 'x' (looked in project p, cluster c, team)`, and where
    /// the name does exist when it is in scopes the chain left out
    /// (`…; it exists in cluster c2: use --cluster c2`), or else the name
    /// of the chain it may be a typo of (`…; did you mean 'db_password'?`).
    public static func unknown(_ reference: SecretReference, chain: ScopeChain, file: String,
                               elsewhere: [Scope] = [], suggestion: String? = nil) -> Diagnostic {
        Diagnostic(code: "unknown-secret", file: file, location: reference.location,
                   message: "unknown secret '\(reference.name)' (\(ScopeHints.lookedIn(chain, elsewhere: elsewhere, suggestion: suggestion)))",
                   name: reference.name)
    }
}
