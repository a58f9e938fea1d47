import CYAML

/// libyaml refused the input: what it found wrong and where.
///
/// libyaml's problem strings are fixed texts from its source, so they never
/// contain input bytes and are safe to print next to secret-bearing specs.
public struct YAMLSyntaxError: Error, Sendable, Hashable {
    public var problem: String
    public var context: String?
    public var location: SourceLocation

    public init(problem: String, context: String?, location: SourceLocation) {
        self.problem = problem
        self.context = context
        self.location = location
    }

    /// A one-line explanation for the terminal, without the location.
    public var message: String {
        if let context, !context.isEmpty {
            return "invalid YAML: \(problem) \(context)"
        }
        return "invalid YAML: \(problem)"
    }
}
