/// A secret's plaintext, in a type that refuses to show itself.
///
/// `description`, `debugDescription` and `dump` all print `<redacted>`, so a
/// value interpolated into a message or captured in a crash report by mistake
/// leaks nothing. Code that must emit the value (render, env) asks for
/// `revealed` explicitly.
public struct SecretValue: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let storage: String

    /// The largest value accepted: 1 MiB of UTF-8.
    public static let maximumBytes = 1 << 20
    public static let ruleDescription = "a secret value must be 1 byte to 1 MiB of valid UTF-8 without NUL bytes"

    /// Checks the value rules; the error never contains the bytes.
    public init(validating bytes: [UInt8]) throws(SecretInputError) {
        guard !bytes.isEmpty else { throw .emptyValue }
        guard bytes.count <= SecretValue.maximumBytes else { throw .valueTooLarge(bytes.count) }
        guard !bytes.contains(0) else { throw .nulInValue }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .invalidUTF8Value }
        storage = text
    }

    public init(validating text: String) throws(SecretInputError) {
        try self.init(validating: Array(text.utf8))
    }

    /// The plaintext. Call it only where the value is meant to be written.
    public var revealed: String { storage }

    public var utf8Count: Int { storage.utf8.count }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
