import Hummingbird
import HTTPTypes

/// The headers every response carries (pages, the stylesheet, redirects,
/// errors): a strict Content-Security-Policy (no script at all, no framing,
/// forms only to this server), nosniff, no referrer. Pages behind the
/// sign-in also get `Cache-Control: no-store` (set where they are made).
public struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    /// Made once (a generic type cannot hold a stored static): every response adds them.
    public static var headers: HTTPFields { SecurityHeaderFields.all }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            var response = try await next(request, context)
            for field in Self.headers where response.headers[field.name] == nil { response.headers.append(field) }
            return response
        } catch let error as HTTPError {
            var error = error
            for field in Self.headers where error.headers[field.name] == nil { error.headers.append(field) }
            throw error
        }
    }
}

enum SecurityHeaderFields {
    static let all: HTTPFields = [
        .contentSecurityPolicy: WebUI.contentSecurityPolicy,
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        HTTPField.Name("Referrer-Policy")!: "no-referrer",
        HTTPField.Name("X-Frame-Options")!: "DENY",
    ]
}
