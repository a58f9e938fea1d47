#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import SecretFill

/// How `keys list`, `audit` and `secrets history` print: `table` (a header
/// and aligned columns, the default on a terminal), `text` (one line per
/// entry, fields two spaces apart: the default when stdout is a pipe or a
/// file, unchanged for scripts) or `json`.
enum ListFormat: String, ExpressibleByArgument, CaseIterable {
    case text, table, json

    static let help = ArgumentHelp("table (a header and aligned columns; the default on a terminal), text (one line per entry; the default otherwise) or json.",
                                   valueName: "format")

    /// The format asked for, else table on a terminal and text elsewhere.
    static func resolved(_ asked: ListFormat?) -> ListFormat {
        asked ?? (isatty(1) == 1 ? .table : .text)
    }
}

/// Rows under a header, each column as wide as its widest cell, two spaces
/// apart; the last column is not padded. Cells are escaped for the
/// terminal (`TerminalText`), and widths count characters.
struct TextTable {
    let headers: [String]
    var rows: [[String]] = []

    init(_ headers: String...) { self.headers = headers }

    mutating func add(_ cells: String...) { rows.append(cells.map(TerminalText.escaped)) }

    func rendered() -> String {
        var widths = headers.map(\.count)
        for row in rows {
            for (column, cell) in row.enumerated() where column < widths.count { widths[column] = max(widths[column], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            var text = ""
            for (column, cell) in cells.enumerated() {
                if column == cells.count - 1 {
                    text += cell
                } else {
                    text += cell + String(repeating: " ", count: widths[column] - cell.count + 2)
                }
            }
            while text.hasSuffix(" ") { text.removeLast() }
            return text
        }
        return ([line(headers)] + rows.map(line)).joined(separator: "\n")
    }
}
