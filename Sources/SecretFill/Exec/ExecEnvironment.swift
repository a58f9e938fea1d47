#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The environment a program started by `secretfill exec` gets: the
/// parent's (or, pristine, a few of its entries) minus secretfill's own
/// credentials, with the env block's entries on top. (Tools secretfill runs
/// for itself, such as git, get `ChildEnvironment`, which drops every
/// `SECRETFILL_*`; exec keeps the rest because the user asked for the
/// parent's environment.)
///
/// Entries are kept as bytes (`NAME=value`), so the parent's entries reach
/// the child exactly as secretfill received them, valid UTF-8 or not.
public struct ExecEnvironment: Sendable, CustomStringConvertible, CustomReflectable {
    /// secretfill's own credentials: a child never inherits them (unless
    /// the env block itself sets one, which is the user asking for it).
    /// The token's PIN and the spec of the store key in it are withheld too.
    public static let credentials: Set<String> = ["SECRETFILL_KEY", "SECRETFILL_KEY_FILE", "SECRETFILL_TOKEN", "SECRETFILL_TOKEN_FILE",
                                                  "SECRETFILL_PKCS11_PIN", "SECRETFILL_KEY_PKCS11"]

    /// What `--pristine` keeps from the parent.
    public static let pristineNames: [String] = ["PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "LC_ALL", "TZ", "TMPDIR"]

    /// The kernel refuses one environment string (`NAME=value` and its NUL)
    /// longer than this (`MAX_ARG_STRLEN`, 32 pages) with E2BIG.
    public static let maximumEntryBytes = 128 * 1024

    /// `NAME=value` entries, in order; may hold secret values.
    public private(set) var entries: [[UInt8]]

    /// Its entries may hold values: it describes itself by names only.
    public var description: String { "ExecEnvironment(\(names.joined(separator: ", ")))" }
    public var customMirror: Mirror { Mirror(self, children: ["names": names]) }

    /// The parent's entries (from `environ`), as raw bytes.
    public static func current() -> [[UInt8]] {
        var result: [[UInt8]] = []
        var pointer = environ
        while let entry = pointer.pointee {
            result.append(Array(UnsafeBufferPointer(start: UnsafeRawPointer(entry).assumingMemoryBound(to: UInt8.self), count: strlen(entry))))
            pointer += 1
        }
        return result
    }

    /// `parent` as `NAME=value` byte strings; `block` wins over any parent entry of the same name.
    public init(parent: [[UInt8]], block: [EnvVariable], pristine: Bool) {
        let blockNames = Set(block.map(\.name))
        let kept = pristine ? Set(Self.pristineNames) : nil
        var seen = Set<String>()
        var entries: [[UInt8]] = []
        for entry in parent {
            guard let equals = entry.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let name = String(decoding: entry[..<equals], as: UTF8.self)
            if Self.credentials.contains(name) || blockNames.contains(name) { continue }
            if let kept, !kept.contains(name) { continue }
            // The first of duplicate parent entries is the one getenv() sees.
            guard seen.insert(name).inserted else { continue }
            entries.append(entry)
        }
        for variable in block {
            entries.append(Array((variable.name + "=" + variable.value).utf8))
        }
        self.entries = entries
    }

    public var names: [String] {
        entries.map { entry in
            String(decoding: entry[..<(entry.firstIndex(of: UInt8(ascii: "=")) ?? entry.endIndex)], as: UTF8.self)
        }
    }

    /// The value of `name`, as the child's `getenv` would see it.
    public func value(of name: String) -> String? {
        let prefix = Array((name + "=").utf8)
        for entry in entries where entry.starts(with: prefix) {
            return String(decoding: entry[prefix.count...], as: UTF8.self)
        }
        return nil
    }

    /// Why a variable cannot be an environment string, or nil when it can:
    /// an empty name or one with `=` or NUL, a value with NUL, or an entry
    /// over the kernel's 128 KiB limit. Names only; never the value.
    public static func refusal(for variable: EnvVariable) -> String? {
        let name = variable.name.utf8
        if name.isEmpty { return "an environment name cannot be empty" }
        if name.contains(UInt8(ascii: "=")) { return "an environment name cannot contain '='" }
        if name.contains(0) { return "an environment name cannot contain a NUL byte" }
        if variable.value.utf8.contains(0) { return "its value contains a NUL byte, which cannot be in an environment string" }
        let size = name.count + 1 + variable.value.utf8.count + 1
        if size > maximumEntryBytes {
            return "'\(variable.name)=value' is \(size) bytes, over the kernel's limit of \(maximumEntryBytes) bytes (128 KiB) for one environment string"
        }
        return nil
    }
}
