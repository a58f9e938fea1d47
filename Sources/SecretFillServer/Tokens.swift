import SecretFill

/// API tokens: `sf_` + 32 random bytes, base64url without padding. Only
/// their SHA-256 digest is stored; digests are compared in constant time
/// (`BearerText`, shared with the web UI's sessions).
public enum APIToken {
    public static func generate() -> String { "sf_" + BearerText.random(bytes: 32) }

    /// Hex SHA-256 of the token's bytes, as stored in `api_keys.token_digest`.
    static func digest(_ token: String) -> String { BearerText.digest(token) }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool { BearerText.constantTimeEqual(a, b) }

    /// Whether the text looks like a token at all (checked before any lookup).
    static func isWellFormed(_ token: String) -> Bool {
        token.hasPrefix("sf_") && token.utf8.count == 46 && token.utf8.dropFirst(3).allSatisfy(BearerText.isBase64URL)
    }
}
