import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTPTypes
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What one connection may hold: a request's whole head within
/// `headSeconds` of its first byte (or of the connection opening), and an
/// idle keep-alive of `idleSeconds` between requests. A client that sends a
/// header line every two seconds is closed at `headSeconds`, not kept alive
/// by each line as an idle-read timeout would.
struct ConnectionLimits: Sendable {
    var headSeconds: Int64 = 10
    var idleSeconds: Int64 = 60
    /// Connections open at once; one more is accepted and closed at once.
    var maximumConnections: Int
}

/// The descriptors the server keeps for itself besides connections: the
/// database pool, the SQLite files, logs, the listening socket, the event
/// loops' own descriptors and some room.
enum DescriptorBudget {
    static let reserved = 128

    /// Raises the soft descriptor limit to the hard one (many hosts start
    /// services at 1024) and returns the soft limit in force.
    static func raiseSoftLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return limit.rlim_cur > rlim_t(Int.max) ? Int.max : Int(limit.rlim_cur)
    }

    /// `--max-connections` when not given: what the descriptor limit leaves
    /// after `reserved`, at most 100,000.
    static func defaultMaximumConnections(softLimit: Int) -> Int {
        max(16, min(100_000, softLimit - reserved))
    }
}

/// Counts open connections for the cap.
final class ConnectionCount: Sendable {
    private let open = NIOLockedValueBox(0)
    let maximum: Int

    init(maximum: Int) { self.maximum = maximum }

    /// Takes a place, or returns false when all are taken.
    func take() -> Bool {
        open.withLockedValue { open in
            guard open < maximum else { return false }
            open += 1
            return true
        }
    }

    func release() { open.withLockedValue { $0 -= 1 } }
}

struct ConnectionCapReached: Error {}

/// Hummingbird's HTTP/1 channel (inside TLS, when serving TLS) with the
/// cap and the deadlines: a connection over the cap is closed before any
/// handler is added; the others get `RawBytesWatch` ahead of the HTTP
/// decoder (it sees a request start) and `RequestPartsWatch` after it (it
/// sees the head complete and the response end). The HTTP/1 channel is
/// made per connection, so that its extra handler can share the
/// connection's timers.
struct GuardedHTTP1Channel: HTTPChannelHandler {
    typealias Value = HTTP1Channel.Value
    let responder: Responder
    let limits: ConnectionLimits
    let count: ConnectionCount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        guard count.take() else {
            // Accepted only to be closed: the client sees the connection end
            // at once, and requests in progress keep their descriptors.
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(ConnectionCapReached())
        }
        let count = self.count
        channel.closeFuture.whenComplete { _ in count.release() }
        let timers = ConnectionTimers(channel: channel, limits: limits)
        do {
            try channel.pipeline.syncOperations.addHandler(RawBytesWatch(timers: timers))
        } catch {
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(error)
        }
        timers.connectionOpened()
        let http = HTTP1Channel(responder: responder, configuration: .init(additionalChannelHandlers: [RequestPartsWatch(timers: timers)]))
        return http.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await HTTP1Channel(responder: responder).handle(value: value, logger: logger)
    }
}

/// The two deadlines of one connection. Used only on its channel's event
/// loop (every handler callback runs there), so it needs no lock.
///
/// One timer, moved only when a deadline comes earlier than it: a request
/// on a kept-alive connection sets two deadlines (its head's, then the idle
/// one after its answer) and clears one, and scheduling and cancelling an
/// event-loop task for each was a measurable part of a resolve's CPU
/// (bench/server.sh, BENCHMARKS.md). When the timer fires before the
/// current deadline it is set again for that deadline; when it fires with
/// none (a request in progress) it stops until the next one is set.
final class ConnectionTimers: @unchecked Sendable {
    enum State { case readingHead, inRequest, idle }

    private let channel: any Channel
    private let limits: ConnectionLimits
    private var state = State.readingHead
    /// When the connection is closed unless something happens first; nil while a request is in progress.
    private var deadline: NIODeadline?
    private var timer: Scheduled<Void>?
    private var timerAt = NIODeadline.distantFuture
    private var ended = false

    init(channel: any Channel, limits: ConnectionLimits) {
        self.channel = channel
        self.limits = limits
    }

    func connectionOpened() { limit(seconds: limits.headSeconds) }

    /// Bytes arrived: a new request's head starts when the connection was idle.
    func bytesArrived() {
        guard state == .idle else { return }
        state = .readingHead
        limit(seconds: limits.headSeconds)
    }

    func headComplete() {
        state = .inRequest
        deadline = nil
    }

    func responseEnded() {
        state = .idle
        limit(seconds: limits.idleSeconds)
    }

    func closed() {
        ended = true
        deadline = nil
        timer?.cancel()
        timer = nil
    }

    private func limit(seconds: Int64) {
        let at = NIODeadline.now() + .seconds(seconds)
        deadline = at
        if timer == nil || timerAt > at { schedule(at) }
    }

    private func schedule(_ at: NIODeadline) {
        guard !ended else { return }
        timer?.cancel()
        timerAt = at
        timer = channel.eventLoop.scheduleTask(deadline: at) { [self] in fired() }
    }

    private func fired() {
        timer = nil
        guard let deadline else { return }
        if deadline <= .now() {
            channel.close(promise: nil)
        } else {
            schedule(deadline)
        }
    }
}

/// Ahead of the HTTP decoder: sees raw bytes arrive.
final class RawBytesWatch: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    let timers: ConnectionTimers

    init(timers: ConnectionTimers) { self.timers = timers }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        timers.bytesArrived()
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timers.closed()
        context.fireChannelInactive()
    }
}

/// After the HTTP decoder: sees a head complete and a response end.
final class RequestPartsWatch: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart
    let timers: ConnectionTimers

    init(timers: ConnectionTimers) { self.timers = timers }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) { timers.headComplete() }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { timers.responseEnded() }
        context.write(data, promise: promise)
    }
}
