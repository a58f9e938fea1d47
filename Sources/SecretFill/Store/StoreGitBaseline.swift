#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The committed version of a store file, when its folder is a git work tree
/// and `HEAD` has it: what `secretfill store accept` compares against to say
/// which names a hand edit changed.
///
/// git runs by absolute path (found once on `PATH`) with an environment of
/// `PATH`, `HOME` and `LANG` only (no `SECRETFILL_*`, so no key), no system
/// config, and fsmonitor off; `cat-file blob` applies no filters or textconv,
/// so no program the repository configures is run.
public enum StoreGitBaseline {
    /// The file's bytes at `HEAD`, or nil (not in git, not committed, no git).
    public static func committedBytes(of path: String, environment: [String: String]) -> [UInt8]? {
        guard let git = findGit(environment["PATH"] ?? "/usr/bin:/bin") else { return nil }
        let (directory, name) = FileIO.split(path)
        var childEnvironment = ["GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0"]
        for variable in ["PATH", "HOME", "LANG"] {
            if let value = environment[variable] { childEnvironment.append("\(variable)=\(value)") }
        }
        return run(git, ["-C", directory, "-c", "core.fsmonitor=false", "cat-file", "blob", "HEAD:./" + name],
                   environment: childEnvironment)
    }

    static func findGit(_ searchPath: String) -> String? {
        for folder in searchPath.split(separator: ":") where folder.hasPrefix("/") {
            let candidate = String(folder) + "/git"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// Runs `program`, stdout captured (at most 64 MiB), stderr discarded;
    /// the output when it exits 0.
    private static func run(_ program: String, _ arguments: [String], environment: [String]) -> [UInt8]? {
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { return nil }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addclose(&actions, pipeEnds[0])
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, program, &actions, nil, argv, envp)
        close(pipeEnds[1])
        guard spawned == 0 else {
            close(pipeEnds[0])
            return nil
        }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var tooLong = false
        while true {
            let n = buffer.withUnsafeMutableBytes { read(pipeEnds[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            if output.count + n > 64 << 20 { tooLong = true } else { output.append(contentsOf: buffer[0..<n]) }
        }
        close(pipeEnds[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { return nil }
        }
        guard status & 0x7F == 0, (status >> 8) & 0xFF == 0, !tooLong else { return nil }
        return output
    }
}
