import SecretFill
import SecretFillAPI

/// Reads `POST /v1/resolve`'s body without JSONDecoder when it has the
/// plain form clients send, and leaves everything else to JSONDecoder,
/// which then decides and says what is wrong. JSONDecoder was 5% of the
/// server's CPU per resolve under load (perf, bench/server.sh).
///
/// The plain form: one object with `"names"` (an array of strings) and
/// optionally `"project"` and `"cluster"` (a string or `null`), each key
/// once, in any order, with JSON whitespace between tokens; every string
/// ASCII from 0x20 up, without `\`. Every text of that form is valid JSON
/// that JSONDecoder reads as the same `ResolveRequest` (`PlainJSONTests`
/// checks that against JSONDecoder on generated and mutated bodies).
extension ResolveRequest {
    static func plain(_ bytes: UnsafeRawBufferPointer) -> ResolveRequest? {
        bytes.withMemoryRebound(to: UInt8.self) { plain(PlainJSONReader($0)) }
    }

    static func plain(_ reader: PlainJSONReader) -> ResolveRequest? {
        var reader = reader
        var project: String?? = .none
        var cluster: String?? = .none
        var names: [String]?
        guard reader.take(UInt8(ascii: "{")) else { return nil }
        repeat {
            guard let key = reader.string(), reader.take(UInt8(ascii: ":")) else { return nil }
            switch key {
            case "project":
                guard project == nil, let value = reader.nullOrString() else { return nil }
                project = .some(value)
            case "cluster":
                guard cluster == nil, let value = reader.nullOrString() else { return nil }
                cluster = .some(value)
            case "names":
                guard names == nil, let value = reader.strings() else { return nil }
                names = value
            default:
                return nil
            }
        } while reader.take(UInt8(ascii: ","))
        guard reader.take(UInt8(ascii: "}")), reader.atEnd, let names else { return nil }
        return ResolveRequest(project: project ?? nil, cluster: cluster ?? nil, names: names)
    }
}

/// A cursor over the plain form's tokens; every method gives up (nil or
/// false) at anything outside it.
struct PlainJSONReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    /// The byte `byte` after any whitespace.
    mutating func take(_ byte: UInt8) -> Bool {
        skipSpace()
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    /// Nothing but whitespace is left.
    var atEnd: Bool {
        mutating get {
            skipSpace()
            return index == bytes.count
        }
    }

    /// A string of ASCII from 0x20 up without `\` (`PlainJSONText.isPlain`,
    /// which the store file's reader uses for the same question).
    mutating func string() -> String? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = index
        while index < bytes.count, bytes[index] != UInt8(ascii: "\"") { index += 1 }
        guard index < bytes.count else { return nil }
        guard PlainJSONText.isPlain(bytes, start..<index) else { return nil }
        index += 1
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index - 1]), as: UTF8.self)
    }

    /// `null` (as `.some(nil)`) or a string.
    mutating func nullOrString() -> String?? {
        skipSpace()
        if index + 4 <= bytes.count, bytes[index] == UInt8(ascii: "n"), bytes[index + 1] == UInt8(ascii: "u"),
           bytes[index + 2] == UInt8(ascii: "l"), bytes[index + 3] == UInt8(ascii: "l") {
            index += 4
            return .some(nil)
        }
        return string().map { .some($0) }
    }

    /// An array of strings.
    mutating func strings() -> [String]? {
        guard take(UInt8(ascii: "[")) else { return nil }
        var values: [String] = []
        if take(UInt8(ascii: "]")) { return values }
        repeat {
            guard let value = string() else { return nil }
            values.append(value)
        } while take(UInt8(ascii: ","))
        return take(UInt8(ascii: "]")) ? values : nil
    }
}
