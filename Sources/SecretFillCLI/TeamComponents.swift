import ArgumentParser
import SecretFill
import SecretFillAPI

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The parts of secretfill that need networking: the HTTP client and the
/// server. The `secretfill-team` program installs them at start-up;
/// `secretfill` installs none and links none of it, so a local render starts
/// no faster or slower for the server's sake. A command that asks for a team
/// server is handed to `secretfill-team` before it runs (`TeamHandoff`).
package struct TeamComponents: Sendable {
    /// A client for the server at `endpoint`.
    package var connect: @Sendable (ServerEndpoint) throws(ClientFailure) -> any TeamService
    /// `secretfill serve`, until SIGTERM or SIGINT.
    package var serve: @Sendable (ServeCommand) throws -> Void
    /// `keys` and `audit` without a server: straight to a database,
    /// `database` as given, or nil for `serve`'s default.
    package var administer: @Sendable (_ database: String?) async throws -> any TeamAdministration
    /// `backup`: the database (nil: serve's default) into a file; what was written, in words.
    /// `keyPKCS11`: the store key in a token instead of a key file (`--key-pkcs11`, else `SECRETFILL_KEY_PKCS11`).
    package var backup: @Sendable (_ database: String?, _ file: String, _ audit: Bool, _ keyPKCS11: PKCS11Choice?) throws -> String
    /// `restore`: a backup file into an empty database; what was restored, in words.
    package var restore: @Sendable (_ database: String?, _ file: String, _ keyPKCS11: PKCS11Choice?) throws -> String
    /// `rekey --database`: a server database's store key or data key changed; what was done, in words.
    package var rekey: @Sendable (_ request: RekeyCommand.Request) throws -> String

    package init(connect: @escaping @Sendable (ServerEndpoint) throws(ClientFailure) -> any TeamService,
                 serve: @escaping @Sendable (ServeCommand) throws -> Void,
                 administer: @escaping @Sendable (String?) async throws -> any TeamAdministration,
                 backup: @escaping @Sendable (String?, String, Bool, PKCS11Choice?) throws -> String,
                 restore: @escaping @Sendable (String?, String, PKCS11Choice?) throws -> String,
                 rekey: @escaping @Sendable (RekeyCommand.Request) throws -> String) {
        self.connect = connect
        self.serve = serve
        self.administer = administer
        self.backup = backup
        self.restore = restore
        self.rekey = rekey
    }

    /// Set once by `secretfill-team`'s `main`, before any command is parsed.
    nonisolated(unsafe) package static var installed: TeamComponents?

    /// The installed components. Without them (in `secretfill`, which hands
    /// every team command over before it runs) this is a defect: say so.
    static func required() throws -> TeamComponents {
        guard let installed else {
            throw fail("internal error: this command needs the team server components, which only secretfill-team has; please report it", Exit.failure)
        }
        return installed
    }
}

/// A command that talks to a team server: always (serve, keys, audit), or
/// when `--server` or `SECRETFILL_SERVER` asks for one.
protocol TeamCapableCommand: ParsableCommand {
    var asksForTeamServer: Bool { get }
}

/// Hands a command that needs the team components to the `secretfill-team`
/// program beside this one: the same arguments, the same environment, the
/// same process (`execv`), so its output, exit status and signals are the
/// command's own. Nothing has been read or written yet when this runs.
enum TeamHandoff {
    static let programName = "secretfill-team"

    static func isNeeded(for command: any ParsableCommand) -> Bool {
        TeamComponents.installed == nil && (command as? any TeamCapableCommand)?.asksForTeamServer == true
    }

    /// `secretfill-team` in the folder of this process's own executable
    /// (never looked up on PATH).
    static func programPath() -> String? {
        guard let own = FileIO.ownExecutablePath() else { return nil }
        let folder = own.lastIndex(of: "/").map { String(own[..<$0]) } ?? "."
        return folder + "/" + programName
    }

    static func execute() -> Never {
        guard let path = programPath(), access(path, X_OK) == 0 else {
            Terminal.warn("secretfill: error: this command talks to a team server, which needs the \(programName) program installed beside secretfill (\(programPath() ?? programName)); it is not there or cannot be run: install both programs from the same build")
            exit(Exit.failure.rawValue)
        }
        // The program sets its own hardening again; it must see the core-file
        // limit the user started with, so that `exec` can pass it on.
        ProcessHardening.restoreCoreLimit()
        execv(path, CommandLine.unsafeArgv)
        let reason = String(cString: strerror(errno))
        ProcessHardening.disableCoreDumps()
        Terminal.warn("secretfill: error: cannot start \(path): \(reason)")
        exit(Exit.failure.rawValue)
    }
}

// Every command that can talk to a team server. `RemoteVerbTests` runs each
// of them with --server through `secretfill`: one missing here fails there
// with the internal error above.
extension ServeCommand: TeamCapableCommand { var asksForTeamServer: Bool { true } }
extension LogoutCommand: TeamCapableCommand { var asksForTeamServer: Bool { true } }
extension WhoamiCommand: TeamCapableCommand { var asksForTeamServer: Bool { true } }
extension KeysCommand.Create: TeamCapableCommand { var asksForTeamServer: Bool { true } }
extension KeysCommand.List: TeamCapableCommand { var asksForTeamServer: Bool { true } }
extension KeysCommand.Revoke: TeamCapableCommand { var asksForTeamServer: Bool { true } }
extension MembersCommand.Add: TeamCapableCommand { var asksForTeamServer: Bool { true } }
extension MembersCommand.List: TeamCapableCommand { var asksForTeamServer: Bool { true } }
extension MembersCommand.Remove: TeamCapableCommand { var asksForTeamServer: Bool { true } }
extension RolesCommand.Create: TeamCapableCommand { var asksForTeamServer: Bool { true } }
extension RolesCommand.List: TeamCapableCommand { var asksForTeamServer: Bool { true } }
extension RolesCommand.Delete: TeamCapableCommand { var asksForTeamServer: Bool { true } }
extension LoginCommand: TeamCapableCommand { var asksForTeamServer: Bool { true } }
extension AuditCommand: TeamCapableCommand { var asksForTeamServer: Bool { true } }
extension SecretsCommand.History: TeamCapableCommand { var asksForTeamServer: Bool { storeOptions.asksForServer } }
extension SecretsCommand.Rollback: TeamCapableCommand { var asksForTeamServer: Bool { storeOptions.asksForServer } }
extension RenderCommand: TeamCapableCommand { var asksForTeamServer: Bool { input.storeOptions.asksForServer } }
extension EnvCommand: TeamCapableCommand { var asksForTeamServer: Bool { input.storeOptions.asksForServer } }
extension ExecCommand: TeamCapableCommand { var asksForTeamServer: Bool { storeOptions.asksForServer } }
extension CheckCommand: TeamCapableCommand { var asksForTeamServer: Bool { storeOptions.asksForServer } }
extension RedactCommand: TeamCapableCommand { var asksForTeamServer: Bool { storeOptions.asksForServer } }
extension SecretsCommand.Set: TeamCapableCommand { var asksForTeamServer: Bool { storeOptions.asksForServer } }
extension SecretsCommand.List: TeamCapableCommand { var asksForTeamServer: Bool { storeOptions.asksForServer } }
extension SecretsCommand.Delete: TeamCapableCommand { var asksForTeamServer: Bool { storeOptions.asksForServer } }
extension SecretsCommand.Which: TeamCapableCommand { var asksForTeamServer: Bool { storeOptions.asksForServer } }
extension SecretsCommand.Import: TeamCapableCommand { var asksForTeamServer: Bool { storeOptions.asksForServer } }
