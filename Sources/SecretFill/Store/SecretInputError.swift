/// Input to the store that breaks a rule: the message names the rule and
/// quotes a refused name or id as given (names and ids are not secret),
/// never a value.
public enum SecretInputError: Error, Sendable, Hashable, CustomStringConvertible {
    case invalidName(String)
    case emptyName
    case invalidID(String)
    case missingID(Scope.Kind)
    case idNotAllowedForTeam
    case emptyValue
    case valueTooLarge(Int)
    case nulInValue
    case invalidUTF8Value

    public var description: String {
        switch self {
        case .invalidName(let name): "\(Self.quoted(name)) is not a valid secret name: \(SecretName.ruleDescription)"
        case .emptyName: "the secret name is empty; \(SecretName.ruleDescription)"
        case .invalidID(let id) where id.isEmpty: "the scope id is empty; \(Scope.idRuleDescription)"
        case .invalidID(let id): "\(Self.quoted(id)) is not a valid scope id: \(Scope.idRuleDescription)"
        case .missingID(let kind): "\(kind.rawValue) secrets need --id (the \(kind.rawValue) id)"
        case .idNotAllowedForTeam: "team secrets take no --id (there is one team scope)"
        case .emptyValue: "the value is empty; \(SecretValue.ruleDescription)"
        case .valueTooLarge(let n): "the value is \(n) bytes; \(SecretValue.ruleDescription)"
        case .nulInValue: "the value contains a NUL byte; \(SecretValue.ruleDescription)"
        case .invalidUTF8Value: "the value is not valid UTF-8; \(SecretValue.ruleDescription)"
        }
    }

    /// Validates a secret name against the shared rule.
    public static func checkName(_ name: String) throws(SecretInputError) {
        if name.isEmpty { throw .emptyName }
        guard SecretName.isValid(name) else { throw .invalidName(name) }
    }

    /// `'text'` as given, cut to its first 64 characters (and how long it
    /// was) when longer; printing escapes any control characters in it.
    static func quoted(_ text: String) -> String {
        let count = text.count
        guard count > 64 else { return "'\(text)'" }
        return "'\(text.prefix(64))…' (\(count) characters)"
    }
}
