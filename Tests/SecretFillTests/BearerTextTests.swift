import Foundation
import SecretFill
import Testing

@Suite("BearerText: tokens' and sessions' shared text")
struct BearerTextTests {
    @Test("base64url is Foundation's base64 with - and _ and no padding, for every length 0 to 64 and random bytes")
    func base64url() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...64 {
            for _ in 0..<8 {
                let bytes = (0..<length).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
                let reference = Data(bytes).base64EncodedString()
                    .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
                #expect(BearerText.base64url(bytes) == reference, "\(bytes)")
            }
        }
    }

    @Test("random: 43 base64url characters for 32 bytes, never the same twice; digest is SHA-256 in lowercase hex; constant-time equality is equality")
    func randomDigestEqual() {
        let a = BearerText.random(bytes: 32), b = BearerText.random(bytes: 32)
        #expect(a.utf8.count == 43 && a.utf8.allSatisfy(BearerText.isBase64URL) && a != b)
        #expect(BearerText.digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(BearerText.constantTimeEqual(a, a) && !BearerText.constantTimeEqual(a, b) && !BearerText.constantTimeEqual(a, String(a.dropLast())))
    }
}
