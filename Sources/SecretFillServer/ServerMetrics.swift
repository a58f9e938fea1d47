import HTTPTypes
import NIOConcurrencyHelpers
import Prometheus
import SecretFillAPI
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The server's counters, served at `/metrics` on `--metrics-listen` in
/// Prometheus' text format (swift-prometheus' registry, held here and
/// passed where it is needed: no global metrics system).
///
/// Every label has a bounded set of values: a route is its template
/// (`/v1/resolve`, `/ui/project/:id`) or `unmatched`, a method one of the
/// standard ones or `other`, a status a number, a refusal one of
/// `refusalReasons`. No name, key, id, request id, token or value is ever
/// a label or a value. Counting is a few atomic adds (and one short lock
/// to find a labelled counter): nothing is held across an await.
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    let resolves: Counter
    let resolvedNames: Counter
    let auditWrites: Counter
    let auditFailures: Counter
    let databaseCalls: Counter
    let databaseErrors: Counter
    let databaseDuration: DurationHistogram
    let connectionsInUse: Gauge
    let keyCacheHits: Counter
    let keyCacheMisses: Counter
    let jwksFetches: Counter
    let processStart: Gauge
    private let refusals: [String: Counter]
    /// The labelled request series met so far (their labels are bounded, so
    /// are these). Asking the registry for them at every request, which
    /// checks the name, help text, labels and buckets each time, was 1.5% of
    /// the server's CPU under bench/server.sh's resolve load (perf).
    private let requestSeries = NIOLockedValueBox<[RequestSeriesKey: RequestSeries]>([:])

    private struct RequestSeriesKey: Hashable {
        let route, method: String
        let status: Int
    }

    private struct RequestSeries {
        let count: Counter
        let duration: DurationHistogram
    }

    static let refusalReasons = ["unauthenticated", "forbidden", "rate_limited", "too_large", "invalid"]
    static let methods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"]
    static let requestBuckets: [Duration] = [.milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                                             .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                                             .milliseconds(2500), .seconds(5), .seconds(10)]

    public init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        func counter(_ name: String, _ help: String) -> Counter {
            registry.makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "total", helpText: help), labels: [])
        }
        resolves = counter("secretfill_resolves", "Resolve requests answered with values (successful resolves only).")
        resolvedNames = counter("secretfill_resolved_names", "Names found by successful resolves.")
        auditWrites = counter("secretfill_audit_writes", "Operations whose audit row was written.")
        auditFailures = counter("secretfill_audit_failures", "Operations refused or failed because their audit row could not be written.")
        databaseCalls = counter("secretfill_db_calls", "Calls to the database (a transaction, a session or one statement).")
        databaseErrors = counter("secretfill_db_errors", "Database calls that failed (not refusals).")
        databaseDuration = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(metricName: "secretfill_db_call_duration", unitName: "seconds", helpText: "Time of each database call."),
            labels: [], buckets: Self.requestBuckets)
        connectionsInUse = registry.makeGauge(
            descriptor: MetricNameDescriptor(metricName: "secretfill_db_pool_connections_in_use", unitName: "", helpText: "Database connections leased at the scrape."),
            labels: [])
        keyCacheHits = counter("secretfill_key_cache_hits", "API keys found in the one-second key cache.")
        keyCacheMisses = counter("secretfill_key_cache_misses", "API keys looked up in the database.")
        jwksFetches = counter("secretfill_oidc_jwks_fetches", "Fetches of an OIDC issuer's discovery document and key set (a cached set costs none).")
        processStart = registry.makeGauge(
            descriptor: MetricNameDescriptor(metricName: "process_start_time", unitName: "seconds", helpText: "Start time of the process since the Unix epoch, in seconds."),
            labels: [])
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        processStart.set(Double(now.tv_sec) + Double(now.tv_nsec) / 1e9)
        var refusals: [String: Counter] = [:]
        for reason in Self.refusalReasons {
            refusals[reason] = registry.makeCounter(
                descriptor: MetricNameDescriptor(metricName: "secretfill_refusals", unitName: "total", helpText: "Requests refused, by reason."),
                labels: [("reason", reason)])
        }
        self.refusals = refusals
    }

    /// The route label: the matched template, else `unmatched` (never the raw path).
    static func route(_ endpointPath: String?, path: String) -> String {
        if let endpointPath, endpointPath.hasPrefix("/") { return endpointPath }
        // A known API path asked with another method (405) keeps its name.
        if Routes.methods[path] != nil { return path }
        return "unmatched"
    }

    static func method(_ method: HTTPRequest.Method) -> String {
        methods.contains(method.rawValue) ? method.rawValue : "other"
    }

    /// The refusal reason of a status, if it is one.
    static func refusalReason(status: Int) -> String? {
        switch status {
        case 401: "unauthenticated"
        case 403: "forbidden"
        case 429: "rate_limited"
        case 413: "too_large"
        case 400, 405: "invalid"
        default: nil
        }
    }

    /// One HTTP request, answered or refused.
    func request(route: String, method: String, status: Int, duration: Duration) {
        let key = RequestSeriesKey(route: route, method: method, status: (100...599).contains(status) ? status : 500)
        let series = requestSeries.withLockedValue { known in
            if let series = known[key] { return series }
            let series = makeRequestSeries(key)
            known[key] = series
            return series
        }
        series.count.increment()
        series.duration.record(duration)
        if let reason = Self.refusalReason(status: status) { refusals[reason]?.increment() }
    }

    private func makeRequestSeries(_ key: RequestSeriesKey) -> RequestSeries {
        RequestSeries(
            count: registry.makeCounter(
                descriptor: MetricNameDescriptor(metricName: "secretfill_http_requests", unitName: "total", helpText: "HTTP requests, by route template, method and status."),
                labels: [("route", key.route), ("method", key.method), ("status", String(key.status))]),
            duration: registry.makeDurationHistogram(
                descriptor: MetricNameDescriptor(metricName: "secretfill_http_request_duration", unitName: "seconds", helpText: "Time to answer each HTTP request, refused ones included."),
                labels: [("route", key.route)], buckets: Self.requestBuckets))
    }

    func resolved(names: Int) {
        resolves.increment()
        resolvedNames.increment(by: Int64(names))
    }

    /// Times one database call and counts it (an error that is a refusal of the request is not the database's).
    func databaseCall<R>(_ body: () async throws -> R) async throws -> R {
        let start = ContinuousClock.now
        databaseCalls.increment()
        defer { databaseDuration.record(ContinuousClock.now - start) }
        do {
            return try await body()
        } catch let refusal as ServerRefusal {
            throw refusal
        } catch {
            databaseErrors.increment()
            throw error
        }
    }

    /// Counts an operation that writes an audit row: written when `body`
    /// returns, failed when it throws anything but a refusal.
    func audited<R>(_ body: () async throws -> R) async throws -> R {
        do {
            let result = try await body()
            auditWrites.increment()
            return result
        } catch let refusal as ServerRefusal {
            throw refusal
        } catch {
            auditFailures.increment()
            throw error
        }
    }

    /// The scrape: the text format, with the pool gauge read now.
    func scrape(connectionsInUse current: Int) -> [UInt8] {
        connectionsInUse.set(Int64(current))
        return registry.emitToBuffer()
    }
}
