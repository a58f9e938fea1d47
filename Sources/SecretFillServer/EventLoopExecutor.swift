import Atomics
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Makes NIO's event-loop threads Swift Concurrency's global executor, so a
/// request's handler, its database queries and its socket writes run on
/// the threads that do the request's I/O.
///
/// Why not NIO's own take-over (`NIOSingletons.unsafeTryInstall…
/// AsConcurrencyGlobalExecutor()`): it runs each job as the event loop's
/// *serial executor*. Code that is not isolated to an actor runs on
/// the *generic* executor, so at every point where such code has to be on
/// it (after most `await`s, at the start of many async functions), the
/// runtime sees another executor than the one it needs and sends the task
/// round the event loop's queue once more before it goes on. Under load
/// that round trip was a tenth of the server's CPU (`perf` of
/// `POST /v1/resolve`: `swift_task_switch` enqueuing the task again, 9%,
/// plus the loop's work to run it).
///
/// Here a job runs on the generic executor with the global concurrent
/// executor as its task executor, which is where the runtime expects
/// nonisolated code to be: no second round. Jobs still go to the event loop
/// the enqueuing thread is on (`any()` keeps to the current loop), so no
/// thread hop is added either. Actor jobs run as before: an actor's job
/// takes the actor's own executor whatever it is started on.
///
/// Held to the standard of NIO's own take-over
/// (`PosixSingletons+ConcurrencyTakeOver.swift`): a compiler-version gate
/// (the hook's type is the runtime's private business and may change), a
/// compare-and-swap install that never overwrites a hook someone else set,
/// each unsafe step labelled, and the result returned, logged at start
/// (`serve` says whether it is installed) and checked by a test.
enum EventLoopExecutor {
    /// What the runtime calls to enqueue a job on the global executor; the
    /// second argument is the executor it would have used.
    typealias EnqueueHook = @convention(thin) (UnownedJob, @convention(thin) (UnownedJob) -> Void) -> Void

    private static let called = ManagedAtomic(false)
    /// The task executor jobs run on; made once, not per job.
    private static let taskExecutor = globalConcurrentExecutor.asUnownedTaskExecutor()

    /// Why the hook is or is not in place, for the start-up log line.
    enum Outcome: Sendable, Equatable, CustomStringConvertible {
        case installed
        /// This compiler is newer than the versions the hook's type was checked against.
        case unsupportedCompiler
        /// The runtime exports no `swift_task_enqueueGlobal_hook`.
        case noHook
        /// Another hook was set first (NIO's, or anyone's): left as it is.
        case alreadySet
        /// `SECRETFILL_EXECUTOR_HOOK=off`: not tried (for bench/server.sh's A/B).
        case turnedOff

        var description: String {
            switch self {
            case .installed: "installed: tasks run on NIO's event loops as the generic executor"
            case .unsupportedCompiler: "not installed: this compiler is newer than the hook was checked with; tasks use Swift's own pool"
            case .noHook: "not installed: the Swift runtime has no enqueue hook; tasks use Swift's own pool"
            case .alreadySet: "not installed: another enqueue hook was set first and is left in place"
            case .turnedOff: "not installed: SECRETFILL_EXECUTOR_HOOK=off; tasks use Swift's own pool"
            }
        }
    }

    /// Installs the hook unless `environment` has `SECRETFILL_EXECUTOR_HOOK=off`.
    /// Call it once, on the main thread, before any async work starts.
    static func install(environment: [String: String] = [:]) -> Outcome {
        precondition(called.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged,
                     "EventLoopExecutor.install() must be called once")
        if environment["SECRETFILL_EXECUTOR_HOOK"] == "off" { return .turnedOff }
        // The hook's type was checked against Swift 6.0 to 6.3's runtime
        // (swift/stdlib/public/Concurrency/GlobalExecutor.cpp). As NIO does,
        // the gate names the oldest compiler supported and the newest tested:
        // a newer toolchain runs on Swift's own pool until someone checks
        // the hook's type again and moves the upper bound.
        #if /* minimum supported */ compiler(>=6.0) && /* maximum tested */ compiler(<6.4)
        // Unsafe 1: the exported variable is taken to hold a pointer to an
        // `EnqueueHook`, which the runtime does not formally promise.
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "swift_task_enqueueGlobal_hook") else { return .noHook }
        let slot = UnsafeAtomic<UnsafeRawPointer?>(at: symbol.assumingMemoryBound(to: UnsafeRawPointer?.AtomicRepresentation.self))
        // Unsafe 2 and 3: the closure below is taken to be a plain function
        // pointer, and that pointer to be storable as a raw pointer.
        let entry = hookEntryPoint()
        // Unsafe 4: a compare-and-swap protects only against others who
        // also compare and swap; a plain write elsewhere could still race.
        guard slot.compareExchange(expected: nil, desired: entry, ordering: .sequentiallyConsistent).exchanged else { return .alreadySet }
        return .installed
        #else
        return .unsupportedCompiler
        #endif
    }

    /// Runs `job` on the event loop the caller is on (any loop, off them).
    private static func enqueue(_ job: UnownedJob) {
        MultiThreadedEventLoopGroup.singleton.any().execute { job.runSynchronously(on: taskExecutor) }
    }

    /// The hook's entry point: a thin function value is one.
    private static func hookEntryPoint() -> UnsafeRawPointer {
        withUnsafeTemporaryAllocation(of: EnqueueHook.self, capacity: 1) { hook in
            hook.baseAddress!.initialize(to: { job, _ in EventLoopExecutor.enqueue(job) })
            return hook.baseAddress!.withMemoryRebound(to: UnsafeRawPointer.self, capacity: 1) { $0.pointee }
        }
    }
}
