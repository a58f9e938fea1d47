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

    @Test("the same bytes in two scopes are two keys, and the newest keys can be undone")
    func scopesAndUndo() {
        var table = ByteStringTable(capacity: 4)
        for scope in 0..<3 {
            for i in 0..<100 { #expect(insert(&table, "N\(i)", scope: scope) == (scope * 100 + i, true)) }
        }
        #expect(insert(&table, "N7", scope: 1) == (107, false))
        #expect(index(table, "N7", scope: 3) == nil)
        // Undo scope 2, then part of scope 1: the older keys are all still found.
        table.removeLast(100)
        table.removeLast(50)
        #expect(table.count == 150)
        for i in 0..<100 {
            #expect(index(table, "N\(i)", scope: 0) == i)
            #expect(index(table, "N\(i)", scope: 1) == (i < 50 ? 100 + i : nil))
            #expect(index(table, "N\(i)", scope: 2) == nil)
        }
        #expect(insert(&table, "N99", scope: 1) == (150, true))
    }

    private func insert(_ table: inout ByteStringTable, _ word: String, scope: Int = 0) -> (Int, Bool) {
        var word = word
        return word.withUTF8 { table.insert($0, scope: scope) }
    }

    private func index(_ table: borrowing ByteStringTable, _ word: String, scope: Int = 0) -> Int? {
        var word = word
        return word.withUTF8 { table.index(of: $0, scope: scope) }
    }
}
