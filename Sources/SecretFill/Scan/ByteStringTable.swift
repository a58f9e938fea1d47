#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A set of byte strings, each numbered in order of first insertion, and
/// optionally kept apart by a scope (the same bytes in two scopes are two
/// keys).
///
/// The scanner looks names up for every secret reference and anchors for
/// every alias: with `String` keys each lookup built a `String` and ran
/// SipHash over it (about 330 instructions, 9% of render's cost over
/// libyaml on a large manifest). Here a key is hashed with FNV-1a straight
/// from libyaml's bytes and compared with `memcmp`; nothing is allocated
/// once the table has grown. Hash flooding is not a concern: the keys come
/// from the one spec being read, and a collision only costs a comparison.
struct ByteStringTable: ~Copyable {
    private struct Key {
        var start: Int
        var count: Int
        var scope: Int
        /// The bytes' hash mixed with the scope.
        var hash: UInt64
    }

    /// Every key's bytes, back to back.
    private var storage: [UInt8] = []
    private var keys: [Key] = []
    /// Open addressing: a key's number plus one, or 0 for an empty slot.
    private var slots: [Int32]
    private var mask: Int

    init(capacity: Int = 64) {
        var size = 16
        while size < capacity * 2 { size *= 2 }
        slots = Array(repeating: 0, count: size)
        mask = size - 1
    }

    var count: Int { keys.count }

    /// The number of `key`, or nil when it was never inserted.
    func index(of key: UnsafeBufferPointer<UInt8>, scope: Int = 0) -> Int? {
        let hash = Self.hash(key, scope: scope)
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let entry = Int(slots[slot])
            if entry == 0 { return nil }
            if matches(entry - 1, key, scope, hash) { return entry - 1 }
            slot = (slot + 1) & mask
        }
    }

    /// The number of `key`, adding it when new.
    mutating func insert(_ key: UnsafeBufferPointer<UInt8>, scope: Int = 0) -> (index: Int, inserted: Bool) {
        let hash = Self.hash(key, scope: scope)
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let entry = Int(slots[slot])
            if entry == 0 { break }
            if matches(entry - 1, key, scope, hash) { return (entry - 1, false) }
            slot = (slot + 1) & mask
        }
        let index = keys.count
        keys.append(Key(start: storage.count, count: key.count, scope: scope, hash: hash))
        storage.append(contentsOf: key)
        slots[slot] = Int32(truncatingIfNeeded: index + 1)
        if keys.count * 2 > slots.count { grow() }
        return (index, true)
    }

    /// Forgets every key, keeping the memory. Clears only the slots in use,
    /// so that one huge document does not make every later one pay for
    /// its table.
    mutating func removeAll() {
        removeLast(keys.count)
    }

    /// Forgets the `count` newest keys. Undone newest first, each removal
    /// leaves the linear-probing table exactly as it was before that
    /// insertion, so the older keys' chains stay whole.
    mutating func removeLast(_ count: Int) {
        guard count > 0 else { return }
        let first = keys.count - count
        var index = keys.count - 1
        while index >= first {
            var slot = Int(truncatingIfNeeded: keys[index].hash) & mask
            while Int(slots[slot]) != index + 1 { slot = (slot + 1) & mask }
            slots[slot] = 0
            index -= 1
        }
        storage.removeSubrange(keys[first].start...)
        keys.removeSubrange(first...)
    }

    /// The bytes of key number `index`.
    func withKey<R>(_ index: Int, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        let key = keys[index]
        return storage.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[key.start..<(key.start + key.count)])) }
    }

    func text(_ index: Int) -> String {
        withKey(index) { String(decoding: $0, as: UTF8.self) }
    }

    private func matches(_ index: Int, _ key: UnsafeBufferPointer<UInt8>, _ scope: Int, _ hash: UInt64) -> Bool {
        let stored = keys[index]
        guard stored.hash == hash && stored.count == key.count && stored.scope == scope else { return false }
        guard let base = key.baseAddress, key.count > 0 else { return true }
        return storage.withUnsafeBufferPointer { memcmp($0.baseAddress! + stored.start, base, key.count) == 0 }
    }

    private mutating func grow() {
        let size = slots.count * 2
        slots = Array(repeating: 0, count: size)
        mask = size - 1
        for (index, key) in keys.enumerated() {
            var slot = Int(truncatingIfNeeded: key.hash) & mask
            while slots[slot] != 0 { slot = (slot + 1) & mask }
            slots[slot] = Int32(truncatingIfNeeded: index + 1)
        }
    }

    /// FNV-1a, 64-bit, with the scope mixed in by a multiplicative hash.
    @inline(__always)
    static func hash(_ key: UnsafeBufferPointer<UInt8>, scope: Int) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return hash ^ UInt64(bitPattern: Int64(scope)) &* 0x9E37_79B9_7F4A_7C15
    }
}
