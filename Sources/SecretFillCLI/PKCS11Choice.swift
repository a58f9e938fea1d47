import SecretFill

/// The store key in a token: its spec (`module=PATH;token=LABEL;key=LABEL`)
/// and where it was given, for messages. `--key-pkcs11` wins; without it,
/// `SECRETFILL_KEY_PKCS11` gives the same spec, for `serve`, `rekey`,
/// `backup` and `restore` on a database.
package struct PKCS11Choice: Sendable, Hashable {
    package static let variable = "SECRETFILL_KEY_PKCS11"

    package let spec: String
    /// `--key-pkcs11` or `SECRETFILL_KEY_PKCS11`.
    package let origin: String

    package init(spec: String, origin: String) {
        self.spec = spec
        self.origin = origin
    }

    /// `option`, else the variable. The variable beside a key file named in
    /// the environment (`SECRETFILL_KEY_FILE`, `SECRETFILL_KEY`) is refused
    /// (bad usage, 64): two store keys, and nothing says which one is meant.
    /// The option needs no such check: given on the command line, it is the choice.
    package static func resolve(option: String?, environment: [String: String] = processEnvironment) throws -> PKCS11Choice? {
        do { return try choose(option: option, environment: environment) } catch { throw fail(error.description, Exit.usage) }
    }

    /// `resolve`, the refusal as a value (serve words it for its log format).
    package static func choose(option: String?, environment: [String: String]) throws(Conflict) -> PKCS11Choice? {
        if let option { return PKCS11Choice(spec: option, origin: "--key-pkcs11") }
        guard let text = fromEnvironment(environment) else { return nil }
        for other in ["SECRETFILL_KEY_FILE", "SECRETFILL_KEY"] where !(environment[other] ?? "").isEmpty {
            throw Conflict(description: "\(variable) and \(other) are both set: the store key is either in a token or in a key file; unset one of them (or give --key-pkcs11 SPEC to choose the token)")
        }
        return PKCS11Choice(spec: text, origin: variable)
    }

    package struct Conflict: Error, CustomStringConvertible {
        package let description: String
    }

    /// The variable's spec, when set (non-empty): for the refusals that name it.
    package static func fromEnvironment(_ environment: [String: String] = processEnvironment) -> String? {
        guard let text = environment[variable], !text.isEmpty else { return nil }
        return text
    }
}
