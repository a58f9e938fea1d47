import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `secretfill render --k8s-secret NAME`: every container env reference in a
/// Kubernetes object becomes a `secretKeyRef` to a generated Secret, and the
/// values travel in that Secret (one per namespace) instead of the manifest.
///
/// The Secret's name is `NAME-` and a 10-character suffix: an HMAC-SHA256,
/// keyed by a key derived (HKDF) from the store key, over the namespace's
/// sorted (name, value) pairs. It is the same on every run with the same
/// store key and values, changes when any of them changes (so a Deployment
/// rolls, as with kustomize's `secretGenerator`), and, being keyed, tells
/// nothing about short values that a plain hash would let anyone guess back.
public struct KubernetesSecretJob {
    public var chain: ScopeChain
    public var secretName: String
    public var limits: ScanLimits
    public var openStore: StoreOpener
    public var loadKey: () throws(StoreError) -> any StoreSealingKey

    public init(chain: ScopeChain, secretName: String, limits: ScanLimits = ScanLimits(),
                openStore: @escaping StoreOpener,
                loadKey: @escaping () throws(StoreError) -> any StoreSealingKey) {
        self.chain = chain
        self.secretName = secretName
        self.limits = limits
        self.openStore = openStore
        self.loadKey = loadKey
    }

    /// The manifest (no value in it) and the Secret documents (all the
    /// values), each a complete YAML text; `secrets` is empty when nothing
    /// was referenced.
    public struct Output: Sendable, CustomStringConvertible {
        public var manifest: [UInt8]
        public var secrets: [UInt8]
        /// The Secrets' names, by namespace ("" for none), in stream order.
        public var secretNames: [(namespace: String, name: String)]

        /// Appended: the manifest, then the Secrets as further documents.
        public var combined: [UInt8] {
            guard !secrets.isEmpty else { return manifest }
            var out = manifest
            if let last = out.last, last != 0x0A { out += KubernetesSecretJob.lineBreak(of: manifest) }
            return out + secrets
        }

        public var description: String { "KubernetesSecretJob.Output(\(secretNames.map(\.name)))" }
    }

    /// Kubernetes object names (DNS subdomains), less the room the suffix needs.
    public static func nameProblem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        func isAlnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
        guard !bytes.isEmpty, bytes.count <= 253 - 11 else {
            return "a Secret name must be 1 to 242 characters (the suffix takes 11 of Kubernetes' 253)"
        }
        let labelsOK = name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            let l = Array(label.utf8)
            return !l.isEmpty && l.count <= 63 && isAlnum(l.first!) && isAlnum(l.last!) && l.allSatisfy { isAlnum($0) || $0 == 0x2D }
        }
        return labelsOK ? nil : "a Secret name must be lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"
    }

    public func run(_ source: SpecSource) throws(StoreError) -> Result<Output, SpecProblems> {
        let file = source.label
        let scan = SpecScanner(limits: limits, detail: .references).scan(source.bytes, file: file)
        guard scan.diagnostics.isEmpty else { return .failure(SpecProblems(diagnostics: scan.diagnostics.sorted(by: SpecProblems.order))) }
        guard !scan.references.isEmpty else { return .success(Output(manifest: source.bytes, secrets: [], secretNames: [])) }

        let entries: [KubernetesEnvWalker.ValueEntry]
        do {
            entries = try KubernetesEnvWalker().valueEntries(in: source.bytes)
        } catch {
            return .failure(SpecProblems(diagnostics: [Diagnostic(code: "yaml-syntax", file: file, location: error.location, message: error.message)]))
        }
        var entryByEnd: [Int: KubernetesEnvWalker.ValueEntry] = [:]
        for entry in entries { entryByEnd[entry.valueEnd] = entry }

        var problems: [Diagnostic] = []
        var placed: [(reference: SecretReference, entry: KubernetesEnvWalker.ValueEntry)] = []
        for reference in scan.references {
            guard let entry = entryByEnd[reference.byteRange.upperBound] else {
                problems.append(Diagnostic(code: "k8s-reference-outside-container-env", file: file, location: reference.location,
                                           message: "with --k8s-secret a reference must be the value of an env entry of a Kubernetes container (containers, initContainers or ephemeralContainers of a pod spec or pod template); 'secret:\(reference.name)' here is not",
                                           name: reference.name))
                continue
            }
            if entry.hasValueFrom {
                problems.append(Diagnostic(code: "k8s-value-and-value-from", file: file, location: reference.location,
                                           message: "this env entry has both 'value' and 'valueFrom'; Kubernetes accepts only one, and --k8s-secret would write a second 'valueFrom'",
                                           name: reference.name))
                continue
            }
            placed.append((reference, entry))
        }
        let resolved = try ReferenceResolver(store: openStore(ReferenceResolver.names(of: scan.references, in: scan.secretNames)), chain: chain).resolve(scan.references, names: scan.secretNames, file: file)
        problems += resolved.diagnostics
        guard problems.isEmpty else { return .failure(SpecProblems(diagnostics: problems.sorted(by: SpecProblems.order))) }
        let nameKey = try loadKey().derived(salt: nil, info: StoreKeyUse.kubernetesSecretName)

        // Namespaces in stream order, each with its names (sorted, once each).
        var namespaces: [String] = []
        var namesByNamespace: [String: Set<String>] = [:]
        for (reference, entry) in placed {
            let namespace = entry.namespace ?? ""
            if namesByNamespace[namespace] == nil { namespaces.append(namespace) }
            namesByNamespace[namespace, default: []].insert(reference.name)
        }
        var valueByName: [String: SecretValue] = [:]
        for (index, name) in scan.secretNames.enumerated() { if let value = resolved.values[index] { valueByName[name] = value } }

        let lineBreak = Self.lineBreak(of: source.bytes)
        var secretNames: [(namespace: String, name: String)] = []
        var fullNames: [String: String] = [:]
        var secrets: [UInt8] = []
        for namespace in namespaces {
            let pairs = namesByNamespace[namespace]!.sorted().map { ($0, valueByName[$0]!) }
            let name = secretName + "-" + Self.suffix(key: nameKey, secretName: secretName, namespace: namespace, pairs: pairs)
            fullNames[namespace] = name
            secretNames.append((namespace, name))
            secrets += Self.secretDocument(name: name, namespace: namespace, pairs: pairs, lineBreak: lineBreak)
        }

        // Splice: each `value: secret:x` (key to the end of the value) becomes a secretKeyRef.
        var manifest: [UInt8] = []
        manifest.reserveCapacity(source.bytes.count + placed.count * 48)
        var cursor = 0
        for (reference, entry) in placed.sorted(by: { $0.entry.keyStart < $1.entry.keyStart }) {
            manifest += source.bytes[cursor..<entry.keyStart]
            manifest += Array("valueFrom: {secretKeyRef: {name: \(fullNames[entry.namespace ?? ""]!), key: \(Self.keyText(reference.name))}}".utf8)
            cursor = entry.valueEnd
        }
        manifest += source.bytes[cursor...]
        return .success(Output(manifest: manifest, secrets: secrets, secretNames: secretNames))
    }

    /// A secret name as a YAML key or value: plain, unless a YAML 1.1 loader
    /// would read the plain word as a boolean or null. Secret names
    /// (`[A-Za-z_][A-Za-z0-9_.-]*`) are all valid Secret data keys
    /// (`[-._a-zA-Z0-9]+`).
    static func keyText(_ name: String) -> String {
        let special: Set<String> = ["y", "yes", "n", "no", "true", "false", "on", "off", "null"]
        return special.contains(name.lowercased()) ? YAMLDoubleQuoted.quote(name) : name
    }

    static func lineBreak(of bytes: [UInt8]) -> [UInt8] {
        guard let newline = bytes.firstIndex(of: 0x0A) else { return [0x0A] }
        return newline > 0 && bytes[newline - 1] == 0x0D ? [0x0D, 0x0A] : [0x0A]
    }

    static func secretDocument(name: String, namespace: String, pairs: [(String, SecretValue)], lineBreak: [UInt8]) -> [UInt8] {
        var lines = ["---", "apiVersion: v1", "kind: Secret", "metadata:", "  name: \(name)"]
        if !namespace.isEmpty {
            let plainLabel = namespace.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
            lines.append("  namespace: " + (plainLabel && keyText(namespace) == namespace ? namespace : YAMLDoubleQuoted.quote(namespace)))
        }
        lines += ["type: Opaque", "stringData:"]
        var out: [UInt8] = []
        for line in lines { out += Array(line.utf8) + lineBreak }
        for (key, value) in pairs {
            out += Array("  \(keyText(key)): ".utf8)
            YAMLDoubleQuoted.append(value.revealed, to: &out)
            out += lineBreak
        }
        return out
    }

    /// 10 characters of `[a-z0-9]` from HMAC-SHA256 over the namespace's
    /// sorted pairs, each field length-prefixed (so no two sets of pairs
    /// encode alike), keyed by HKDF-SHA256 of the store key.
    /// `key`: the store key's derived key for this use (`StoreKeyUse.kubernetesSecretName`).
    static func suffix(key: SymmetricKey, secretName: String, namespace: String, pairs: [(String, SecretValue)]) -> String {
        var mac = HMAC<SHA256>(key: key)
        func field(_ bytes: [UInt8]) {
            var length = UInt64(bytes.count).bigEndian
            withUnsafeBytes(of: &length) { mac.update(data: Array($0)) }
            mac.update(data: bytes)
        }
        field(Array(secretName.utf8))
        field(Array(namespace.utf8))
        field(Array(String(pairs.count).utf8))
        for (name, value) in pairs {
            field(Array(name.utf8))
            field(Array(value.revealed.utf8))
        }
        let digest = Array(mac.finalize())
        var number: UInt64 = 0
        for byte in digest.prefix(8) { number = number << 8 | UInt64(byte) }
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)
        var out: [UInt8] = []
        for _ in 0..<10 {
            out.append(alphabet[Int(number % 36)])
            number /= 36
        }
        return String(decoding: out, as: UTF8.self)
    }
}
