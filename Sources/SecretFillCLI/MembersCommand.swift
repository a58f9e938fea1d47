import ArgumentParser
import SecretFill
import SecretFillAPI

struct MembersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "members",
        abstract: "Add, list and remove the team's members: people of the company's identity provider, by email or group:NAME, with grants (admin; through --server, or straight to serve's database).",
        discussion: """
            A member is a person, named by the email the company's identity provider (OpenID \
            Connect) gives, or a group of them, group:NAME as the provider names it. Its grants \
            are exactly an API key's: admin, team:ACCESS, project:ID:ACCESS, cluster:ID:ACCESS \
            (ID may be *), where ACCESS is names, read or write. Emails are compared in lower case. \
            `members add` of an existing member replaces its grants. The last admin (key or \
            member) cannot be removed nor lose admin.

            Exit codes: 0 success, 2 the server or the database failed, there is no such member, \
            or it is the last admin, 64 usage error, 77 the server refused the key (not an admin key).

            Examples:
              secretfill members add ana@acme.dev --grant admin
              secretfill members add group:sre --grant team:read --grant 'project:*:read'
              secretfill members list --format json
              secretfill members remove ana@acme.dev
            """,
        subcommands: [Add.self, List.self, Remove.self])
}

extension MembersCommand {
    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a member, or replace an existing member's grants.")

        @Argument(help: ArgumentHelp("The person's email, or group:NAME.", valueName: "member"))
        var name: String
        @Option(name: .customLong("grant"), help: ArgumentHelp("A grant (repeatable; at least one), as for keys.", valueName: "grant"))
        var grants: [String] = []
        @Option(help: ArgumentHelp(KeysCommand.databaseHelp, valueName: "url"))
        var database: String?
        @OptionGroup var serverOptions: ServerOptions

        func run() throws {
            guard MemberName.normalized(name) != nil else { throw fail(MemberName.ruleDescription, Exit.usage) }
            guard !grants.isEmpty else { throw fail("give at least one --grant; \(Grant.ruleDescription)", Exit.usage) }
            do { _ = try GrantSet(parsing: grants) } catch { throw fail(error.description, Exit.usage) }
            let name = self.name
            let grants = self.grants
            let answer = try withAdministration(serverOptions, database: database) { try await $0.addMember(name: name, grants: grants) }
            print("\(answer.updated ? "Updated" : "Added") member '\(answer.name)' with \(grants.joined(separator: ", "))")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List members and their grants (json: an array of objects).")

        @Option(help: ListFormat.help)
        var format: ListFormat?
        @Option(help: ArgumentHelp(KeysCommand.databaseHelp, valueName: "url"))
        var database: String?
        @OptionGroup var serverOptions: ServerOptions

        func run() throws {
            let members = try withAdministration(serverOptions, database: database) { try await $0.listMembers() }
            switch ListFormat.resolved(format) {
            case .text:
                for member in members {
                    print("\(member.name)  grants \(member.grants.joined(separator: ","))  added \(member.created ?? "-")  changed \(member.updated ?? "-")")
                }
            case .table:
                var table = TextTable("MEMBER", "GRANTS", "ADDED", "CHANGED")
                for member in members {
                    table.add(member.name, member.grants.joined(separator: ","), member.created ?? "-", member.updated ?? "-")
                }
                print(members.isEmpty ? "(no members)" : table.rendered())
            case .json:
                let items = members.map { member in
                    "  {\"name\": \(JSONText.quoted(member.name)), \"grants\": [\(member.grants.map(JSONText.quoted).joined(separator: ", "))], "
                        + "\"created\": \(JSONText.optional(member.created)), \"updated\": \(JSONText.optional(member.updated))}"
                }
                print(items.isEmpty ? "[]" : "[\n" + items.joined(separator: ",\n") + "\n]")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a member.")

        @Argument(help: ArgumentHelp("The person's email, or group:NAME.", valueName: "member"))
        var name: String
        @Option(help: ArgumentHelp(KeysCommand.databaseHelp, valueName: "url"))
        var database: String?
        @OptionGroup var serverOptions: ServerOptions

        func run() throws {
            guard let member = MemberName.normalized(name) else { throw fail(MemberName.ruleDescription, Exit.usage) }
            try withAdministration(serverOptions, database: database) { try await $0.removeMember(name: member) }
            print("Removed member '\(member)'")
        }
    }
}
