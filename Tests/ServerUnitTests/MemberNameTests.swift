import SecretFillAPI
import Testing

/// `MemberName`: how members and the people of sign-ins are named. The server's
/// `audit --user` filter and the CLI's check of `--user` both call `person`.
@Suite("member and person names")
struct MemberNameTests {
    @Test("normalized: an email in lower case, a group exactly; anything else is nil")
    func normalized() {
        #expect(MemberName.normalized("Ana@Acme.DEV") == "ana@acme.dev")
        #expect(MemberName.normalized("group:Platform") == "group:Platform")
        #expect(MemberName.normalized("ana") == nil)
        #expect(MemberName.normalized("a b@acme.dev") == nil)
        #expect(MemberName.normalized("group:") == nil)
        #expect(MemberName.normalized("ana@acme@dev") == nil)
    }

    @Test("person: an email in lower case or a subject without @; a group, a space, control bytes or an empty text are refused")
    func person() {
        #expect(MemberName.person("Ana@Acme.DEV") == "ana@acme.dev")
        #expect(MemberName.person("248289761001") == "248289761001")
        #expect(MemberName.person("group:admins") == nil, "a group is not a person")
        #expect(MemberName.person("group:") == nil, "not even an empty group name")
        #expect(MemberName.person("ana smith") == nil)
        #expect(MemberName.person("ana\u{7}") == nil)
        #expect(MemberName.person("") == nil)
        #expect(MemberName.person(String(repeating: "s", count: 257)) == nil)
        #expect(MemberName.person(String(repeating: "s", count: 256)) != nil)
        #expect(MemberName.person("ana@") == nil, "an @ makes it an email, and this one is not")
    }
}
