@testable import SecretFill
import Testing

@Suite("Lowercase hex of digests")
struct HexTextTests {
    @Test("every byte is two lowercase digits, in order")
    func everyByte() {
        let all = (0...255).map { UInt8($0) }
        let reference = all.map { byte -> String in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined()
        #expect(HexText.lowercase(all) == reference)
        #expect(HexText.lowercase([0x00, 0x0F, 0xA0, 0xFF]) == "000fa0ff")
        #expect(HexText.lowercase([UInt8]()) == "")
    }
}
