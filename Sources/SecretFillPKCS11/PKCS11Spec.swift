/// Where the store key is when it is in an HSM (issue 27): the text of
/// `--key-pkcs11 'module=PATH;token=LABEL;key=LABEL'`.
///
/// `module` is the PKCS#11 library (a `.so` path), `token` the token's label
/// and `key` the label of an AES-256 secret key object in it. The three parts
/// come once each, in any order, separated by `;`; a label cannot hold `;`.
public struct PKCS11Spec: Sendable, Equatable, CustomStringConvertible {
    public let module: String
    public let token: String
    public let key: String

    /// The option a spec came from, for messages (`--key-pkcs11`, `--new-key-pkcs11`).
    public let option: String

    public init(module: String, token: String, key: String, option: String = "--key-pkcs11") {
        self.module = module
        self.token = token
        self.key = key
        self.option = option
    }

    public init(parsing text: String, option: String = "--key-pkcs11") throws(PKCS11Error) {
        let form = "\(option) takes 'module=PATH;token=LABEL;key=LABEL'"
        var parts: [String: String] = [:]
        for piece in text.split(separator: ";", omittingEmptySubsequences: false) {
            guard let equals = piece.firstIndex(of: "=") else {
                throw .badSpec("\(form): \"\(piece)\" has no '='")
            }
            let name = String(piece[..<equals])
            let value = String(piece[piece.index(after: equals)...])
            guard ["module", "token", "key"].contains(name) else {
                throw .badSpec("\(form): \"\(name)\" is not one of module, token and key")
            }
            guard parts[name] == nil else { throw .badSpec("\(form): \(name) is given twice") }
            guard !value.isEmpty else { throw .badSpec("\(form): \(name) is empty") }
            parts[name] = value
        }
        for name in ["module", "token", "key"] where parts[name] == nil {
            throw .badSpec("\(form): \(name) is missing")
        }
        self.init(module: parts["module"]!, token: parts["token"]!, key: parts["key"]!, option: option)
    }

    public var description: String { "module=\(module);token=\(token);key=\(key)" }
}

/// Why a key in a token cannot be used, in words for the person at the terminal.
/// No case carries the PIN.
public enum PKCS11Error: Error, Sendable, Equatable, CustomStringConvertible {
    /// The spec's text is malformed (bad usage).
    case badSpec(String)
    /// `SECRETFILL_PKCS11_PIN` is not set (or empty).
    case pinMissing(token: String)
    /// `C_Login` answered `CKR_PIN_INCORRECT` (or the PIN's form was refused).
    case pinRefused(token: String)
    case pinLocked(token: String)
    case moduleUnloadable(path: String, detail: String)
    case noToken(label: String, module: String, present: [String])
    case noKey(label: String, token: String)
    case severalKeys(label: String, token: String)
    case notAES256(label: String, token: String, detail: String)
    /// The key may leave the token (`CKA_EXTRACTABLE` true) or be read in clear (`CKA_SENSITIVE` false).
    case attributeRefused(label: String, token: String, attribute: String, value: Bool)
    /// A call the token failed, with its `CKR_` code.
    case failed(function: String, code: UInt, token: String)

    /// Bad usage (exit 64), as opposed to a token or key that cannot be used (exit 2).
    public var isUsage: Bool { if case .badSpec = self { true } else { false } }

    public var description: String {
        switch self {
        case .badSpec(let detail):
            return detail
        case .pinMissing(let token):
            return "the PIN of token \"\(token)\" is read from SECRETFILL_PKCS11_PIN, which is not set: export SECRETFILL_PKCS11_PIN (the user PIN, never on the command line)"
        case .pinRefused(let token):
            return "the token \"\(token)\" refused the PIN in SECRETFILL_PKCS11_PIN (CKR_PIN_INCORRECT); check it (several wrong PINs may lock the token)"
        case .pinLocked(let token):
            return "the user PIN of token \"\(token)\" is locked (CKR_PIN_LOCKED): the token's security officer must unlock it"
        case .moduleUnloadable(let path, let detail):
            return "cannot load the PKCS#11 module \(path): \(detail)"
        case .noToken(let label, let module, let present):
            let found = present.isEmpty ? "it has no initialized token" : "its tokens are " + present.map { "\"\($0)\"" }.joined(separator: ", ")
            return "no token labelled \"\(label)\" in the PKCS#11 module \(module): \(found)"
        case .noKey(let label, let token):
            return "no secret key labelled \"\(label)\" in token \"\(token)\" (after logging in): create it as README's \"The store key in an HSM\" shows, or give the right key=LABEL"
        case .severalKeys(let label, let token):
            return "several secret keys are labelled \"\(label)\" in token \"\(token)\": give the store key a label of its own"
        case .notAES256(let label, let token, let detail):
            return "the key \"\(label)\" in token \"\(token)\" is \(detail); the store key must be an AES key of 32 bytes (pkcs11-tool --keygen --key-type AES:32)"
        case .attributeRefused(let label, let token, let attribute, let value):
            let why = attribute == "CKA_EXTRACTABLE"
                ? "its bytes could be taken out of the token"
                : "its bytes could be read out of the token in clear"
            return "the key \"\(label)\" in token \"\(token)\" has \(attribute) = \(value ? "true" : "false"): \(why), so it is refused as a store key. Create one with \(attribute == "CKA_EXTRACTABLE" ? "CKA_EXTRACTABLE false (pkcs11-tool without --extractable)" : "CKA_SENSITIVE true (pkcs11-tool --sensitive)")"
        case .failed(let function, let code, let token):
            return "the token \"\(token)\" failed \(function) (\(PKCS11Error.name(of: code)))"
        }
    }

    /// `CKR_…` for the codes secretfill meets, else the number in hex.
    static func name(of code: UInt) -> String {
        let names: [UInt: String] = [
            0x05: "CKR_GENERAL_ERROR", 0x06: "CKR_FUNCTION_FAILED", 0x07: "CKR_ARGUMENTS_BAD",
            0x11: "CKR_ATTRIBUTE_SENSITIVE", 0x12: "CKR_ATTRIBUTE_TYPE_INVALID", 0x20: "CKR_DATA_INVALID",
            0x21: "CKR_DATA_LEN_RANGE", 0x30: "CKR_DEVICE_ERROR", 0x32: "CKR_DEVICE_REMOVED",
            0x40: "CKR_ENCRYPTED_DATA_INVALID", 0x41: "CKR_ENCRYPTED_DATA_LEN_RANGE",
            0x68: "CKR_KEY_FUNCTION_NOT_PERMITTED", 0x70: "CKR_MECHANISM_INVALID", 0x71: "CKR_MECHANISM_PARAM_INVALID",
            0xB3: "CKR_SESSION_HANDLE_INVALID", 0xE0: "CKR_TOKEN_NOT_PRESENT", 0x101: "CKR_USER_NOT_LOGGED_IN",
            0x150: "CKR_BUFFER_TOO_SMALL", 0x190: "CKR_CRYPTOKI_NOT_INITIALIZED",
        ]
        return names[code] ?? "CKR 0x" + String(code, radix: 16)
    }
}
