import DocketCore
import DocketStore
import Foundation
import Testing

// Subtree inclusion and subtree consistency proofs (the Merkle Tree Certificates draft) against
// every published vector of transparency-dev/merkle
// (`shared/external/merkle-rfc6962/{subtreeinclusion,subtreeconsistency}`), the deliberately
// broken ones included: each must verify exactly when `wantErr` is false.

@Suite("Merkle subtree proofs (MTC draft vectors)")
struct SubtreeVectorTests {
    let hasher = SHA256MerkleHasher()

    /// SHA-256 of no input, the hash of the empty tree (RFC 9162 §2.1.1): the vectors accept an
    /// empty range `[s, s)` with this hash and an empty proof, in any tree of at least `s` leaves.
    static let emptyTreeRoot = [UInt8](Data(base64Encoded: "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")!)

    @Test("subtree inclusion proofs verify exactly when the vector says so", arguments: MerkleVectors.files("subtreeinclusion"))
    func inclusion(_ path: String) throws {
        let v = try MerkleVectors.load(path)
        let ok = (try? MerkleProof.verifySubtreeInclusion(
            index: try v.integer("leafIdx"), start: try v.integer("start"), end: try v.integer("end"), leafHash: try v.bytes("leafHash"),
            proof: try v.proof(), subtreeRoot: try v.bytes("root"), hasher: hasher)) != nil
        #expect(ok == !v.wantErr, "\(path): \(v["desc"]?.stringValue ?? "")")
    }

    @Test("subtree consistency proofs verify exactly when the vector says so", arguments: MerkleVectors.files("subtreeconsistency"))
    func consistency(_ path: String) throws {
        let v = try MerkleVectors.load(path)
        let ok = (try? MerkleProof.verifySubtreeConsistency(
            start: try v.integer("start"), end: try v.integer("end"), size: try v.integer("size"), subtreeRoot: try v.bytes("root1"),
            root: try v.bytes("root2"), proof: try v.proof(), emptyTreeRoot: Self.emptyTreeRoot, hasher: hasher)) != nil
        #expect(ok == !v.wantErr, "\(path): \(v["desc"]?.stringValue ?? "")")
    }

    @Test("an empty range is not a subtree unless the caller gives the empty tree's hash")
    func emptyRange() {
        let e = Self.emptyTreeRoot
        #expect(throws: MerkleError.self) {
            try MerkleProof.verifySubtreeConsistency(start: 1, end: 1, size: 2, subtreeRoot: e, root: e, proof: [], hasher: hasher)
        }
        #expect(throws: MerkleError.self) {
            try MerkleProof.verifySubtreeConsistency(start: 3, end: 3, size: 2, subtreeRoot: e, root: e, proof: [], emptyTreeRoot: e, hasher: hasher)
        }
    }

    /// The vectors hold no valid consistency proof of a subtree that starts after leaf 0, so these
    /// are built from the draft's definition (SUBTREE_SUBPROOF) over trees of up to 33 leaves.
    @Test("subtree consistency proofs built from the draft's definition verify; a flipped bit or another subtree hash does not")
    func generated() throws {
        func split(_ n: Int) -> Int { var k = 1; while k << 1 < n { k <<= 1 }; return k }
        func mth(_ d: ArraySlice<[UInt8]>) -> [UInt8] {
            guard d.count > 1 else { return d[d.startIndex] }
            let k = d.startIndex + split(d.count)
            return hasher.hashChildren(mth(d[..<k]), mth(d[k...]))
        }
        // Ranges are relative to the slice `d`.
        func subproof(_ start: Int, _ end: Int, _ d: ArraySlice<[UInt8]>, _ known: Bool) -> [[UInt8]] {
            if start == 0 && end == d.count { return known ? [] : [mth(d)] }
            let k = split(d.count)
            let (left, right) = (d.prefix(k), d.dropFirst(k))
            if end <= k { return subproof(start, end, left, known) + [mth(right)] }
            if start >= k { return subproof(start - k, end - k, right, known) + [mth(left)] }
            return subproof(0, end - k, right, false) + [mth(left)]
        }
        let leaves = (0..<33).map { hasher.hashLeaf(Array("leaf \($0)".utf8)) }
        var checked = 0
        for n in 1...leaves.count {
            let tree = leaves[0..<n]
            let root = mth(tree)
            for start in 0..<n {
                for end in (start + 1)...n where (try? MerkleProof.checkSubtree(start: UInt64(start), end: UInt64(end))) != nil {
                    let subtreeRoot = mth(tree[start..<end])
                    let proof = subproof(start, end, tree, true)
                    try MerkleProof.verifySubtreeConsistency(
                        start: UInt64(start), end: UInt64(end), size: UInt64(n), subtreeRoot: subtreeRoot, root: root, proof: proof, hasher: hasher)
                    for i in proof.indices {
                        var flipped = proof
                        flipped[i][0] ^= 16
                        let bad = flipped
                        #expect(throws: MerkleError.self, "[\(start), \(end)) in \(n), proof hash \(i) flipped") {
                            try MerkleProof.verifySubtreeConsistency(
                                start: UInt64(start), end: UInt64(end), size: UInt64(n), subtreeRoot: subtreeRoot, root: root, proof: bad, hasher: hasher)
                        }
                    }
                    // A hash of the right size that is not the subtree's: its check is the only
                    // thing that catches it when the proof starts below the subtree's node.
                    var otherRoot = subtreeRoot
                    otherRoot[31] ^= 1
                    let wrongSubtreeRoot = otherRoot
                    #expect(throws: MerkleError.self, "[\(start), \(end)) in \(n) with another subtree hash") {
                        try MerkleProof.verifySubtreeConsistency(
                            start: UInt64(start), end: UInt64(end), size: UInt64(n), subtreeRoot: wrongSubtreeRoot, root: root, proof: proof, hasher: hasher)
                    }
                    checked += 1
                }
            }
        }
        #expect(checked > 1000)
    }
}
