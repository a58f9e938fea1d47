import SecretFill

/// Random session ids and CSRF tokens, and the digests a session id is
/// stored as (`BearerText`, shared with the API tokens). Nothing here is
/// ever logged.
enum SessionTokens {
    /// 32 random bytes, base64url without padding (43 characters).
    static func random() -> String { BearerText.random(bytes: 32) }

    /// Hex SHA-256: what the database holds instead of the session id.
    static func digest(_ text: String) -> String { BearerText.digest(text) }

    /// Whether the text could be one of ours (checked before any lookup).
    static func isWellFormed(_ text: String) -> Bool {
        text.utf8.count == 43 && text.utf8.allSatisfy(BearerText.isBase64URL)
    }

    /// Equal texts take the same time to compare as unequal ones of that length.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool { BearerText.constantTimeEqual(a, b) }
}
