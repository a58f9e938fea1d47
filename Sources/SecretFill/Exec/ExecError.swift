#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why `secretfill exec` could not start the command. Carries the command
/// as given and errno, never an environment value.
public enum ExecError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No such file, or nothing of that name on `PATH`: exit 127.
    case notFound(command: String)
    /// Found but cannot be run (no execute permission, a folder, not an executable format): exit 126.
    case cannotExecute(command: String, path: String, code: Int32)
    /// A pipe, a signal handler or the spawn itself failed: exit 126.
    case cannotStart(command: String, operation: String, code: Int32)

    /// The exit status the shell convention gives each case.
    public var exitStatus: Int32 {
        switch self {
        case .notFound: return 127
        case .cannotExecute, .cannotStart: return 126
        }
    }

    public var description: String {
        switch self {
        case .notFound(let command):
            return command.contains("/")
                ? "cannot run '\(command)': no such file"
                : "cannot run '\(command)': command not found on PATH"
        case .cannotExecute(let command, let path, let code):
            let reason = code == E2BIG
                ? "the arguments and environment together are larger than the kernel accepts"
                : String(cString: strerror(code))
            return path == command ? "cannot run '\(command)': \(reason)" : "cannot run '\(command)' (\(path)): \(reason)"
        case .cannotStart(let command, let operation, let code):
            return "cannot run '\(command)': \(operation) failed: \(String(cString: strerror(code)))"
        }
    }
}
