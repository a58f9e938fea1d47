#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Starts the program `secretfill exec` runs: by replacing secretfill
/// (`execve`: same PID, so signals, the terminal and the exit status are the
/// program's own), or as a supervised child whose output goes through the
/// redactor.
public enum ProcessLauncher {
    /// Signals a supervising secretfill passes on to the child.
    public static let forwardedSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH]

    // MARK: replacing secretfill

    /// Replaces this process with the program at `path` (found by
    /// `CommandLocator`); `argv[0]` is `command` as given. Returns only when
    /// `execve` fails.
    public static func replace(path: String, command: String, arguments: [String], environment: ExecEnvironment) -> ExecError {
        let argv = CStringArray([command] + arguments)
        let envp = CStringArray(environment.entries)
        unblockAllSignals()
        ProcessHardening.restoreCoreLimit()
        execve(path, argv.pointers, envp.pointers)
        let code = errno
        ProcessHardening.disableCoreDumps()
        return code == ENOENT ? .notFound(command: command) : .cannotExecute(command: command, path: path, code: code)
    }

    /// A signal mask is inherited across `execve`: a launcher that blocked
    /// signals (some process libraries do) would leave the program deaf to
    /// SIGTERM. The program starts with none blocked, as tini and init do.
    private static func unblockAllSignals() {
        var none = sigset_t()
        sigemptyset(&none)
        sigprocmask(SIG_SETMASK, &none, nil)
    }

    // MARK: supervising a child

    /// Runs the program as a child in its own process group with its stdout
    /// and stderr each piped through a copy of `redactor`, forwarding
    /// `forwardedSignals`, and returns the status secretfill should exit
    /// with: the child's, or 128+N when signal N ended it. The child is
    /// always reaped (orphans that reach secretfill are reaped too).
    ///
    /// When secretfill owns the terminal (its process group is the
    /// foreground one), the child's group is made the foreground group for
    /// as long as it runs, so it can read the terminal and Ctrl-C reaches it
    /// once (from the terminal, not again from secretfill); a child stopped
    /// by Ctrl-Z stops secretfill too, and both continue together.
    public static func supervise(path: String, command: String, arguments: [String], environment: ExecEnvironment,
                                 redactor: StreamRedactor) throws(ExecError) -> Int32 {
        func failure(_ operation: String, _ code: Int32 = errno) -> ExecError {
            .cannotStart(command: command, operation: operation, code: code)
        }
        guard let relay = ExecPipe(), let out = ExecPipe(), let err = ExecPipe() else { throw failure("pipe") }
        for fd in [relay.read, relay.write] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }

        let terminal = [Int32(0), 1, 2].first { isatty($0) == 1 && tcgetpgrp($0) == getpgrp() }
        let handlers = SignalRelay(writingTo: relay.write, ignoringTTOU: terminal != nil)
        defer { handlers.restore() }
        // Signals blocked by whoever started secretfill could be neither caught nor forwarded.
        var handled = sigset_t()
        sigemptyset(&handled)
        for signal in forwardedSignals + [SIGCHLD] { sigaddset(&handled, signal) }
        var previousMask = sigset_t()
        pthread_sigmask(SIG_UNBLOCK, &handled, &previousMask)
        defer { pthread_sigmask(SIG_SETMASK, &previousMask, nil) }

        let argv = CStringArray([command] + arguments)
        let envp = CStringArray(environment.entries)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, out.write, 1)
        posix_spawn_file_actions_adddup2(&actions, err.write, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in handlers.resetInChild { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var noMask = sigset_t()
        sigemptyset(&noMask)
        posix_spawnattr_setsigmask(&attributes, &noMask)

        var pid: pid_t = 0
        ProcessHardening.restoreCoreLimit()
        let spawned = posix_spawn(&pid, path, &actions, &attributes, argv.pointers, envp.pointers)
        ProcessHardening.disableCoreDumps()
        close(out.write)
        close(err.write)
        guard spawned == 0 else {
            close(out.read)
            close(err.read)
            relay.close()
            throw spawned == ENOENT ? .notFound(command: command) : .cannotExecute(command: command, path: path, code: spawned)
        }
        if let terminal {
            _ = tcsetpgrp(terminal, pid)
            // Had it touched the terminal before it was foreground, it stopped: go on.
            _ = kill(-pid, SIGCONT)
        }

        var streams = [RedactedPipe(fd: out.read, output: 1, redactor: redactor), RedactedPipe(fd: err.read, output: 2, redactor: redactor)]
        var status: Int32?
        while status == nil || streams.contains(where: { $0.fd >= 0 }) {
            var polled = [pollfd(fd: relay.read, events: Int16(POLLIN), revents: 0)]
            for stream in streams where stream.fd >= 0 { polled.append(pollfd(fd: stream.fd, events: Int16(POLLIN), revents: 0)) }
            if poll(&polled, nfds_t(polled.count), -1) < 0 {
                if errno == EINTR { continue }
                break
            }
            if polled[0].revents != 0 {
                for signal in relay.drainSignals() {
                    if signal == SIGCHLD {
                        status = reap(pid, terminal: terminal) ?? status
                    } else if status == nil {
                        _ = kill(pid, signal)
                    }
                }
            }
            for index in streams.indices where streams[index].fd >= 0 {
                guard let entry = polled.first(where: { $0.fd == streams[index].fd }), entry.revents != 0 else { continue }
                streams[index].pump()
            }
        }
        if status == nil { status = waitForExit(pid) }
        if let terminal { _ = tcsetpgrp(terminal, getpgrp()) }
        relay.close()
        return exitStatus(status!)
    }

    /// Reaps every child that changed state; returns the wait status of
    /// `pid` when it ended. A stopped child stops secretfill too when they
    /// share the terminal, and both go on together.
    private static func reap(_ pid: pid_t, terminal: Int32?) -> Int32? {
        var ended: Int32?
        while true {
            var status: Int32 = 0
            let reaped = waitpid(-1, &status, WNOHANG | WUNTRACED)
            if reaped < 0 && errno == EINTR { continue }
            guard reaped > 0 else { return ended }
            guard reaped == pid else { continue }
            if status & 0xFF == 0x7F {
                // WIFSTOPPED: hand the terminal back, stop, and on SIGCONT resume the child.
                guard let terminal else { continue }
                _ = tcsetpgrp(terminal, getpgrp())
                _ = kill(getpid(), SIGSTOP)
                _ = tcsetpgrp(terminal, pid)
                _ = kill(-pid, SIGCONT)
                continue
            }
            ended = status
        }
    }

    private static func waitForExit(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status
    }

    /// WEXITSTATUS, or 128 + WTERMSIG (the macros are not imported).
    static func exitStatus(_ status: Int32) -> Int32 {
        status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    }
}

/// One of the child's output pipes and the redactor it goes through.
private struct RedactedPipe {
    var fd: Int32
    var output: Int32
    var redactor: StreamRedactor

    /// Reads what is there and writes what can be decided; at end of input
    /// writes the rest and closes. When secretfill's own output is gone
    /// (EPIPE), the pipe is closed, so the child sees EPIPE / SIGPIPE as it
    /// would writing there itself.
    mutating func pump() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        if n < 0 {
            if errno == EINTR || errno == EAGAIN { return }
            finish(flushing: false)
            return
        }
        if n == 0 {
            finish(flushing: true)
            return
        }
        let ready = buffer.withUnsafeBufferPointer { redactor.feed(UnsafeBufferPointer(rebasing: $0[0..<n])) }
        if !emit(ready) { finish(flushing: false) }
    }

    private mutating func finish(flushing: Bool) {
        if flushing { _ = emit(redactor.finish()) }
        close(fd)
        fd = -1
    }

    private func emit(_ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty else { return true }
        let result: Result<Void, IOError> = bytes.withUnsafeBytes { raw in
            Result { () throws(IOError) in try FileIO.writeAll(fd: output, raw, path: output == 1 ? "standard output" : "standard error") }
        }
        if case .failure = result { return false }
        return true
    }
}

/// A pipe whose ends close on exec.
private struct ExecPipe {
    var read: Int32
    var write: Int32

    init?() {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return nil }
        read = fds[0]
        write = fds[1]
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    }

    /// Closes both ends. For the signal pipe, the handler is pointed away
    /// first, so a late signal can never write into a reused descriptor.
    func close() {
        if relayDescriptor == write { relayDescriptor = -1 }
        _ = Glibc.close(read)
        _ = Glibc.close(write)
    }

    /// The signal numbers the handler wrote, oldest first.
    func drainSignals() -> [Int32] {
        var result: [Int32] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(read, $0.baseAddress!, $0.count) }
            if n <= 0 { return result }
            result += buffer[0..<n].map { Int32($0) }
        }
    }
}

/// The write end of the signal pipe, for the handler (which may touch
/// nothing but async-signal-safe state).
nonisolated(unsafe) private var relayDescriptor: Int32 = -1

private func relaySignal(_ signal: Int32) {
    let saved = errno
    var byte = UInt8(truncatingIfNeeded: signal)
    _ = write(relayDescriptor, &byte, 1)
    errno = saved
}

/// Installs the relaying handler for the forwarded signals and SIGCHLD,
/// ignores SIGPIPE (and SIGTTOU while secretfill hands the terminal around),
/// and puts everything back as it was.
private struct SignalRelay {
    private var saved: [(Int32, sigaction)] = []
    /// Signals whose disposition the child must get back as the default:
    /// those secretfill handles, and those it ignores that were not ignored before.
    private(set) var resetInChild: [Int32] = []

    init(writingTo fd: Int32, ignoringTTOU: Bool) {
        relayDescriptor = fd
        for signal in ProcessLauncher.forwardedSignals + [SIGCHLD] {
            install(signal, handler: relaySignal)
            resetInChild.append(signal)
        }
        for signal in [SIGPIPE] + (ignoringTTOU ? [SIGTTOU] : []) {
            if install(signal, handler: nil) { resetInChild.append(signal) }
        }
    }

    /// `handler` nil ignores the signal; returns whether the previous disposition was the default.
    @discardableResult
    private mutating func install(_ signal: Int32, handler: (@convention(c) (Int32) -> Void)?) -> Bool {
        var action = sigaction()
        #if os(Linux)
        action.__sigaction_handler.sa_handler = handler ?? SIG_IGN
        #else
        action.__sigaction_u.__sa_handler = handler ?? SIG_IGN
        #endif
        action.sa_flags = SA_RESTART
        sigemptyset(&action.sa_mask)
        var previous = sigaction()
        guard sigaction(signal, &action, &previous) == 0 else { return false }
        saved.append((signal, previous))
        #if os(Linux)
        return previous.__sigaction_handler.sa_handler == nil
        #else
        return previous.__sigaction_u.__sa_handler == nil
        #endif
    }

    func restore() {
        for (signal, previous) in saved.reversed() {
            var previous = previous
            sigaction(signal, &previous, nil)
        }
    }
}

/// A NULL-terminated array of C strings for argv/envp, zeroed and freed
/// when no longer needed (envp holds secret values).
final class CStringArray {
    let pointers: [UnsafeMutablePointer<CChar>?]

    convenience init(_ strings: [String]) {
        self.init(strings.map { Array($0.utf8) })
    }

    init(_ strings: [[UInt8]]) {
        pointers = strings.map { bytes in
            let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
            pointer.withMemoryRebound(to: UInt8.self, capacity: bytes.count + 1) { target in
                bytes.withUnsafeBufferPointer { source in
                    if let base = source.baseAddress { target.update(from: base, count: bytes.count) }
                }
                target[bytes.count] = 0
            }
            return pointer
        } + [nil]
    }

    deinit {
        for pointer in pointers {
            guard let pointer else { continue }
            memset(pointer, 0, strlen(pointer))
            pointer.deallocate()
        }
    }
}
