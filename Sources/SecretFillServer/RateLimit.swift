import Hummingbird
import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import SecretFillAPI

/// Requests per second per caller, as token buckets held in memory: a
/// bucket holds up to `rate` requests and refills at `rate` a second. A
/// caller is a key (for a request whose token this server has already
/// accepted) or a client address (for every other request), so one key's
/// burst does not slow another key's requests from the same address, and a
/// flood of made-up tokens is limited by its address before any of them
/// reaches the database.
final class RateLimiter: Sendable {
    struct Bucket {
        var tokens: Double
        var last: UInt64
    }

    let rate: Double
    private let buckets = NIOLockedValueBox<[String: Bucket]>([:])
    /// Buckets kept at most; past this, full ones (idle for a second) are dropped.
    static let keptBuckets = 50_000

    init(perSecond rate: Int) {
        self.rate = Double(rate)
    }

    /// nil when the request may go ahead, else the seconds to wait.
    func admit(_ caller: String, now: UInt64 = NIODeadline.now().uptimeNanoseconds) -> Int? {
        buckets.withLockedValue { buckets in
            var bucket = buckets[caller] ?? Bucket(tokens: rate, last: now)
            let elapsed = Double(now &- bucket.last) / 1e9
            bucket.tokens = min(rate, bucket.tokens + elapsed * rate)
            bucket.last = now
            let wait: Int?
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                wait = nil
            } else {
                wait = max(1, Int(((1 - bucket.tokens) / rate).rounded(.up)))
            }
            if buckets.count >= Self.keptBuckets, buckets[caller] == nil {
                buckets = buckets.filter { now &- $0.value.last < 1_000_000_000 }
            }
            buckets[caller] = bucket
            return wait
        }
    }
}

/// Applies `RateLimiter` before any route runs (so before any database
/// work): 429 with `Retry-After` when a caller is over its rate.
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = ServerRequestContext
    let limiter: RateLimiter
    let keyCache: KeyCache

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let presented = context.presentedKey(request)
        context.presented = presented
        let caller = Self.caller(presented, client: context.client, keyCache: keyCache)
        guard let wait = limiter.admit(caller.bucket) else { return try await next(request, context) }
        let message = "too many requests from \(caller.shown) (more than \(Int(limiter.rate)) a second); retry after \(wait) s"
        // The Paperspace routes answer `{"message": …}` alone, this one too.
        var response = PaperspaceRoutes.methods(for: request.uri.path) == nil
            ? Routes.error(.tooManyRequests, message, reason: "rate_limited")
            : PaperspaceRoutes.message(.tooManyRequests, message)
        response.headers[.retryAfter] = "\(wait)"
        return response
    }

    /// Whose bucket a request draws from: its key's, when the key was
    /// accepted in the last second, else its address's.
    enum Caller {
        case key(String)
        case address(String)

        var bucket: String {
            switch self {
            case .key(let name): "key:" + name
            case .address(let address): "address:" + address
            }
        }

        /// As the refusal names it (built only for a refusal).
        var shown: String {
            switch self {
            case .key(let name): "key '\(name)'"
            case .address: "this address"
            }
        }
    }

    static func caller(_ presented: PresentedKey, client: String, keyCache: KeyCache) -> Caller {
        if let digest = presented.digest, let entry = keyCache.entry(digest: digest, now: Clock.nowMillis()) {
            return .key(entry.record.name)
        }
        return .address(client)
    }
}
