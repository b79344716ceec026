import DocketCore
@testable import DocketStore
import DocketTestSupport
import Foundation
import Testing

/// RFC 9162 audit paths as `MerkleAuditPath` generates them: equal to the published vectors'
/// proofs, to a direct transcription of the RFC's recursive definitions, and accepted by the
/// verifiers (which reject them once altered) — over every tree size up to 70 and sampled larger
/// ones; and the store's Merkle index, which serves the same proofs from stored subtrees.
@Suite("Merkle proof generation")
struct MerkleProofGenerationTests {
    let hasher = SHA256MerkleHasher()

    func leaves(_ n: Int, salt: String = "leaf") -> [[UInt8]] {
        (0..<n).map { hasher.hashLeaf(Array("\(salt) \($0)".utf8)) }
    }

    // The RFC's definitions over arrays (RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1), word for word.
    func mth(_ d: ArraySlice<[UInt8]>) -> [UInt8] {
        if d.count == 1 { return d.first! }
        var k = 1
        while k * 2 < d.count { k *= 2 }
        return hasher.hashChildren(mth(d.prefix(k)), mth(d.dropFirst(k)))
    }

    func referencePath(_ m: Int, _ d: ArraySlice<[UInt8]>) -> [[UInt8]] {
        if d.count == 1 { return [] }
        var k = 1
        while k * 2 < d.count { k *= 2 }
        if m < k { return referencePath(m, d.prefix(k)) + [mth(d.dropFirst(k))] }
        return referencePath(m - k, d.dropFirst(k)) + [mth(d.prefix(k))]
    }

    func referenceSubproof(_ m: Int, _ d: ArraySlice<[UInt8]>, _ b: Bool) -> [[UInt8]] {
        if m == d.count { return b ? [] : [mth(d)] }
        var k = 1
        while k * 2 < d.count { k *= 2 }
        if m <= k { return referenceSubproof(m, d.prefix(k), b) + [mth(d.dropFirst(k))] }
        return referenceSubproof(m - k, d.dropFirst(k), false) + [mth(d.prefix(k))]
    }

    @Test("inclusion proofs for every leaf of every tree up to 70 leaves equal the RFC's PATH and verify; altered, they do not")
    func inclusionExhaustive() throws {
        let all = leaves(70)
        for size in 1...70 {
            let d = all.prefix(size)
            let source = InMemoryMerkleSource(hasher: hasher, leafHashes: Array(d))
            let root = try MerkleAuditPath.root(size: UInt64(size), source: source)
            #expect(root == mth(d), "root of \(size)")
            for m in 0..<size {
                let proof = try MerkleAuditPath.inclusion(index: UInt64(m), size: UInt64(size), source: source)
                #expect(proof == referencePath(m, d), "PATH(\(m), \(size))")
                #expect(throws: Never.self) {
                    try MerkleProof.verifyInclusion(index: UInt64(m), size: UInt64(size), leafHash: d[m], proof: proof, root: root, hasher: hasher)
                }
                if !proof.isEmpty {
                    var altered = proof
                    altered[m % altered.count][m % 32] ^= 0x01
                    #expect(throws: MerkleError.self) {
                        try MerkleProof.verifyInclusion(index: UInt64(m), size: UInt64(size), leafHash: d[m], proof: altered, root: root, hasher: hasher)
                    }
                    #expect(throws: MerkleError.self) {  // the proof of another leaf
                        try MerkleProof.verifyInclusion(index: UInt64((m + 1) % size), size: UInt64(size), leafHash: d[m], proof: proof, root: root, hasher: hasher)
                    }
                }
            }
        }
        #expect(throws: MerkleError.self) { try MerkleAuditPath.inclusion(index: 5, size: 5, source: InMemoryMerkleSource(hasher: hasher, leafHashes: all)) }
    }

    @Test("consistency proofs between every pair of sizes up to 70 equal the RFC's PROOF and verify; altered, they do not")
    func consistencyExhaustive() throws {
        let all = leaves(70)
        let source = InMemoryMerkleSource(hasher: hasher, leafHashes: all)
        for n in 1...70 {
            let newRoot = mth(all.prefix(n))
            for m in 1...n {
                let proof = try MerkleAuditPath.consistency(oldSize: UInt64(m), newSize: UInt64(n), source: source)
                #expect(proof == referenceSubproof(m, all.prefix(n), true), "PROOF(\(m), \(n))")
                let oldRoot = mth(all.prefix(m))
                #expect(throws: Never.self) {
                    try MerkleProof.verifyConsistency(size1: UInt64(m), size2: UInt64(n), root1: oldRoot, root2: newRoot, proof: proof, hasher: hasher)
                }
                if !proof.isEmpty {
                    var altered = proof
                    altered[(m + n) % altered.count][0] ^= 0x80
                    #expect(throws: MerkleError.self) {
                        try MerkleProof.verifyConsistency(size1: UInt64(m), size2: UInt64(n), root1: oldRoot, root2: newRoot, proof: altered, hasher: hasher)
                    }
                }
            }
        }
        #expect(throws: MerkleError.self) { try MerkleAuditPath.consistency(oldSize: 0, newSize: 3, source: source) }
        #expect(throws: MerkleError.self) { try MerkleAuditPath.consistency(oldSize: 4, newSize: 3, source: source) }
    }

    @Test("sampled proofs in trees of up to 70,000 leaves verify against the incremental builder's roots")
    func largeTrees() throws {
        var g = SplitMix64(seed: 62)
        let all = leaves(70_000, salt: "big")
        let source = InMemoryMerkleSource(hasher: hasher, leafHashes: all)
        for _ in 0..<5 {
            let size = UInt64(g.next() % 70_000) + 1
            var builder = MerkleTreeBuilder(hasher: hasher)
            for h in all.prefix(Int(size)) { builder.append(leafHash: h) }
            let root = try MerkleAuditPath.root(size: size, source: source)
            #expect(root == builder.root)
            for _ in 0..<3 {
                let m = g.next() % size
                let proof = try MerkleAuditPath.inclusion(index: m, size: size, source: source)
                #expect(proof.count <= 64 - (size - 1).leadingZeroBitCount)
                #expect(throws: Never.self) { try MerkleProof.verifyInclusion(index: m, size: size, leafHash: all[Int(m)], proof: proof, root: root, hasher: hasher) }
                let old = g.next() % size + 1
                var oldBuilder = MerkleTreeBuilder(hasher: hasher)
                for h in all.prefix(Int(old)) { oldBuilder.append(leafHash: h) }
                let c = try MerkleAuditPath.consistency(oldSize: old, newSize: size, source: source)
                #expect(throws: Never.self) {
                    try MerkleProof.verifyConsistency(size1: old, size2: size, root1: oldBuilder.root!, root2: root, proof: c, hasher: hasher)
                }
            }
        }
    }

    /// RFC 6962's eight test leaves: the published vectors' trees are prefixes of them.
    var rfcLeaves: [[UInt8]] { MerkleTreeTests.leaves.map { hasher.hashLeaf($0) } }

    @Test("generated inclusion proofs equal every valid published vector over RFC 6962's test leaves")
    func publishedInclusion() throws {
        let source = InMemoryMerkleSource(hasher: hasher, leafHashes: rfcLeaves)
        var compared = 0
        for path in MerkleVectors.files("inclusion") {
            let v = try MerkleVectors.load(path)
            guard !v.wantErr else { continue }
            let (index, size) = (try v.integer("leafIdx"), try v.integer("treeSize"))
            guard size <= 8, try v.bytes("root") == MerkleAuditPath.root(size: size, source: source) else { continue }
            #expect(try v.bytes("leafHash") == rfcLeaves[Int(index)], "\(path)")
            #expect(try MerkleAuditPath.inclusion(index: index, size: size, source: source) == v.proof(), "\(path)")
            compared += 1
        }
        #expect(compared == 5)  // the valid vectors of trees of up to 8 of these leaves
    }

    @Test("generated consistency proofs equal every valid published vector over RFC 6962's test leaves")
    func publishedConsistency() throws {
        let source = InMemoryMerkleSource(hasher: hasher, leafHashes: rfcLeaves)
        var compared = 0
        for path in MerkleVectors.files("consistency") {
            let v = try MerkleVectors.load(path)
            guard !v.wantErr else { continue }
            let (size1, size2) = (try v.integer("size1"), try v.integer("size2"))
            guard size1 >= 1, size1 <= size2, size2 <= 8, try v.bytes("root2") == MerkleAuditPath.root(size: size2, source: source) else { continue }
            #expect(try MerkleAuditPath.consistency(oldSize: size1, newSize: size2, source: source) == v.proof(), "\(path)")
            compared += 1
        }
        #expect(compared == 5)
    }
}

@Suite("Merkle index of the log")
struct MerkleIndexTests {
    let hasher = SHA256MerkleHasher()

    func storedLeaves(_ store: EventStore) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        try store.scanRaw { (_, value) throws(StoreError) in
            out.append(hasher.hashLeaf(Array(value)))
            return true
        }
        return out
    }

    @Test("roots and proofs from the index equal those of the records themselves, caught up step by step, across dictionary changes")
    func matchesRecords() async throws {
        try await withTemporaryDirectory { dir in
            // A small dictionary threshold, so records of the log name different dictionaries.
            let store = try openStore(dir) { $0.dictionaryTrainingThreshold = 64; $0.dictionarySampleCount = 128 }
            defer { store.close() }
            try await appendBatches(store, count: 300, batch: 7)
            let index = try MerkleIndex.open(dataDirectory: dir, store: store)
            #expect(!index.isTemporary && index.path == dir + "/merkle")
            for size: UInt64 in [1, 2, 15, 16, 17, 31, 32, 33, 100, 255, 256, 257, 300] {
                let leaves = try storedLeaves(store)
                let source = InMemoryMerkleSource(hasher: hasher, leafHashes: Array(leaves.prefix(Int(size))))
                #expect(try index.root(size: size) == store.merkleRoot(size: size), "root of \(size)")
                for seq in Set([1, size, (size + 1) / 2, min(size, 16), min(size, 17)]) {
                    let proof = try index.inclusionProof(sequence: seq, size: size)
                    #expect(proof == (try MerkleAuditPath.inclusion(index: seq - 1, size: size, source: source)), "path of \(seq) in \(size)")
                }
                for old in Set([1, max(size / 3, 1), size]) {
                    #expect(try index.consistencyProof(from: old, to: size) == (try MerkleAuditPath.consistency(oldSize: old, newSize: size, source: source)))
                }
            }
            #expect(try index.size == 300)
            // More records: it catches up from where it was.
            try await appendBatches(store, count: 200, batch: 50, offset: 300)
            let root = try index.root(size: 500)
            #expect(root == (try store.merkleRoot(size: 500)))
            #expect(try index.size == 500)
            #expect(index.hasher.hashLeaf(try #require(try store.rawRecord(at: 77))) == (try index.leafHash(sequence: 77)))
            // Nothing past the head.
            #expect(throws: StoreError.self) { try index.root(size: 501) }
            #expect(throws: StoreError.self) { try index.inclusionProof(sequence: 0, size: 10) }
            #expect(throws: StoreError.self) { try index.inclusionProof(sequence: 11, size: 10) }
        }
    }

    @Test("a root that trusts the index only within a prefix, and hashes the records after it, equals the log's for every size and prefix")
    func rootTrustingPrefix() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            defer { store.close() }
            try await appendBatches(store, count: 150, batch: 10)
            let index = try MerkleIndex.open(dataDirectory: dir, store: store)
            for size: UInt64 in [1, 15, 16, 17, 32, 33, 64, 100, 128, 129, 150] {
                let expected = try store.merkleRoot(size: size)
                for prefix in Set<UInt64>([0, 1, 15, 16, 17, 31, 32, 33, 64, 99, size / 2, size]) where prefix <= size {
                    #expect(try index.root(size: size, trustingNodesThrough: prefix) == expected, "size \(size), prefix \(prefix)")
                }
            }
        }
    }

    @Test("an index left by another log, or a deleted one, is rebuilt; a read-only data directory gets a temporary one")
    func rebuilds() async throws {
        try await withTemporaryDirectory { dir in
            let a = dir + "/a"
            let b = dir + "/b"
            do {
                let store = try openStore(a)
                defer { store.close() }
                try await appendBatches(store, count: 40, batch: 40)
                _ = try MerkleIndex.open(dataDirectory: a, store: store).root(size: 40)
            }
            // b: another log, given a's index.
            let storeB = try openStore(b)
            defer { storeB.close() }
            try await appendBatches(storeB, count: 50, batch: 10, offset: 1000)
            try FileManager.default.copyItem(atPath: a + "/merkle", toPath: b + "/merkle")
            let index = try MerkleIndex.open(dataDirectory: b, store: storeB)
            #expect(try index.root(size: 50) == storeB.merkleRoot(size: 50))
            #expect(try index.root(size: 40) == storeB.merkleRoot(size: 40))

            // A read-only copy of b: an index in a temporary directory, removed when released.
            let copy = dir + "/copy"
            try FileManager.default.copyItem(atPath: b + "/ledger", toPath: copy + "/ledger")
            try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: copy)
            defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: copy) }
            var configuration = EventStore.Configuration()
            configuration.readOnly = true
            let readOnly = try EventStore.open(directory: copy, configuration: configuration)
            defer { readOnly.close() }
            var temporary: MerkleIndex? = try MerkleIndex.open(dataDirectory: copy, store: readOnly)
            let path = try #require(temporary?.path)
            if getuid() != 0 {  // root writes anywhere
                #expect(temporary?.isTemporary == true)
                #expect(!FileManager.default.fileExists(atPath: copy + "/merkle"))
            }
            #expect(try temporary?.root(size: 50) == storeB.merkleRoot(size: 50))
            temporary = nil
            if path != copy + "/merkle" { #expect(!FileManager.default.fileExists(atPath: path)) }
        }
    }
}
