import CYAML

/// Finds, in Kubernetes objects, the env entries of pod containers and where
/// each one's `value` key and value are in the input's bytes.
///
/// Used only by `render --k8s-secret`, so it is free to build a small tree
/// per document (short scalars' text only) instead of sharing the tuned
/// single pass of `SpecScanner`, which stays the authority on what is a
/// reference. Run it on input the scanner accepted (depth and document
/// limits are the scanner's).
struct KubernetesEnvWalker {
    /// An env entry's `value: …` inside a container of a Kubernetes object.
    struct ValueEntry: Sendable, Hashable {
        /// 1-based document index.
        var document: Int
        /// The object's `metadata.namespace`, nil when it has none.
        var namespace: String?
        /// Where the `value` key starts (its anchor or tag included).
        var keyStart: Int
        /// Where the value's scalar ends (a closing quote included).
        var valueEnd: Int
        /// The entry has a `valueFrom` key as well, which a second one would duplicate.
        var hasValueFrom: Bool
    }

    /// Scalars longer than this keep no text: no key or name the walker
    /// compares is that long, and a large value must not be copied.
    private static let textLimit = 256

    final class Node {
        enum Kind { case scalar, mapping, sequence, alias }
        let kind: Kind
        var text: String?
        var startByte: Int
        var endByte: Int
        /// Mappings: key, value, key, value… Sequences: the items.
        var children: [Node] = []

        init(kind: Kind, text: String? = nil, startByte: Int, endByte: Int) {
            self.kind = kind
            self.text = text
            self.startByte = startByte
            self.endByte = endByte
        }

        /// The value of the plain key `key` in a mapping.
        func get(_ key: String) -> Node? {
            guard kind == .mapping else { return nil }
            var i = 0
            while i + 1 < children.count {
                if children[i].kind == .scalar && children[i].text == key { return children[i + 1] }
                i += 2
            }
            return nil
        }

        func get(_ path: [String]) -> Node? {
            var node: Node? = self
            for key in path { node = node?.get(key) }
            return node
        }

        var scalarText: String? { kind == .scalar ? text : nil }
    }

    /// Every container env `value` entry in every Kubernetes object, in input order.
    func valueEntries(in bytes: [UInt8]) throws(YAMLSyntaxError) -> [ValueEntry] {
        let documents = try bytes.withUnsafeBufferPointer { buffer throws(YAMLSyntaxError) -> [Node] in
            try Self.documents(buffer)
        }
        var entries: [ValueEntry] = []
        for (index, root) in documents.enumerated() {
            collect(object: root, document: index + 1, into: &entries)
        }
        return entries.sorted { $0.keyStart < $1.keyStart }
    }

    /// An object with `apiVersion` and `kind`; a `List` holds objects under `items`.
    private func collect(object root: Node, document: Int, into entries: inout [ValueEntry]) {
        guard root.kind == .mapping, root.get("apiVersion")?.scalarText != nil, let kind = root.get("kind")?.scalarText else { return }
        if kind == "List" || kind.hasSuffix("List") {
            for item in root.get("items")?.children ?? [] where root.get("items")?.kind == .sequence {
                collect(object: item, document: document, into: &entries)
            }
            return
        }
        let namespace = root.get(["metadata", "namespace"])?.scalarText.flatMap { $0.isEmpty ? nil : $0 }
        for podSpec in Self.podSpecs(of: root, kind: kind) {
            for field in ["containers", "initContainers", "ephemeralContainers"] {
                guard let containers = podSpec.get(field), containers.kind == .sequence else { continue }
                for container in containers.children {
                    guard let env = container.get("env"), env.kind == .sequence else { continue }
                    for entry in env.children where entry.kind == .mapping {
                        let hasValueFrom = entry.get("valueFrom") != nil
                        var i = 0
                        while i + 1 < entry.children.count {
                            let key = entry.children[i], value = entry.children[i + 1]
                            if key.kind == .scalar && key.text == "value" && value.kind == .scalar {
                                entries.append(ValueEntry(document: document, namespace: namespace,
                                                          keyStart: key.startByte, valueEnd: value.endByte,
                                                          hasValueFrom: hasValueFrom))
                            }
                            i += 2
                        }
                    }
                }
            }
        }
    }

    /// Where a kind keeps its pod spec: a Pod's `spec`, a CronJob's
    /// `spec.jobTemplate.spec.template.spec`, a PodTemplate's `template.spec`,
    /// and `spec.template.spec` for the rest (Deployment, StatefulSet,
    /// DaemonSet, ReplicaSet, Job, ReplicationController, and custom
    /// resources shaped like them).
    static func podSpecs(of root: Node, kind: String) -> [Node] {
        let path: [String]
        switch kind {
        case "Pod": path = ["spec"]
        case "CronJob": path = ["spec", "jobTemplate", "spec", "template", "spec"]
        case "PodTemplate": path = ["template", "spec"]
        default: path = ["spec", "template", "spec"]
        }
        guard let spec = root.get(path), spec.kind == .mapping else { return [] }
        return [spec]
    }

    /// One tree per document, built with an explicit stack.
    static func documents(_ bytes: UnsafeBufferPointer<UInt8>) throws(YAMLSyntaxError) -> [Node] {
        var reader = try YAMLEventReader(bytes: bytes)
        var documents: [Node] = []
        var stack: [Node] = []
        var root: Node?
        func attach(_ node: Node) {
            if let parent = stack.last { parent.children.append(node) } else { root = node }
        }
        while try reader.next() {
            let event = reader.event
            switch event.pointee.type {
            case YAML_SCALAR_EVENT:
                let data = event.pointee.data.scalar
                let length = Int(data.length)
                let text = length <= textLimit
                    ? String(decoding: UnsafeBufferPointer(start: data.value, count: length), as: UTF8.self) : nil
                let start = reader.byteOffset(of: event.pointee.start_mark)
                let end = reader.byteOffset(of: event.pointee.end_mark)
                attach(Node(kind: .scalar, text: text, startByte: start, endByte: end))
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                let start = reader.byteOffset(of: event.pointee.start_mark)
                let node = Node(kind: event.pointee.type == YAML_MAPPING_START_EVENT ? .mapping : .sequence, startByte: start, endByte: start)
                attach(node)
                stack.append(node)
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                if let node = stack.popLast() { node.endByte = reader.byteOffset(of: event.pointee.end_mark) }
            case YAML_ALIAS_EVENT:
                let start = reader.byteOffset(of: event.pointee.start_mark)
                attach(Node(kind: .alias, startByte: start, endByte: reader.byteOffset(of: event.pointee.end_mark)))
            case YAML_DOCUMENT_START_EVENT:
                root = nil
                stack.removeAll()
            case YAML_DOCUMENT_END_EVENT:
                documents.append(root ?? Node(kind: .scalar, startByte: 0, endByte: 0))
            default:
                break
            }
        }
        return documents
    }
}
