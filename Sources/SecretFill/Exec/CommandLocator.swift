#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Finds the program `exec` runs, as `execvp` and the shells do: a command
/// with a `/` is used as it is; otherwise each `PATH` folder in turn (an
/// empty element is the current folder) is tried for an executable regular
/// file. A match that is not executable is remembered, so "found but not
/// executable" (126) is told apart from "not found" (127).
public enum CommandLocator {
    /// glibc's `execvp` default when `PATH` is unset.
    public static let defaultSearchPath = "/bin:/usr/bin"

    public static func locate(_ command: String, searchPath: String?) -> Result<String, ExecError> {
        guard !command.isEmpty else { return .failure(.notFound(command: command)) }
        if command.contains("/") {
            return check(command, command: command) ?? .failure(.notFound(command: command))
        }
        var firstRefusal: ExecError?
        for folder in (searchPath ?? defaultSearchPath).split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = folder.isEmpty ? command : String(folder) + "/" + command
            switch check(candidate, command: command) {
            case .success(let path)?: return .success(path)
            case .failure(let refusal)?: if firstRefusal == nil { firstRefusal = refusal }
            case nil: continue
            }
        }
        return .failure(firstRefusal ?? .notFound(command: command))
    }

    /// nil when nothing is at `path`; a folder or a file without execute
    /// permission is refused (126).
    private static func check(_ path: String, command: String) -> Result<String, ExecError>? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            return errno == EACCES ? .failure(.cannotExecute(command: command, path: path, code: EACCES)) : nil
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            return command.contains("/") ? .failure(.cannotExecute(command: command, path: path, code: EISDIR)) : nil
        }
        guard access(path, X_OK) == 0 else { return .failure(.cannotExecute(command: command, path: path, code: EACCES)) }
        return .success(path)
    }
}
