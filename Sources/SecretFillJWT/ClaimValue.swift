#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A claim of a JWT as JSON: whatever the issuer put there.
public enum ClaimValue: Sendable, Equatable, Codable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case null
    case array([ClaimValue])
    case object([String: ClaimValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let bool = try? container.decode(Bool.self) {
            self = .bool(bool)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let string = try? container.decode(String.self) {
            self = .string(string)
        } else if let array = try? container.decode([ClaimValue].self) {
            self = .array(array)
        } else {
            self = .object(try container.decode([String: ClaimValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .null: try container.encodeNil()
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var numberValue: Double? {
        if case .number(let value) = self { return value }
        return nil
    }
}

/// `*` globs as OpenBao's `bound_claims_type=glob` reads them: `*` matches
/// any run of characters, the empty run included; every other character
/// matches itself (there is no `?`, no class and no escape).
public enum ClaimGlob {
    public static func matches(_ pattern: String, _ subject: String) -> Bool {
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map { Array($0.utf8) }
        let text = Array(subject.utf8)
        guard parts.count > 1 else { return text == parts[0] }
        let first = parts[0], last = parts[parts.count - 1]
        guard text.count >= first.count + last.count, text.starts(with: first), text.suffix(last.count).elementsEqual(last) else { return false }
        var position = first.count
        let end = text.count - last.count
        for part in parts.dropFirst().dropLast() where !part.isEmpty {
            guard let found = find(part, in: text, from: position, before: end) else { return false }
            position = found + part.count
        }
        return true
    }

    /// The first index at or after `from` where `part` occurs wholly before `before`.
    static func find(_ part: [UInt8], in text: [UInt8], from: Int, before: Int) -> Int? {
        guard before - from >= part.count else { return nil }
        var index = from
        while index + part.count <= before {
            if text[index..<(index + part.count)].elementsEqual(part) { return index }
            index += 1
        }
        return nil
    }

    /// Whether `value` matches: a string that matches, or a list one of
    /// whose string elements matches. Anything else (absent, a number, an
    /// object) does not.
    public static func claim(_ value: ClaimValue?, matches pattern: String) -> Bool {
        switch value {
        case .string(let text)?: return matches(pattern, text)
        case .array(let items)?: return items.contains { $0.stringValue.map { matches(pattern, $0) } ?? false }
        default: return false
        }
    }
}
