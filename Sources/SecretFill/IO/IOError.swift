#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A system call failed on a path: which call, which path, and errno.
///
/// Carries only paths and errno, never file contents, so it is safe to print
/// while handling secret files.
public struct IOError: Error, Sendable, Hashable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var code: Int32
    /// Said instead of errno's text when the call did not fail but the
    /// situation is refused (a lock held too long, a link to nowhere).
    public var detail: String?

    public init(_ operation: String, path: String, code: Int32 = errno, detail: String? = nil) {
        self.operation = operation
        self.path = path
        self.code = code
        self.detail = detail
    }

    public var reason: String { detail ?? String(cString: strerror(code)) }

    public var description: String {
        "cannot \(operation) \(path): \(reason)"
    }
}
