/// The hash function of an RFC 6962 / RFC 9162 Merkle tree: leaves are hashed as
/// `H(0x00 ‖ data)` and interior nodes as `H(0x01 ‖ left ‖ right)`. `DocketStore` provides the
/// SHA-256 instance; the algorithms here are pure.
public protocol MerkleHasher: Sendable {
    /// Bytes in a hash.
    var hashSize: Int { get }
    func hashLeaf(_ data: [UInt8]) -> [UInt8]
    func hashChildren(_ left: [UInt8], _ right: [UInt8]) -> [UInt8]
}

/// Why a proof does not verify.
public struct MerkleError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Verification of inclusion and consistency proofs, as RFC 9162 §2.1.3.2 and §2.1.4.2 give
/// the algorithms: walk the proof from the leaf (or the old tree's last leaf) to the root, using
/// the bits of the index and of the last index to decide on which side each proof hash goes.
/// Every malformed proof (too short, too long, wrong hash sizes, out-of-range indexes) is an
/// error, never a crash.
public enum MerkleProof {
    /// The root an inclusion proof implies for leaf `index` (with hash `leafHash`) in a tree of `size` leaves.
    public static func rootFromInclusion(
        index: UInt64, size: UInt64, leafHash: [UInt8], proof: [[UInt8]], hasher: some MerkleHasher
    ) throws(MerkleError) -> [UInt8] {
        guard index < size else { throw MerkleError("leaf index \(index) is not below the tree size \(size)") }
        try checkSizes(leafHash, proof, hasher)
        var fn = index
        var sn = size - 1
        var r = leafHash
        for p in proof {
            guard sn != 0 else { throw MerkleError("the inclusion proof is longer than the path from leaf \(index) in a tree of \(size)") }
            if fn & 1 == 1 || fn == sn {
                r = hasher.hashChildren(p, r)
                while fn & 1 == 0 && fn != 0 {
                    fn >>= 1
                    sn >>= 1
                }
            } else {
                r = hasher.hashChildren(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw MerkleError("the inclusion proof is shorter than the path from leaf \(index) in a tree of \(size)") }
        return r
    }

    /// Checks that leaf `index` with hash `leafHash` is in the tree of `size` leaves with `root`.
    public static func verifyInclusion(
        index: UInt64, size: UInt64, leafHash: [UInt8], proof: [[UInt8]], root: [UInt8], hasher: some MerkleHasher
    ) throws(MerkleError) {
        let computed = try rootFromInclusion(index: index, size: size, leafHash: leafHash, proof: proof, hasher: hasher)
        guard computed == root else { throw MerkleError("the inclusion proof leads to another root than the one given") }
    }

    /// Checks that the tree of `size2` leaves with `root2` extends the tree of `size1` leaves
    /// with `root1` (append-only: the first `size1` leaves are unchanged).
    public static func verifyConsistency(
        size1: UInt64, size2: UInt64, root1: [UInt8], root2: [UInt8], proof: [[UInt8]], hasher: some MerkleHasher
    ) throws(MerkleError) {
        guard size1 <= size2 else { throw MerkleError("the old tree (\(size1)) is larger than the new one (\(size2))") }
        guard size1 > 0 else { throw MerkleError("a consistency proof from the empty tree proves nothing") }
        if size1 == size2 {
            guard proof.isEmpty else { throw MerkleError("trees of the same size need an empty consistency proof") }
            guard root1 == root2 else { throw MerkleError("two trees of size \(size1) have different roots") }
            return
        }
        try checkSizes(root1, proof, hasher)
        guard root2.count == hasher.hashSize else { throw MerkleError("the new root is \(root2.count) bytes, not \(hasher.hashSize)") }
        guard !proof.isEmpty else { throw MerkleError("the consistency proof is empty") }
        // When the old tree is a complete subtree, its root is the first node of the path.
        let path = size1 & (size1 - 1) == 0 ? [root1] + proof : proof
        var fn = size1 - 1
        var sn = size2 - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = path[0]
        var sr = path[0]
        for c in path.dropFirst() {
            guard sn != 0 else { throw MerkleError("the consistency proof is longer than needed for \(size1) → \(size2)") }
            if fn & 1 == 1 || fn == sn {
                fr = hasher.hashChildren(c, fr)
                sr = hasher.hashChildren(c, sr)
                while fn & 1 == 0 && fn != 0 {
                    fn >>= 1
                    sn >>= 1
                }
            } else {
                sr = hasher.hashChildren(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw MerkleError("the consistency proof is shorter than needed for \(size1) → \(size2)") }
        guard fr == root1 else { throw MerkleError("the consistency proof does not lead to the old root") }
        guard sr == root2 else { throw MerkleError("the consistency proof does not lead to the new root") }
    }

    private static func checkSizes(_ first: [UInt8], _ proof: [[UInt8]], _ hasher: some MerkleHasher) throws(MerkleError) {
        guard first.count == hasher.hashSize else { throw MerkleError("a hash is \(first.count) bytes, not \(hasher.hashSize)") }
        for (i, p) in proof.enumerated() where p.count != hasher.hashSize {
            throw MerkleError("proof hash \(i) is \(p.count) bytes, not \(hasher.hashSize)")
        }
    }
}
