import Logging
import SecretFill
import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `serve --log-format json`: every line on stderr is one JSON object,
/// `{"time": "2026-01-02T03:04:05.678Z", "level": "info", "message": …}`
/// and the line's metadata as fields of the same object (a request's line:
/// `method`, `route`, `status`, `actor`, `duration_ms`, `request_id`,
/// `client`). What is logged is the same as in text: never a value, never
/// a token.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .trace
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String

    public init(label: String) {
        self.label = label
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { $1 } }
        if let given = event.metadata { fields.merge(given) { $1 } }
        Self.emit(Self.line(level: event.level, message: event.message.description, label: label, fields: fields))
    }

    /// One line outside any logger (before the logging system is set up).
    public static func write(level: Logger.Level, message: String, label: String = "secretfill") {
        emit(line(level: level, message: message, label: label))
    }

    /// Fields whose names the line itself uses: metadata by these names is kept under `meta_…`.
    static let ownFields: Set<String> = ["time", "level", "message", "logger"]

    static func line(level: Logger.Level, message: String, label: String, fields: Logger.Metadata = [:], time: timespec? = nil) -> String {
        var text = "{\"time\":\"" + timestamp(time) + "\",\"level\":\"" + level.rawValue + "\",\"message\":"
        appendString(message, to: &text)
        text += ",\"logger\":"
        appendString(label, to: &text)
        for key in fields.keys.sorted() {
            text += ","
            appendString(ownFields.contains(key) ? "meta_" + key : key, to: &text)
            text += ":"
            appendValue(fields[key]!, to: &text)
        }
        text += "}\n"
        return text
    }

    static func appendValue(_ value: Logger.Metadata.Value, to text: inout String) {
        switch value {
        case .string(let string): appendString(string, to: &text)
        case .stringConvertible(let convertible):
            if let number = convertible as? Int { text += String(number) }
            else if let number = convertible as? Double, number.isFinite { text += String(number) }
            else { appendString(convertible.description, to: &text) }
        case .array(let values):
            text += "["
            for (index, value) in values.enumerated() {
                if index > 0 { text += "," }
                appendValue(value, to: &text)
            }
            text += "]"
        case .dictionary(let values):
            text += "{"
            for (index, key) in values.keys.sorted().enumerated() {
                if index > 0 { text += "," }
                appendString(key, to: &text)
                text += ":"
                appendValue(values[key]!, to: &text)
            }
            text += "}"
        }
    }

    /// A JSON string: the core's writer (quotes, backslashes, control
    /// characters, U+2028 and U+2029 escaped).
    static func appendString(_ string: String, to text: inout String) { JSONText.appendQuoted(string, to: &text) }

    /// `2026-01-02T03:04:05.678Z`, UTC, without Foundation's formatter.
    static func timestamp(_ given: timespec? = nil) -> String {
        var now = given ?? timespec()
        if given == nil { clock_gettime(CLOCK_REALTIME, &now) }
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let millis = Int(now.tv_nsec) / 1_000_000
        let shownMillis = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(shownMillis)Z"
    }

    private static let lock = NIOLock()

    /// One line to stderr, whole (lines of several threads never interleave).
    static func emit(_ line: String) {
        let bytes = Array(line.utf8)
        lock.withLock {
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes { standardErrorWrite($0.baseAddress! + offset, $0.count - offset) }
                if written < 0 { if errno == EINTR { continue } else { return } }
                offset += written
            }
        }
    }
}

/// write(2) on stderr (outside `JSONLogHandler`, whose `write` is another).
private func standardErrorWrite(_ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(2, bytes, count)
}

/// How `serve` writes its lines: `text` (swift-log's stream format) or `json` (one object a line).
public enum LogFormat: String, Sendable, CaseIterable {
    case text, json
}
