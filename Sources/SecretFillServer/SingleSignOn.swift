import Crypto
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import SecretFill
import SecretFillAPI
import SecretFillJWT
import SecretFillWebUI

/// Issue 25: a person's sign-in through the company's identity provider,
/// the server's half. A sign-in starts with a pending row (`oidc_pending`,
/// under the SHA-256 of its `state`, bound to the browser by the digest of
/// a `SameSite=Lax` cookie, with the PKCE verifier and the nonce) and ends
/// at the callback, which deletes that row whatever happens (so a `state`
/// is used once), exchanges the code with the verifier, checks the ID token
/// (`IDTokenCheck`), and signs in only a member (by email or a group of the
/// ID token). Every refusal is audited as a denied `session.start` with the
/// check that failed; none shows or logs a code, a token or a secret.
struct ServerSingleSignOn: WebUISingleSignOn {
    let store: ServerStore
    let provider: OIDCProvider
    /// `--public-url`, else the address the server listens on (known once it does).
    let publicURL: PublicURL

    /// The redirect URI registered at the provider.
    var redirectURI: String { publicURL.base + "/ui/oidc/callback" }

    var providerName: String { provider.settings.displayName }

    var providerOrigin: String {
        let endpoint = provider.authorizationEndpoint
        guard let schemeEnd = endpoint.range(of: "://") else { return endpoint }
        let rest = endpoint[schemeEnd.upperBound...]
        return String(endpoint[..<schemeEnd.upperBound]) + rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
    }

    func begin(binding: String, cli: CLISignIn?, client: String) async throws -> String {
        let state = BearerText.random(bytes: 32)
        let nonce = BearerText.random(bytes: 32)
        let verifier = BearerText.random(bytes: 32)
        let now = Clock.nowMillis()
        let stale = now - WebUI.pendingSeconds * 1000
        try await store.run { rows in
            // Sign-ins never finished are gone after 10 minutes.
            try await rows.dropPendingSignIns(before: stale)
            try await rows.insertPendingSignIn(stateDigest: BearerText.digest(state), binding: binding, verifier: verifier, nonce: nonce, at: now, cli: cli)
        }
        return provider.authorizationURL(state: state, nonce: nonce, codeChallenge: BearerText.s256(verifier), redirectURI: redirectURI)
    }

    struct Pending: Sendable {
        let binding, verifier, nonce: String
        let created: Int
        let cli: CLISignIn?
    }

    func finish(_ callback: SignInCallback, binding: String?, client: String) async -> SignInOutcome {
        let refusedTitle = "Not signed in"
        func refuse(_ check: String, _ words: String, actor: String = "-", status: HTTPResponse.Status = .badRequest, cli: CLISignIn? = nil) async -> SignInOutcome {
            // Audited as a denied sign-in, with the check that failed (never the code or a token).
            _ = try? await store.run(audited: true) { rows in
                var record = AuditRecord(time: Clock.nowMillis(), key: actor, action: "session.start", scope: "-", names: [], client: client, outcome: "denied")
                record.detail = (cli == nil ? "sso: " : "sso (cli): ") + check
                try await rows.insertAudit(record)
            }
            // secretfill login hears why at its loopback address (words only: never a code or a token).
            if let cli { return .redirect(cli.redirect + "&error=" + FormEncoding.component(words)) }
            return .refused(status: status, title: status == .forbidden && actor != "-" ? "Not a member" : refusedTitle, words: words)
        }
        guard let state = callback.state, !state.isEmpty, state.utf8.count <= 512 else {
            return await refuse("state", "the identity provider's answer carries no state, so it cannot be matched to a sign-in started here; sign in again")
        }
        // The pending sign-in is deleted as it is read: a state is used once.
        let pending: Pending?
        do {
            pending = try await store.run { rows in try await rows.takePendingSignIn(stateDigest: BearerText.digest(state)) }
        } catch {
            return .unavailable
        }
        guard let pending else {
            return await refuse("state", "this sign-in is not one this server started, or it was finished already (its state is unknown or was used before); sign in again")
        }
        guard Clock.nowMillis() - pending.created <= WebUI.pendingSeconds * 1000 else {
            return await refuse("state-expired", "this sign-in was started more than 10 minutes ago; sign in again", cli: pending.cli)
        }
        guard let binding, BearerText.constantTimeEqual(binding, pending.binding) else {
            return await refuse("browser", "this sign-in was started in another browser (or its cookie is gone); sign in again from this browser", cli: pending.cli)
        }
        if let error = callback.error {
            let code = OIDCProvider.shownErrorCode(error)
            let words = code == "access_denied"
                ? "the identity provider did not sign you in (access_denied: the sign-in was declined or cancelled)"
                : "the identity provider did not sign you in (\(code ?? "an error it did not name in a form secretfill can show"))"
            return await refuse("provider-error", words, cli: pending.cli)
        }
        guard let code = callback.code, !code.isEmpty, code.utf8.count <= 4096 else {
            return await refuse("code", "the identity provider's answer carries no sign-in code; sign in again", cli: pending.cli)
        }
        let idToken: String
        do {
            idToken = try await provider.exchange(code: code, verifier: pending.verifier, redirectURI: redirectURI)
        } catch {
            return await refuse(error.check, error.description, status: error.check == "token-endpoint" ? .badGateway : .badRequest, cli: pending.cli)
        }
        let person: IDTokenCheck.Person
        do {
            person = try await provider.check.verify(idToken, nonce: pending.nonce)
        } catch {
            return await refuse(error.check, error.description, cli: pending.cli)
        }
        let actor = ActingKey.personPrefix + person.name
        let groups = person.groups.filter { MemberName.normalized(MemberName.groupPrefix + $0) != nil }.prefix(200)
        let sessionID = BearerText.random(bytes: 32)
        let csrf = BearerText.random(bytes: 32)
        let via = provider.settings.displayName
        if let cli = pending.cli {
            // secretfill login: a one-time code for the CLI's loopback address, exchanged there with its own verifier.
            let code: String?
            do {
                code = try await store.run { rows -> String? in
                    guard try await Self.memberGrants(rows, person: person.name, groups: Array(groups)) != nil else { return nil }
                    return try await ServerStore.storeCLICode(rows, person: person.name, groups: Array(groups), challenge: cli.challenge, via: via)
                }
            } catch {
                return .unavailable
            }
            guard let code else {
                return await refuse("not-a-member", "you (\(ServerStore.shown(person.name))) are not a member of this team; ask an admin to add you (secretfill members add)",
                                    actor: actor, status: .forbidden, cli: cli)
            }
            return .redirect(cli.redirect + "&code=" + code)
        }
        let grants: GrantSet?
        do {
            grants = try await store.run(audited: true) { rows -> GrantSet? in
                guard let grants = try await Self.memberGrants(rows, person: person.name, groups: Array(groups)) else { return nil }
                let now = Clock.nowMillis()
                try await rows.insertSession(idDigest: BearerText.digest(sessionID), keyName: actor, csrfToken: csrf, at: now,
                                             person: person.name, groups: groups.joined(separator: " "), via: via)
                var record = AuditRecord(time: now, key: actor, action: "session.start", scope: "-", names: [], client: client, outcome: "ok")
                record.detail = "sso: \(provider.settings.issuer)"
                try await rows.insertAudit(record)
                return grants
            }
        } catch {
            return .unavailable
        }
        guard grants != nil else {
            return await refuse("not-a-member", "you (\(ServerStore.shown(person.name))) are not a member of this team; ask an admin to add you (secretfill members add)",
                                actor: actor, status: .forbidden)
        }
        return .session(id: sessionID)
    }

    /// The union of the grants of `person` and of every `group:NAME` among
    /// `groups` that is a member; nil when none is.
    static func memberGrants(_ rows: any PeopleRows, person: String, groups: [String]) async throws -> GrantSet? {
        let names = [person] + groups.map { MemberName.groupPrefix + $0 }
        let found = try await rows.memberGrants(among: names)
        guard !found.isEmpty else { return nil }
        var texts: [String] = []
        for grantText in found {
            for grant in grantText.split(separator: " ").map(String.init) where !texts.contains(grant) {
                texts.append(grant)
            }
        }
        return (try? GrantSet(parsing: texts)) ?? GrantSet([])
    }
}


/// The address people's browsers reach the server at: `--public-url`, or
/// the listen address once the listener has its port.
final class PublicURL: Sendable {
    private let value: NIOLockedValueBox<String>
    init(_ base: String) { value = NIOLockedValueBox(base.hasSuffix("/") ? String(base.dropLast()) : base) }
    var base: String { value.withLockedValue { $0 } }
    func set(_ base: String) { value.withLockedValue { $0 = base } }
}
