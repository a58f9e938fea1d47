#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The whole of `secretfill redact`: copy a stream, replacing every value
/// stored in the given scopes (shadowed ones included: they are secrets too).
public struct RedactJob {
    public var store: any SecretStore
    public var chain: ScopeChain

    public init(store: any SecretStore, chain: ScopeChain) {
        self.store = store
        self.chain = chain
    }

    /// Decrypts every value in the chain's scopes, in memory only.
    public func redactor() throws(StoreError) -> StreamRedactor {
        var secrets: [(name: String, value: SecretValue)] = []
        for scope in chain.scopes {
            for entry in try store.listing(of: scope) {
                if let value = try store.value(of: entry.name, in: scope) { secrets.append((entry.name, value)) }
            }
        }
        return StreamRedactor(secrets: secrets)
    }

    /// Streams `input` to `output` until end of input, writing each decided
    /// part as soon as it is read.
    public static func stream(_ redactor: inout StreamRedactor, from input: Int32, to output: Int32,
                              bufferSize: Int = 64 * 1024) throws(IOError) {
        var buffer = [UInt8](repeating: 0, count: bufferSize)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress!, bufferSize) }
            if n < 0 {
                if errno == EINTR { continue }
                throw IOError("read", path: "standard input")
            }
            if n == 0 { break }
            let ready = buffer.withUnsafeBufferPointer { redactor.feed(UnsafeBufferPointer(rebasing: $0[0..<n])) }
            try write(ready, to: output)
        }
        try write(redactor.finish(), to: output)
    }

    private static func write(_ bytes: [UInt8], to fd: Int32) throws(IOError) {
        guard !bytes.isEmpty else { return }
        let result: Result<Void, IOError> = bytes.withUnsafeBytes { raw in
            Result { () throws(IOError) in try FileIO.writeAll(fd: fd, raw, path: "standard output") }
        }
        try result.get()
    }
}
