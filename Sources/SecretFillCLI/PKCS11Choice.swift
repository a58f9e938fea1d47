import SecretFill
import SecretFillPKCS11

/// The store key in a token: its spec (`module=PATH;token=LABEL;key=LABEL`)
/// and where it was given, for messages. `--key-pkcs11` wins; without it,
/// `SECRETFILL_KEY_PKCS11` gives the same spec, for `serve`, `rekey`,
/// `backup` and `restore` on a database, and for every command on the local
/// store file (`StoreConfiguration.forCommand`).
package struct PKCS11Choice: Sendable, Hashable {
    package static let variable = StoreConfiguration.tokenVariable

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
        if let problem = StoreConfiguration.tokenConflict(environment: environment) { throw Conflict(description: problem) }
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

extension PKCS11Choice {
    /// The key in the token of `text` (`module=PATH;token=LABEL;key=LABEL`),
    /// logged in with SECRETFILL_PKCS11_PIN. A malformed spec is `.keyChoice`
    /// (bad usage, 64); a token or key that cannot be used, `.keyUnusable`
    /// (2), in the token layer's words after `origin`. Never the PIN.
    package static func openKey(_ text: String, origin: String,
                                environment: [String: String] = processEnvironment) throws(StoreError) -> PKCS11Key {
        let spec: PKCS11Spec
        do { spec = try PKCS11Spec(parsing: text, option: origin) } catch { throw .keyChoice(error.description) }
        do {
            return try PKCS11Key.open(spec, pin: environment[PKCS11Key.pinVariable])
        } catch {
            throw .keyUnusable(source: origin, detail: error.description)
        }
    }
}

extension StoreConfiguration {
    /// Where this command's store and key are (`resolve`), able to open a key
    /// in a token: `keyPKCS11` (`--key-pkcs11`) first, else
    /// `SECRETFILL_KEY_PKCS11`, else the key file's variables.
    package static func forCommand(storeOption: String?, keyPKCS11: String? = nil,
                                   environment: [String: String] = processEnvironment) -> StoreConfiguration {
        var configuration = resolve(storeOption: storeOption, environment: environment)
        if let keyPKCS11 {
            configuration.keySource = .token(spec: keyPKCS11, origin: "--key-pkcs11")
            configuration.keyChoiceProblem = nil
        }
        configuration.openToken = { (spec: String, origin: String) throws(StoreError) -> any StoreSealingKey in
            try PKCS11Choice.openKey(spec, origin: origin, environment: environment)
        }
        return configuration
    }
}
