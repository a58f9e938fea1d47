/// Turns a scan's references into values, reporting every name that does
/// not resolve instead of stopping at the first.
///
/// Each distinct name is decrypted once, and only names the spec uses are
/// decrypted at all.
public struct ReferenceResolver {
    public var store: any SecretStore
    public var chain: ScopeChain

    public init(store: any SecretStore, chain: ScopeChain) {
        self.store = store
        self.chain = chain
    }

    /// Values by secret name, or the diagnostics for those that failed.
    /// Store-wide failures (wrong key, unreadable store) are thrown.
    public func resolve(_ references: [SecretReference], file: String) throws(StoreError) -> (values: [String: SecretValue], diagnostics: [Diagnostic]) {
        var values: [String: SecretValue] = [:]
        var failures: [String: StoreError?] = [:]
        var diagnostics: [Diagnostic] = []
        for reference in references where values[reference.name] == nil {
            if failures[reference.name] == nil {
                do {
                    if let value = try store.resolve(reference.name, in: chain) {
                        values[reference.name] = value
                        continue
                    }
                    failures[reference.name] = .some(nil)
                } catch {
                    // A value that does not open is this reference's problem; anything else is the store's.
                    guard case .cannotOpen = error else { throw error }
                    failures[reference.name] = .some(error)
                }
            }
            if case .some(.some(let error)) = failures[reference.name] {
                diagnostics.append(Diagnostic(code: "undecryptable-secret", file: file, location: reference.location,
                                              message: error.description, name: reference.name))
            } else {
                diagnostics.append(ReferenceResolver.unknown(reference, chain: chain, file: file))
            }
        }
        return (values, diagnostics)
    }

    /// `unknown secret 'x' (looked in project p, cluster c, team)`.
    public static func unknown(_ reference: SecretReference, chain: ScopeChain, file: String) -> Diagnostic {
        Diagnostic(code: "unknown-secret", file: file, location: reference.location,
                   message: "unknown secret '\(reference.name)' (looked in \(chain))", name: reference.name)
    }
}
