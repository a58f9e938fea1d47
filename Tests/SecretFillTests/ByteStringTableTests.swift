@testable import SecretFill
import Testing

@Suite("Numbering byte strings")
struct ByteStringTableTests {
    @Test("keys are numbered in order of first insertion, through growth and clears")
    func numbering() {
        var table = ByteStringTable(capacity: 4)
        let words = (0..<300).map { "name_\($0)" } + ["", "é", "日本"]
        for (number, word) in words.enumerated() {
            #expect(insert(&table, word) == (number, true))
        }
        for (number, word) in words.enumerated() {
            #expect(insert(&table, word) == (number, false))
            #expect(index(table, word) == number)
            #expect(table.text(number) == word)
        }
        #expect(index(table, "name_300") == nil)
        table.removeAll()
        #expect(table.count == 0)
        for word in words { #expect(index(table, word) == nil) }
        // Refilled in another order, the numbers follow the new order.
        for (number, word) in words.reversed().enumerated() {
            #expect(insert(&table, word) == (number, true))
        }
        #expect(index(table, "name_0") == words.count - 1)
    }

    private func insert(_ table: inout ByteStringTable, _ word: String) -> (Int, Bool) {
        var word = word
        return word.withUTF8 { table.insert($0) }
    }

    private func index(_ table: borrowing ByteStringTable, _ word: String) -> Int? {
        var word = word
        return word.withUTF8 { table.index(of: $0) }
    }
}
