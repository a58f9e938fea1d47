import ArgumentParser
import SecretFill

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

package struct Secretfill: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "secretfill",
        abstract: "Fill `secret:<name>` references in deployment specs from an encrypted, scoped store.",
        discussion: """
            Specs say `value: secret:db_password` instead of the password. secretfill resolves \
            each name from the store (project beats cluster beats team), changing nothing else.

            Exit codes:
              0    success
              1    problems in the input: unknown or malformed references, invalid
                   YAML, check findings, a value a format cannot carry,
                   `secrets which` found nothing, a bad import file, or
                   `secrets delete` of a missing name
              2    the store, the key or a file could not be used (including a
                   store changed outside secretfill, a sealed value that does
                   not open)
              64   usage error (bad flag, name or value, missing --id, -o onto
                   the spec, no --yes)
              77   the team server refused the key (unknown, revoked, expired,
                   or a grant missing) or the OIDC token (the failed check named)
              126  exec: the command was found but cannot be run
              127  exec: the command was not found
              128+N  killed by signal N: secretfill itself by a fatal signal (one
                   line on stderr, no memory contents), or under exec
                   --redact-output the command (otherwise exec exits with the
                   command's own status)
              141  standard output was closed early (for example by `| head`)

            A secret value never appears in a message; only names and locations do.
            """,
        version: SecretFillVersion.string,
        subcommands: [RenderCommand.self, EnvCommand.self, ExecCommand.self, CheckCommand.self, RedactCommand.self, InitCommand.self,
                      SecretsCommand.self, StoreCommand.self, ServeCommand.self, KeysCommand.self, MembersCommand.self, RolesCommand.self, LoginCommand.self, LogoutCommand.self, WhoamiCommand.self, AuditCommand.self,
                      BackupCommand.self, RestoreCommand.self, RekeyCommand.self]
    )

    package init() {}

    /// ArgumentParser's `main`, after the process hardening (no core dumps,
    /// no crash output with memory in it: done before any key or value is in
    /// memory), with two changes to how a refused command line is reported:
    /// `ArgumentHints` for gradient's spellings and unknown commands, and
    /// control characters escaped in whatever is printed.
    package static func main() {
        ProcessHardening.apply()
        let arguments = Array(CommandLine.arguments.dropFirst())
        var command: any ParsableCommand
        do {
            command = try parseAsRoot(arguments)
        } catch {
            let code = exitCode(for: error)
            guard code != .success else { exit(withError: error) }
            if let hint = ArgumentHints.message(for: arguments) {
                Terminal.warn("secretfill: error: \(hint)")
            } else if case let text = fullMessage(for: error), !text.isEmpty {
                for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                    Terminal.warn(String(line))
                }
            }
            terminate(code.rawValue)
        }
        if TeamHandoff.isNeeded(for: command) { TeamHandoff.execute() }
        do {
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}

private func terminate(_ code: Int32) -> Never {
    #if canImport(Glibc)
    Glibc.exit(code)
    #else
    Darwin.exit(code)
    #endif
}

/// Exit statuses, as documented in `secretfill --help`.
package enum Exit {
    package static let problems = ExitCode(1)
    package static let failure = ExitCode(2)
    package static let usage = ExitCode(64)
    package static let brokenPipe = ExitCode(141)
}

/// Prints `secretfill: error: …` on stderr and returns the matching exit.
package func fail(_ message: String, _ code: ExitCode = Exit.failure) -> ExitCode {
    Terminal.warn("secretfill: error: \(message)")
    return code
}

/// A name that is not there is the input's problem (1), a server's refusal
/// 77, a malformed request, a verb the local file cannot do or a malformed
/// choice of the key in a token 64; every other store error is 2.
package func fail(_ error: StoreError) -> ExitCode {
    switch error {
    case .notFound: fail(error.description, Exit.problems)
    case .keepsNoHistory, .keyChoice: fail(error.description, Exit.usage)
    case .service(let failure):
        switch failure.kind {
        case .refused: fail(error.description, Exit.refused)
        case .invalid: fail(error.description, Exit.usage)
        case .notFound: fail(error.description, Exit.problems)
        case .unavailable, .other: fail(error.description, Exit.failure)
        }
    default: fail(error.description, Exit.failure)
    }
}

/// A spec's problems are the input's (1), except a sealed value that does not
/// open, which is the store's (2), as the exit-code table says.
func exitStatus(for problems: SpecProblems) -> ExitCode {
    problems.diagnostics.contains { $0.code == "undecryptable-secret" } ? Exit.failure : Exit.problems
}
func fail(_ error: IOError) -> ExitCode {
    error.code == EPIPE ? Exit.brokenPipe : fail(error.description, Exit.failure)
}
func fail(_ error: SecretInputError) -> ExitCode { fail(error.description, Exit.usage) }

/// Runs a command body, turning the library's typed errors into the
/// documented message and exit status. `ExitCode`s pass through.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as SecretInputError {
        throw fail(error)
    } catch let error as StoreError {
        throw fail(error)
    } catch let error as IOError {
        throw fail(error)
    }
}

func report(_ diagnostics: [Diagnostic]) {
    for diagnostic in diagnostics { Terminal.warn(diagnostic.formatted) }
}

/// Closing stdout early must end the process quietly, not with a crash report.
func ignoreBrokenPipeSignal() {
    signal(SIGPIPE, SIG_IGN)
}

/// This process's environment (read afresh: tests and exec change nothing in it).
package var processEnvironment: [String: String] { ChildEnvironment.current() }
