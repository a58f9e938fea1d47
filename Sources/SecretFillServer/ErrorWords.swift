import NIOCore
import NIOSSL
import PostgresNIO
import SQLiteKit
import SecretFillPKCS11
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What went wrong, in words for the person at the terminal, for an error
/// from the server's libraries. Never a value or a password: PostgreSQL's
/// and SQLite's own texts are left out or are about files and statements,
/// and a database URL is shown by its description, which has no password.
public enum ErrorWords {
    public static func describe(_ error: any Error) -> String {
        switch error {
        case let error as ServeRefusal: return error.description
        case let error as DatabaseUnavailable: return error.description
        case let error as WriteRolledBack: return error.description
        case let error as ServerBackup.Refusal: return error.description
        case let error as Migrations.TooNew: return error.description
        case let error as Migrations.KeyMismatch: return error.description
        case let error as PKCS11Error: return error.description
        case let error as LegacyValueUnderToken: return error.description
        case let error as RekeyRefusal: return error.description
        case let error as DatabaseRekey.Retry: return error.description
        case let error as DataKeyring.Unopenable: return error.description
        case let error as NIOCore.IOError:
            return String(cString: strerror(error.errnoCode)).lowercased()
        case let error as NIOSSLError:
            return "TLS failed (\(error)); check the certificate and key files and that they belong together"
        case let error as SQLiteError:
            return "SQLite said: \(error.message)"
        case let error as PSQLError:
            switch error.code {
            case .server: return "PostgreSQL refused it (SQLSTATE \(error.serverInfo?[.sqlState] ?? "unknown"))"
            case .connectionError, .serverClosedConnection, .clientClosedConnection: return "the connection to PostgreSQL was lost or could not be made"
            default: return "PostgreSQL could not be used; run again with --log-level debug to see the driver's detail"
            }
        case is CancellationError:
            return "it was stopped before it finished (the server was shutting down)"
        default:
            return "an unexpected failure; run again with --log-level debug, and report it if it persists"
        }
    }
}
