/// Subtree inclusion and subtree consistency proofs, as the Merkle Tree Certificates draft
/// (draft-ietf-plants-merkle-tree-certs, "Subtrees", "Subtree Inclusion Proofs" and "Subtree
/// Consistency Proofs") defines them over an RFC 9162 tree.
///
/// A subtree `[start, end)` is a run of leaves that one node of a tree of at least `end` leaves
/// holds, possibly with further leaves to its right: `start < end`, and `start` is a multiple of
/// the smallest power of two ≥ `end − start`. Its hash is the RFC 9162 tree hash of leaves
/// `start..<end` alone. A subtree inclusion proof shows that a leaf is under a subtree hash; a
/// subtree consistency proof shows that a subtree hash is the hash of leaves `start..<end` of the
/// tree with a given root. Like the RFC 9162 functions, every malformed input (an invalid range,
/// too short or too long a proof, wrong hash sizes, sizes up to 2⁶⁴ − 1) is an error, never a crash.
extension MerkleProof {
    /// Checks that `[start, end)` is a subtree: non-empty, and aligned so that one node of a tree
    /// holds it (`start` a multiple of the smallest power of two ≥ `end − start`).
    public static func checkSubtree(start: UInt64, end: UInt64) throws(MerkleError) {
        guard start < end else {
            throw MerkleError("the subtree [\(start), \(end)) is empty: its start must be below its end")
        }
        let width = end - start
        // Above 2⁶³ the smallest power of two ≥ width is 2⁶⁴, of which 0 is the only multiple.
        guard width <= UInt64(1) << 63 else {
            guard start == 0 else {
                throw MerkleError("the subtree [\(start), \(end)) is wider than 2^63 leaves, so it must start at 0")
            }
            return
        }
        let alignment = UInt64(1) << (64 - (width - 1).leadingZeroBitCount)
        guard start & (alignment - 1) == 0 else {
            throw MerkleError("the subtree [\(start), \(end)) does not start at a multiple of \(alignment), the smallest power of two at least its width \(width)")
        }
    }

    /// The subtree hash a subtree inclusion proof implies for leaf `index` (with hash `leafHash`)
    /// in the subtree `[start, end)`: the proof is the RFC 9162 inclusion proof of leaf
    /// `index − start` in the tree of the subtree's `end − start` leaves.
    public static func rootFromSubtreeInclusion(
        index: UInt64, start: UInt64, end: UInt64, leafHash: [UInt8], proof: [[UInt8]], hasher: some MerkleHasher
    ) throws(MerkleError) -> [UInt8] {
        try checkSubtree(start: start, end: end)
        guard index >= start && index < end else {
            throw MerkleError("leaf index \(index) is outside the subtree [\(start), \(end))")
        }
        do {
            return try rootFromInclusion(index: index - start, size: end - start, leafHash: leafHash, proof: proof, hasher: hasher)
        } catch {
            throw MerkleError("in the subtree [\(start), \(end)), counting from its first leaf: \(error.message)")
        }
    }

    /// Checks that leaf `index` with hash `leafHash` is in the subtree `[start, end)` whose hash is
    /// `subtreeRoot`.
    public static func verifySubtreeInclusion(
        index: UInt64, start: UInt64, end: UInt64, leafHash: [UInt8], proof: [[UInt8]], subtreeRoot: [UInt8],
        hasher: some MerkleHasher
    ) throws(MerkleError) {
        let computed = try rootFromSubtreeInclusion(index: index, start: start, end: end, leafHash: leafHash, proof: proof, hasher: hasher)
        guard computed == subtreeRoot else {
            throw MerkleError("the subtree inclusion proof leads to another subtree hash than the one given")
        }
    }

    /// The tree root a subtree consistency proof implies for a tree of `size` leaves whose leaves
    /// `start..<end` hash to `subtreeRoot`, after checking that the proof's nodes inside the subtree
    /// do hash to `subtreeRoot`.
    ///
    /// The walk is the draft's: `fn`, `sn` and `tn` are the subtree's first and last leaf and the
    /// tree's last leaf, shifted up a level at a time. The proof starts at the highest node whose
    /// last leaf is `end − 1` and which lies inside the subtree; when that node is the subtree's
    /// own (a complete subtree, or one that ends where the tree does) the proof leaves it out, its
    /// hash being `subtreeRoot`. Each further hash is a left sibling (inside the subtree while
    /// `fn < sn`, so it counts for both hashes) or a right sibling (outside it, so it counts for
    /// the tree root only). With `start == 0` this is the RFC 9162 consistency proof from `end` to
    /// `size`.
    public static func rootFromSubtreeConsistency(
        start: UInt64, end: UInt64, size: UInt64, subtreeRoot: [UInt8], proof: [[UInt8]], hasher: some MerkleHasher
    ) throws(MerkleError) -> [UInt8] {
        try checkSubtree(start: start, end: end)
        guard end <= size else {
            throw MerkleError("the subtree [\(start), \(end)) ends past the tree of \(size) leaves")
        }
        if start == 0 && end == size {
            // The subtree is the whole tree: nothing to prove, as for RFC 9162 trees of one size.
            guard proof.isEmpty else {
                throw MerkleError("the subtree [0, \(end)) is the whole tree, so its consistency proof must be empty")
            }
            return subtreeRoot
        }
        guard subtreeRoot.count == hasher.hashSize else {
            throw MerkleError("the subtree hash is \(subtreeRoot.count) bytes, not \(hasher.hashSize)")
        }
        for (i, p) in proof.enumerated() where p.count != hasher.hashSize {
            throw MerkleError("proof hash \(i) is \(p.count) bytes, not \(hasher.hashSize)")
        }
        var fn = start
        var sn = end - 1
        var tn = size - 1
        func up() {
            fn >>= 1
            sn >>= 1
            tn >>= 1
        }
        if sn == tn {
            // The subtree ends where the tree does: its node is in the tree as it is.
            while fn != sn { up() }
        } else {
            // Climb the right children that are inside the subtree: their nodes are complete, and
            // the same in both trees.
            while fn != sn && sn & 1 == 1 { up() }
        }
        var rest = proof[...]
        var fr = subtreeRoot
        if fn != sn {
            guard let first = rest.popFirst() else {
                throw MerkleError("the subtree consistency proof is empty, but [\(start), \(end)) in a tree of \(size) needs one")
            }
            fr = first
        }
        var sr = fr
        for c in rest {
            guard tn != 0 else {
                throw MerkleError("the subtree consistency proof is longer than needed for [\(start), \(end)) in a tree of \(size)")
            }
            if sn & 1 == 1 || sn == tn {
                // A left sibling; inside the subtree until its node is reached.
                if fn < sn { fr = hasher.hashChildren(c, fr) }
                sr = hasher.hashChildren(c, sr)
                // A last node that is a left child has no sibling on the levels it is carried up.
                while sn & 1 == 0 && sn != 0 { up() }
            } else {
                // A right sibling: leaves after `end`, in the tree only.
                sr = hasher.hashChildren(sr, c)
            }
            up()
        }
        guard tn == 0 else {
            throw MerkleError("the subtree consistency proof is shorter than needed for [\(start), \(end)) in a tree of \(size)")
        }
        guard fr == subtreeRoot else {
            throw MerkleError("the subtree consistency proof does not lead to the subtree hash")
        }
        return sr
    }

    /// Checks that `subtreeRoot` is the hash of leaves `start..<end` of the tree of `size` leaves
    /// with `root`.
    ///
    /// The draft's subtrees are never empty, so an empty range `[s, s)` is an error, unless the
    /// caller passes `emptyTreeRoot`, the hash of the empty tree (`HASH()` with no input, RFC 9162
    /// §2.1.1), which a `MerkleHasher` cannot compute. Then an empty range with `s ≤ size` is
    /// consistent with every tree, whatever `root` is, when its hash is `emptyTreeRoot` and the
    /// proof is empty (the convention of the transparency-dev/merkle vectors).
    public static func verifySubtreeConsistency(
        start: UInt64, end: UInt64, size: UInt64, subtreeRoot: [UInt8], root: [UInt8], proof: [[UInt8]],
        emptyTreeRoot: [UInt8]? = nil, hasher: some MerkleHasher
    ) throws(MerkleError) {
        if start == end, let emptyTreeRoot {
            guard end <= size else {
                throw MerkleError("the empty range [\(start), \(end)) is past the tree of \(size) leaves")
            }
            guard proof.isEmpty else {
                throw MerkleError("the empty range [\(start), \(end)) needs an empty consistency proof")
            }
            guard subtreeRoot == emptyTreeRoot else {
                throw MerkleError("the empty range [\(start), \(end)) has another hash than the empty tree's")
            }
            return
        }
        let computed = try rootFromSubtreeConsistency(start: start, end: end, size: size, subtreeRoot: subtreeRoot, proof: proof, hasher: hasher)
        guard computed == root else {
            throw MerkleError("the subtree consistency proof does not lead to the tree root")
        }
    }
}
