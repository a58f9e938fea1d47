import Crypto
import SecretFill
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// API tokens: `sf_` + 32 random bytes, base64url without padding. Only
/// their SHA-256 digest is stored; digests are compared in constant time.
public enum APIToken {
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return "sf_" + base64url(bytes)
    }

    static func base64url(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacing("+", with: "-")
            .replacing("/", with: "_")
            .replacing("=", with: "")
    }

    /// Hex SHA-256 of the token's bytes, as stored in `api_keys.token_digest`.
    static func digest(_ token: String) -> String {
        HexText.lowercase(SHA256.hash(data: Array(token.utf8)))
    }

    /// True when the two texts are equal, taking the same time for every
    /// pair of the same length.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in x.indices { difference |= x[i] ^ y[i] }
        return difference == 0
    }

    /// Whether the text looks like a token at all (checked before any lookup).
    static func isWellFormed(_ token: String) -> Bool {
        token.hasPrefix("sf_") && token.utf8.count == 46 && token.utf8.dropFirst(3).allSatisfy {
            ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x5F
        }
    }
}
