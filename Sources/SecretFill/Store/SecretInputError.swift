/// Input to the store that breaks a rule: the message names the rule, never
/// the offending value.
public enum SecretInputError: Error, Sendable, Hashable, CustomStringConvertible {
    case invalidName
    case emptyName
    case invalidID
    case missingID(Scope.Kind)
    case idNotAllowedForTeam
    case emptyValue
    case valueTooLarge(Int)
    case nulInValue
    case invalidUTF8Value

    public var description: String {
        switch self {
        case .invalidName: SecretName.ruleDescription
        case .emptyName: "the secret name is empty; \(SecretName.ruleDescription)"
        case .invalidID: Scope.idRuleDescription
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
        guard SecretName.isValid(name) else { throw .invalidName }
    }
}
