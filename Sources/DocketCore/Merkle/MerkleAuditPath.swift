/// Where proof generation gets the hashes of complete subtrees: the node at `level` above the
/// leaves with `index` among its level, i.e. the tree hash of leaves
/// `index·2^level ..< (index+1)·2^level` (level 0 is a leaf hash). Only subtrees that lie wholly
/// inside the tree a proof is for are ever asked for.
public protocol MerkleSubtreeSource {
    associatedtype Hasher: MerkleHasher
    var hasher: Hasher { get }
    func completeSubtree(level: Int, index: UInt64) throws -> [UInt8]
}

/// Generation of RFC 9162 audit paths (§2.1.3.1 inclusion, §2.1.4.1 consistency) and tree hashes
/// of any prefix, from the hashes of complete subtrees. A tree of `n` leaves decomposes into at
/// most one complete subtree per set bit of `n`, so a root needs O(log n) lookups and a proof
/// O(log² n) hash operations at most, whatever the size of the log.
///
/// The output is exactly what `MerkleProof.verifyInclusion` / `verifyConsistency` (and every
/// RFC 6962 implementation) expect: hashes ordered from the leaf (or old root) upwards.
public enum MerkleAuditPath {
    /// The tree hash of leaves `start ..< start + count`, where `start` is a multiple of the
    /// largest power of two ≤ `count` (true of every range RFC 9162's recursion splits off).
    public static func rangeHash(start: UInt64, count: UInt64, source: some MerkleSubtreeSource) throws -> [UInt8] {
        precondition(count > 0, "an empty range has no tree hash")
        if count & (count - 1) == 0 {
            let level = count.trailingZeroBitCount
            return try source.completeSubtree(level: level, index: start >> UInt64(level))
        }
        let k = largestPowerOfTwo(below: count)
        return source.hasher.hashChildren(
            try rangeHash(start: start, count: k, source: source), try rangeHash(start: start + k, count: count - k, source: source))
    }

    /// The root of the tree of the first `size` leaves (`size` ≥ 1).
    public static func root(size: UInt64, source: some MerkleSubtreeSource) throws -> [UInt8] {
        guard size > 0 else { throw MerkleError("the empty tree has no root here") }
        return try rangeHash(start: 0, count: size, source: source)
    }

    /// PATH(index, D[size]): the inclusion proof of leaf `index` in the tree of `size` leaves.
    public static func inclusion(index: UInt64, size: UInt64, source: some MerkleSubtreeSource) throws -> [[UInt8]] {
        guard index < size else { throw MerkleError("leaf index \(index) is not below the tree size \(size)") }
        var proof: [[UInt8]] = []
        try path(index, start: 0, count: size, source, into: &proof)
        return proof
    }

    /// PROOF(oldSize, D[newSize]): the consistency proof that the tree of `newSize` leaves
    /// extends the tree of its first `oldSize` leaves (0 < `oldSize` ≤ `newSize`; equal sizes
    /// give the empty proof).
    public static func consistency(oldSize: UInt64, newSize: UInt64, source: some MerkleSubtreeSource) throws -> [[UInt8]] {
        guard oldSize > 0 else { throw MerkleError("a consistency proof from the empty tree proves nothing") }
        guard oldSize <= newSize else { throw MerkleError("the old tree (\(oldSize)) is larger than the new one (\(newSize))") }
        var proof: [[UInt8]] = []
        try subproof(oldSize, start: 0, count: newSize, complete: true, source, into: &proof)
        return proof
    }

    /// The largest power of two strictly below `n` (n ≥ 2).
    static func largestPowerOfTwo(below n: UInt64) -> UInt64 {
        UInt64(1) << UInt64(63 - (n - 1).leadingZeroBitCount)
    }

    // The recursions of RFC 9162 §2.1.3.1 and §2.1.4.1 over D[start ..< start + count]; each
    // appends its sibling hash after the deeper part of the path, so the proof runs bottom-up.

    private static func path(_ m: UInt64, start: UInt64, count: UInt64, _ source: some MerkleSubtreeSource, into proof: inout [[UInt8]]) throws {
        guard count > 1 else { return }
        let k = largestPowerOfTwo(below: count)
        if m < k {
            try path(m, start: start, count: k, source, into: &proof)
            proof.append(try rangeHash(start: start + k, count: count - k, source: source))
        } else {
            try path(m - k, start: start + k, count: count - k, source, into: &proof)
            proof.append(try rangeHash(start: start, count: k, source: source))
        }
    }

    private static func subproof(
        _ m: UInt64, start: UInt64, count: UInt64, complete: Bool, _ source: some MerkleSubtreeSource, into proof: inout [[UInt8]]
    ) throws {
        if m == count {
            if !complete { proof.append(try rangeHash(start: start, count: count, source: source)) }
            return
        }
        let k = largestPowerOfTwo(below: count)
        if m <= k {
            try subproof(m, start: start, count: k, complete: complete, source, into: &proof)
            proof.append(try rangeHash(start: start + k, count: count - k, source: source))
        } else {
            try subproof(m - k, start: start + k, count: count - k, complete: false, source, into: &proof)
            proof.append(try rangeHash(start: start, count: k, source: source))
        }
    }
}

/// Complete-subtree hashes computed from a list of leaf hashes held in memory: for tests, small
/// trees and tools. O(2^level) per lookup.
public struct InMemoryMerkleSource<Hasher: MerkleHasher>: MerkleSubtreeSource {
    public let hasher: Hasher
    public let leafHashes: [[UInt8]]

    public init(hasher: Hasher, leafHashes: [[UInt8]]) {
        self.hasher = hasher
        self.leafHashes = leafHashes
    }

    public func completeSubtree(level: Int, index: UInt64) throws -> [UInt8] {
        let width = UInt64(1) << UInt64(level)
        let start = index * width
        guard start + width <= UInt64(leafHashes.count) else {
            throw MerkleError("subtree \(level)/\(index) lies past the \(leafHashes.count) leaves held")
        }
        func node(_ level: Int, _ start: UInt64) -> [UInt8] {
            if level == 0 { return leafHashes[Int(start)] }
            let half = UInt64(1) << UInt64(level - 1)
            return hasher.hashChildren(node(level - 1, start), node(level - 1, start + half))
        }
        return node(level, start)
    }
}
