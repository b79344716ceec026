import DocketCore
import DocketStore
import DocketTestSupport
import Foundation
import Testing

// RFC 6962 inclusion and consistency proofs against every published vector of
// transparency-dev/merkle (`shared/external/merkle-rfc6962/{inclusion,consistency}`), the
// deliberately broken ones included: each must verify exactly when `wantErr` is false.

enum MerkleVectors {
    static var root: URL {
        if let shared = ProcessInfo.processInfo.environment["DOCKET_SHARED_DIR"], !shared.isEmpty {
            return URL(fileURLWithPath: shared).appendingPathComponent("external/merkle-rfc6962")
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("../shared/external/merkle-rfc6962").standardizedFileURL
    }

    static func files(_ kind: String) -> [String] {
        let dir = root.appendingPathComponent(kind)
        guard let walker = FileManager.default.enumerator(atPath: dir.path) else { return [] }
        return walker.compactMap { $0 as? String }.filter { $0.hasSuffix(".json") }.map { "\(kind)/\($0)" }.sorted()
    }

    static func load(_ path: String) throws -> Value {
        try JSON.parse(String(contentsOf: root.appendingPathComponent(path), encoding: .utf8))
    }

    static func bytes(_ v: Value?) -> [UInt8] {
        guard let s = v?.stringValue else { return [] }
        return Data(base64Encoded: s).map { [UInt8]($0) } ?? Array(s.utf8)
    }

    static func proof(_ v: Value?) -> [[UInt8]] { (v?.arrayValue ?? []).map { bytes($0) } }

    /// Sizes are JSON numbers up to 2⁶⁴ − 1; the parser gives those above Int64 as doubles.
    static func size(_ v: Value?) -> UInt64? {
        switch v {
        case .int(let i)?: return i >= 0 ? UInt64(i) : nil
        case .double(let d)?: return d >= 0 && d < 18_446_744_073_709_551_616 ? UInt64(d) : nil
        default: return nil
        }
    }
}

@Suite("Merkle proofs (RFC 6962 vectors)")
struct MerkleVectorTests {
    let hasher = SHA256MerkleHasher()

    @Test("there are vectors to run", .enabled(if: FileManager.default.fileExists(atPath: MerkleVectors.root.path), "needs shared/external"))
    func present() {
        #expect(MerkleVectors.files("inclusion").count >= 80)
        #expect(MerkleVectors.files("consistency").count >= 90)
    }

    @Test("inclusion proofs verify exactly when the vector says so", arguments: MerkleVectors.files("inclusion"))
    func inclusion(_ path: String) throws {
        let v = try MerkleVectors.load(path)
        let wantErr = v["wantErr"] == .bool(true)
        var ok = false
        if let index = MerkleVectors.size(v["leafIdx"]), let size = MerkleVectors.size(v["treeSize"]) {
            ok = (try? MerkleProof.verifyInclusion(
                index: index, size: size, leafHash: MerkleVectors.bytes(v["leafHash"]), proof: MerkleVectors.proof(v["proof"]),
                root: MerkleVectors.bytes(v["root"]), hasher: hasher)) != nil
        }
        #expect(ok == !wantErr, "\(path): \(v["desc"]?.stringValue ?? "")")
    }

    @Test("consistency proofs verify exactly when the vector says so", arguments: MerkleVectors.files("consistency"))
    func consistency(_ path: String) throws {
        let v = try MerkleVectors.load(path)
        let wantErr = v["wantErr"] == .bool(true)
        var ok = false
        if let size1 = MerkleVectors.size(v["size1"]), let size2 = MerkleVectors.size(v["size2"]) {
            ok = (try? MerkleProof.verifyConsistency(
                size1: size1, size2: size2, root1: MerkleVectors.bytes(v["root1"]), root2: MerkleVectors.bytes(v["root2"]),
                proof: MerkleVectors.proof(v["proof"]), hasher: hasher)) != nil
        }
        #expect(ok == !wantErr, "\(path): \(v["desc"]?.stringValue ?? "")")
    }

    @Test("the leaf and node hashes are RFC 6962's (the empty-tree and one-leaf values)")
    func hashes() {
        // SHA-256 of the empty string is the root of the empty tree; leaf "" hashes with the 0x00 prefix.
        #expect(hasher.hashLeaf([]).map { String(format: "%02x", $0) }.joined() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    }
}

@Suite("Merkle tree builder and checkpoints of the log")
struct MerkleTreeTests {
    let hasher = SHA256MerkleHasher()

    /// RFC 6962's test leaves (as transparency-dev/merkle uses them); the root of all eight is the
    /// root the inclusion vectors prove against.
    static let leaves: [[UInt8]] = [
        [], [0x00], [0x10], [0x20, 0x21], [0x30, 0x31], [0x40, 0x41, 0x42, 0x43],
        [0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57], Array(0x60...0x6f),
    ]

    @Test("the builder's root of RFC 6962's eight test leaves is the published root")
    func publishedRoot() {
        var tree = MerkleTreeBuilder(hasher: hasher)
        #expect(tree.root == nil)
        for leaf in Self.leaves { tree.append(leafHash: hasher.hashLeaf(leaf)) }
        #expect(tree.root.map { Data($0).base64EncodedString() } == "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=")
    }

    @Test("every prefix of a log has a root that the consistency proofs of a direct construction link")
    func prefixes() throws {
        // Roots of every prefix, by the builder, must agree with a direct recursive MTH.
        func mth(_ hashes: ArraySlice<[UInt8]>) -> [UInt8] {
            if hashes.count == 1 { return hashes.first! }
            var k = 1
            while k * 2 < hashes.count { k *= 2 }
            return hasher.hashChildren(mth(hashes.prefix(k)), mth(hashes.dropFirst(k)))
        }
        let hashes = (0..<70).map { hasher.hashLeaf(Array("leaf \($0)".utf8)) }
        var tree = MerkleTreeBuilder(hasher: hasher)
        for (i, h) in hashes.enumerated() {
            tree.append(leafHash: h)
            #expect(tree.root == mth(hashes[0...i]), "prefix of \(i + 1)")
        }
    }

    @Test("the store's Merkle root covers its stored records byte for byte")
    func storeRoot() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            defer { store.close() }
            for i in 0..<20 { _ = try await store.append(to: try stream("s"), events: [try event(data: ["i": .int(Int64(i))])]) }
            var tree = MerkleTreeBuilder(hasher: hasher)
            for seq in 1...UInt64(12) { tree.append(leafHash: hasher.hashLeaf(try #require(try store.rawRecord(at: seq)))) }
            #expect(try store.merkleRoot(size: 12) == tree.root)
            #expect(try store.merkleRoot(size: 21) == nil)
            #expect(try store.merkleRoot(size: 0) == nil)
        }
    }
}
