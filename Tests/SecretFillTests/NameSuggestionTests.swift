import SecretFill
import Testing

@Suite("did you mean")
struct NameSuggestionTests {
    @Test("distance: insertions, deletions, substitutions and neighbour swaps cost 1; case costs nothing")
    func distances() {
        #expect(NameSuggestion.distance("db_password", "db_password") == 0)
        #expect(NameSuggestion.distance("db_pasword", "db_password") == 1)
        #expect(NameSuggestion.distance("db_passwordd", "db_password") == 1)
        #expect(NameSuggestion.distance("db_passwurd", "db_password") == 1)
        #expect(NameSuggestion.distance("db_psasword", "db_password") == 1)
        #expect(NameSuggestion.distance("DB_Password", "db_password") == 0)
        #expect(NameSuggestion.distance("ab", "ba") == 1)
        #expect(NameSuggestion.distance("abc", "ca") == 3, "restricted: no edit of a swapped pair")
        #expect(NameSuggestion.distance("", "abc") == 3)
        #expect(NameSuggestion.distance("abc", "") == 3)
        #expect(NameSuggestion.distance("kitten", "sitting") == 3)
        #expect(NameSuggestion.distance("kitten", "sitting", within: 2) == nil)
        #expect(NameSuggestion.distance("api_key", "api_token", within: 2) == nil)
    }

    @Test("the closest within 2 edits and a third of the length; ties by byte order; never the name itself")
    func closestName() {
        let names = ["api_key", "db_password", "db_url", "redis_url"]
        #expect(NameSuggestion.closest(to: "db_pasword", among: names) == "db_password")
        #expect(NameSuggestion.closest(to: "db_pswrd", among: names) == nil, "3 edits")
        #expect(NameSuggestion.closest(to: "db_ur", among: names) == "db_url")
        #expect(NameSuggestion.closest(to: "ab", among: ["ac"]) == nil, "one edit is half of a 2-character name")
        #expect(NameSuggestion.closest(to: "abc", among: ["abd"]) == "abd")
        #expect(NameSuggestion.closest(to: "abcde", among: ["abxyz"]) == nil)
        #expect(NameSuggestion.closest(to: "token_b", among: ["token_c", "token_a"]) == "token_a", "a tie goes to byte order")
        #expect(NameSuggestion.closest(to: "token_b", among: ["token_a", "token_bb", "tokn_b"]) == "token_a",
                "all at distance 1: the first in byte order")
        #expect(NameSuggestion.closest(to: "api_kex", among: ["api_kexxx", "api_key"]) == "api_key", "1 edit beats 2")
        #expect(NameSuggestion.closest(to: "db_password", among: ["db_password"]) == nil)
        #expect(NameSuggestion.closest(to: "x", among: [String]()) == nil)
        #expect(NameSuggestion.closest(to: "DB_PASSWORD", among: names) == "db_password")
    }

    @Test("the hint: a suggestion only when the name exists in no other scope")
    func hintWording() throws {
        let store = MemoryStore(team: ["db_password": "CANARY-1"], project: ("p", ["api_key": "CANARY-2"]), cluster: ("c", ["db_pasword": "CANARY-3"]))
        var names: [String]?
        let typo = try ScopeHints.hint(for: "api_kye", chain: ScopeChain(project: "p"), in: store, names: &names)
        #expect(typo.elsewhere.isEmpty && typo.suggestion == "api_key")
        #expect(names == ["api_key", "db_password"], "the chain's names, read once")
        #expect(ScopeHints.lookedIn(ScopeChain(project: "p"), elsewhere: typo.elsewhere, suggestion: typo.suggestion)
            == "looked in project p, team; did you mean 'api_key'?")
        let there = try ScopeHints.hint(for: "db_pasword", chain: ScopeChain(project: "p"), in: store, names: &names)
        #expect(there.elsewhere == [.cluster("c")] && there.suggestion == nil)
        #expect(ScopeHints.lookedIn(ScopeChain(), elsewhere: [.cluster("c")], suggestion: "db_password")
            == "looked in team; it exists in cluster c: add --cluster c")
        let far = try ScopeHints.hint(for: "zzz", chain: ScopeChain(), in: store, names: &names)
        #expect(far.elsewhere.isEmpty && far.suggestion == nil)
    }

    @Test("render lists the suggestion with the unknown name; no value in any message")
    func renderSuggests() throws {
        let text = "env:\n- {name: A, value: secret:db_pasword}\n- {name: B, value: secret:nothing_like}\n"
        let result = try render(text, store: MemoryStore(team: ["db_password": "CANARY-VALUE"]), chain: ScopeChain(project: "p"))
        guard case .failure(let problems) = result else {
            Issue.record("rendering should have failed")
            return
        }
        #expect(problems.diagnostics.map(\.formatted) == [
            "spec.yaml:2:20: error: unknown secret 'db_pasword' (looked in project p, team; did you mean 'db_password'?)",
            "spec.yaml:3:20: error: unknown secret 'nothing_like' (looked in project p, team)",
        ])
        #expect(!problems.diagnostics.map(\.message).joined().contains("CANARY"))
    }

    @Test("check suggests from the names alone")
    func checkSuggests() throws {
        let store = MemoryStore(team: ["db_password": "CANARY-VALUE"])
        let job = CheckJob(chain: ScopeChain()) { () throws(StoreError) -> any SecretDirectory in store }
        let report = try job.check([SpecSource(label: "s.yaml", bytes: Array("env:\n- {name: A, value: secret:db_passwrd}\n".utf8))])
        #expect(report.findings.map(\.message) == ["unknown secret 'db_passwrd' (looked in team; did you mean 'db_password'?)"])
        #expect(store.opened.isEmpty, "no value opened")
    }
}

@Suite("a server snapshot's directory")
struct SnapshotDirectoryTests {
    final class Counter: @unchecked Sendable { var calls = 0 }

    static func snapshot(_ counter: Counter, every: Set<Scope.Kind> = [.team, .project, .cluster]) -> ResolvedSecretSnapshot {
        var snapshot = ResolvedSecretSnapshot()
        snapshot.setListing([SecretListing(name: "db_password", updated: "")], for: .team)
        snapshot.setDirectory {
            counter.calls += 1
            return ResolvedSecretSnapshot.NameDirectory(listings: [.team: [SecretListing(name: "db_password", updated: "")],
                                    .project("pr-2"): [SecretListing(name: "tls_key", updated: "")],
                                    .cluster("c-1"): [SecretListing(name: "tls_key", updated: "")]],
                         listsEvery: every)
        }
        return snapshot
    }

    @Test("asked only when a hint needs it, once; answers as the local store would")
    func lazy() throws {
        let counter = Counter()
        let snapshot = Self.snapshot(counter)
        #expect(try snapshot.resolution(of: "db_password", in: ScopeChain())?.from == .team)
        #expect(try snapshot.listing(of: .team).map(\.name) == ["db_password"])
        #expect(counter.calls == 0, "the success path asks nothing more")
        #expect(try ScopeHints.elsewhere("tls_key", outside: ScopeChain(), in: snapshot) == [.project("pr-2"), .cluster("c-1")])
        #expect(try ScopeHints.emptyScope(.project("nope"), in: snapshot) == "project nope holds no secrets (projects with secrets: pr-2)")
        #expect(counter.calls == 1)
    }

    @Test("'no project has any' only from a key that may list every project; without a directory, never")
    func neverFalse() throws {
        let partial = Self.snapshot(Counter(), every: [.team])
        #expect(try ScopeHints.emptyScope(.cluster("c-1x"), in: partial) == "cluster c-1x holds no secrets (clusters with secrets: c-1)")
        var empty = ResolvedSecretSnapshot()
        empty.setListing([], for: .project("nope"))
        #expect(try ScopeHints.emptyScope(.project("nope"), in: empty) == "project nope holds no secrets")
        empty.setDirectory { ResolvedSecretSnapshot.NameDirectory(listings: [:], listsEvery: [.cluster]) }
        #expect(try ScopeHints.emptyScope(.project("nope"), in: empty) == "project nope holds no secrets")
        empty.setDirectory { ResolvedSecretSnapshot.NameDirectory(listings: [:], listsEvery: [.project]) }
        #expect(try ScopeHints.emptyScope(.project("nope"), in: empty) == "project nope holds no secrets (no project has any)")
        var failed = ResolvedSecretSnapshot()
        failed.setListing([], for: .project("nope"))
        failed.setDirectory { nil }
        #expect(try ScopeHints.emptyScope(.project("nope"), in: failed) == "project nope holds no secrets")
        #expect(try ScopeHints.elsewhere("tls_key", outside: ScopeChain(), in: failed) == [])
    }
}
