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
enum EventLoopExecutor {
    /// What the runtime calls to enqueue a job on the global executor; the
    /// second argument is the executor it would have used.
    typealias EnqueueHook = @convention(thin) (UnownedJob, @convention(thin) (UnownedJob) -> Void) -> Void

    nonisolated(unsafe) private static var installed = false
    /// The task executor jobs run on; made once, not per job.
    private static let taskExecutor = globalConcurrentExecutor.asUnownedTaskExecutor()

    /// Installs the hook. Call it once, on the main thread, before any
    /// async work starts. False when the runtime has no hook to set or
    /// another one is already set (then nothing changes).
    static func install() -> Bool {
        precondition(!installed, "EventLoopExecutor.install() must be called once")
        installed = true
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "swift_task_enqueueGlobal_hook") else { return false }
        let slot = symbol.assumingMemoryBound(to: UnsafeRawPointer?.self)
        guard slot.pointee == nil else { return false }
        slot.pointee = hookEntryPoint()
        return true
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
