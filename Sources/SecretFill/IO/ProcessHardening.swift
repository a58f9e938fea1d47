#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Keeps the key and decrypted values out of core dumps and crash output.
///
/// `apply()` runs first thing in `main`, before any key or value is in
/// memory:
/// - the soft `RLIMIT_CORE` becomes 0 (the value it had is kept in
///   `originalCoreLimit`, for a command that starts a child to restore);
/// - the process is made non-dumpable (`PR_SET_DUMPABLE` 0 on Linux), so no
///   core is written and other processes of the user cannot read its memory;
/// - SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP and SIGABRT get a handler that
///   writes one fixed line and `_exit`s with 128 + the signal. It replaces the
///   Swift runtime's backtracer (installed before `main`, and enabled by
///   `SWIFT_BACKTRACE=enable=yes`), which prints registers and the memory
///   beside them: bytes of the key. The handler runs on its own stack, so a
///   stack overflow still reaches it.
public enum ProcessHardening {
    public static let fatalSignals: [Int32] = [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT]

    /// The soft core-file limit the process started with, or nil before
    /// `apply()` (or when it could not be read).
    nonisolated(unsafe) public private(set) static var originalCoreLimit: rlim_t?

    /// Whether `apply()` has run.
    nonisolated(unsafe) public private(set) static var isApplied = false

    /// The line a fatal signal prints (N is the signal number).
    public static let fatalMessage = "secretfill: fatal signal N; no memory contents are printed"

    private static let handler: @convention(c) (Int32) -> Void = { signal in
        let head: StaticString = "secretfill: fatal signal "
        let tail: StaticString = "; no memory contents are printed\n"
        var digits: (UInt8, UInt8, UInt8) = (0x30 + UInt8(truncatingIfNeeded: (signal / 100) % 10),
                                              0x30 + UInt8(truncatingIfNeeded: (signal / 10) % 10),
                                              0x30 + UInt8(truncatingIfNeeded: signal % 10))
        _ = write(2, head.utf8Start, head.utf8CodeUnitCount)
        withUnsafeBytes(of: &digits) { raw in
            let skip = signal >= 100 ? 0 : signal >= 10 ? 1 : 2
            _ = write(2, raw.baseAddress! + skip, 3 - skip)
        }
        _ = write(2, tail.utf8Start, tail.utf8CodeUnitCount)
        _exit(128 + signal)
    }

    /// Applies everything above; safe to call more than once.
    public static func apply() {
        guard !isApplied else { return }
        isApplied = true
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_CORE.rawValue), &limit) == 0 {
            originalCoreLimit = limit.rlim_cur
            limit.rlim_cur = 0
            setrlimit(Int32(RLIMIT_CORE.rawValue), &limit)
        }
        setNotDumpable()
        installAlternateStack()
        for signal in fatalSignals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = handler
            sigfillset(&action.sa_mask)
            action.sa_flags = Int32(SA_ONSTACK)
            sigaction(signal, &action, nil)
        }
    }

    /// Gives this process back the soft core-file limit the user started
    /// secretfill with (the hard limit stays), just before it starts a
    /// program (`execve`, `posix_spawn`) so the program inherits it; call
    /// `disableCoreDumps()` right after a spawn. The process stays not
    /// dumpable meanwhile, so its own memory still reaches no core. Does
    /// nothing when `apply()` has not run.
    public static func restoreCoreLimit() {
        guard let originalCoreLimit else { return }
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_CORE.rawValue), &limit) == 0 else { return }
        limit.rlim_cur = min(originalCoreLimit, limit.rlim_max)
        setrlimit(Int32(RLIMIT_CORE.rawValue), &limit)
    }

    /// Sets the soft core-file limit to 0 again (after `restoreCoreLimit`).
    public static func disableCoreDumps() {
        guard isApplied else { return }
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_CORE.rawValue), &limit) == 0 else { return }
        limit.rlim_cur = 0
        setrlimit(Int32(RLIMIT_CORE.rawValue), &limit)
    }

    /// `prctl(PR_SET_DUMPABLE, 0)`. prctl is variadic, which Swift cannot
    /// call, so it is looked up and called through a fixed signature (its
    /// integer arguments are passed the same way on Linux's ABIs).
    private static func setNotDumpable() {
        #if os(Linux)
        typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "prctl") else { return }
        let prctl = unsafeBitCast(symbol, to: Prctl.self)
        _ = prctl(4 /* PR_SET_DUMPABLE */, 0, 0, 0, 0)
        #endif
    }

    private static func installAlternateStack() {
        let size = 64 * 1024
        guard let memory = malloc(size) else { return }
        var stack = stack_t()
        stack.ss_sp = memory
        stack.ss_size = size
        stack.ss_flags = 0
        if sigaltstack(&stack, nil) != 0 { free(memory) }
    }
}
