#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Removes the temporary file being written when SIGINT, SIGTERM, SIGHUP or
/// SIGPIPE ends the process, so a killed `render -o`, `env -o` or store write
/// leaves no `.NAME.tmp-PID-…` holding secrets behind.
///
/// The path sits in a buffer allocated once, and the handler only calls
/// `unlink`, `sigaction` and `raise` (all async-signal-safe), then lets the
/// signal end the process as it would have. A signal the process ignores
/// (`nohup`, or SIGPIPE, which the commands ignore to see EPIPE) stays
/// ignored: it cannot end the process, and the normal error path removes
/// the file. One temporary file is guarded at a time (secretfill is single
/// threaded where it writes).
enum TemporaryFileGuard {
    static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGPIPE]
    private static let capacity = Int(PATH_MAX) + 1

    /// The guarded path, NUL-terminated; an empty string when disarmed.
    /// Allocated on first use, before any handler can read it.
    nonisolated(unsafe) private static let path: UnsafeMutablePointer<CChar> = {
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: capacity)
        buffer.initialize(repeating: 0, count: capacity)
        return buffer
    }()

    /// The actions in place before `arm`, restored by `disarm`.
    nonisolated(unsafe) private static var previous: [Int32: sigaction] = [:]

    private static let handler: @convention(c) (Int32) -> Void = { signal in
        let path = TemporaryFileGuard.path
        if path[0] != 0 { unlink(path) }
        var action = sigaction()
        action.__sigaction_handler.sa_handler = SIG_DFL
        sigemptyset(&action.sa_mask)
        sigaction(signal, &action, nil)
        raise(signal)
    }

    /// Blocks the guarded signals; returns the mask to restore.
    static func blockSignals() -> sigset_t {
        var set = sigset_t(), old = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        sigprocmask(SIG_BLOCK, &set, &old)
        return old
    }

    static func restoreSignals(_ mask: sigset_t) {
        var mask = mask
        sigprocmask(SIG_SETMASK, &mask, nil)
    }

    /// Guards `file` (call with the signals blocked, right after creating it).
    static func arm(_ file: String) {
        let fits = file.utf8.count < capacity
        if fits {
            file.withCString { source in _ = strcpy(path, source) }
        } else {
            path[0] = 0
        }
        guard previous.isEmpty else { return }
        for signal in signals {
            var current = sigaction()
            sigaction(signal, nil, &current)
            // SIG_IGN is the handler value 1; C function pointers do not compare in Swift.
            if unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self) == 1 { continue }
            var action = sigaction()
            action.__sigaction_handler.sa_handler = handler
            sigemptyset(&action.sa_mask)
            for other in signals { sigaddset(&action.sa_mask, other) }
            sigaction(signal, &action, nil)
            previous[signal] = current
        }
    }

    /// Stops guarding (the file was renamed or removed) and puts the
    /// previous signal actions back.
    static func disarm() {
        let blocked = blockSignals()
        path[0] = 0
        for (signal, action) in previous {
            var action = action
            sigaction(signal, &action, nil)
        }
        previous = [:]
        restoreSignals(blocked)
    }
}
