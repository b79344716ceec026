/// Builds an RFC 6962 / RFC 9162 Merkle tree hash incrementally: append leaf hashes in order and
/// read the root of the first `count` leaves at any time. Keeps one hash per set bit of the count
/// (the roots of the complete subtrees so far), so a log of any size needs O(log n) memory.
public struct MerkleTreeBuilder<Hasher: MerkleHasher>: Sendable {
    private let hasher: Hasher
    /// Roots of complete subtrees, largest (leftmost) first.
    private var stack: [(size: UInt64, hash: [UInt8])] = []
    public private(set) var count: UInt64 = 0

    public init(hasher: Hasher) { self.hasher = hasher }

    /// Appends the hash of the next leaf (`hasher.hashLeaf(data)`).
    public mutating func append(leafHash: [UInt8]) {
        var node = (size: UInt64(1), hash: leafHash)
        while let last = stack.last, last.size == node.size {
            stack.removeLast()
            node = (last.size * 2, hasher.hashChildren(last.hash, node.hash))
        }
        stack.append(node)
        count += 1
    }

    /// The tree hash of the leaves appended so far; nil for the empty tree (whose hash is the
    /// hash of the empty string, which `MerkleHasher` does not define).
    public var root: [UInt8]? {
        guard var hash = stack.last?.hash else { return nil }
        for subtree in stack.dropLast().reversed() { hash = hasher.hashChildren(subtree.hash, hash) }
        return hash
    }
}
