import SecretFill
import Testing

@Suite("where an unknown name exists")
struct ScopeHintsTests {
    @Test("one place: add or use the flag; several: listed, bounded")
    func wording() {
        let none = ScopeChain()
        #expect(ScopeHints.lookedIn(none, elsewhere: []) == "looked in team")
        #expect(ScopeHints.lookedIn(none, elsewhere: [.cluster("gpu-east")])
            == "looked in team; it exists in cluster gpu-east: add --cluster gpu-east")
        #expect(ScopeHints.lookedIn(ScopeChain(project: "p"), elsewhere: [.project("q")])
            == "looked in project p, team; it exists in project q: use --project q")
        let many: [Scope] = [.project("a"), .project("b"), .cluster("c"), .cluster("d")]
        #expect(ScopeHints.existsIn(many, chain: none)
            == "it exists in project a, project b, cluster c and 1 more: choose one with --project ID or --cluster ID")
    }

    @Test("places are found outside the chain only, projects first, each by id")
    func lookup() throws {
        let store = MemoryStore(team: ["t": "v"], project: ("z", ["k": "v"]), cluster: ("c", ["k": "v"]))
        try store.set([("k", try SecretValue(validating: "v"))], in: .project("a"))
        #expect(try ScopeHints.elsewhere("k", outside: ScopeChain(), in: store) == [.project("a"), .project("z"), .cluster("c")])
        #expect(try ScopeHints.elsewhere("k", outside: ScopeChain(project: "a"), in: store) == [.project("z"), .cluster("c")])
        #expect(try ScopeHints.elsewhere("t", outside: ScopeChain(), in: store) == [])
    }
}
