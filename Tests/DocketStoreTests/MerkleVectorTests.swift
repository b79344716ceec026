import DocketCore
import DocketStore
import DocketTestSupport
import Foundation
import Testing

// RFC 6962 inclusion and consistency proofs against every published vector of
// transparency-dev/merkle (`shared/external/merkle-rfc6962/{inclusion,consistency}`), the
// deliberately broken ones included: each must verify exactly when `wantErr` is false.

enum MerkleVectors {
    static var root: URL { sharedFile("external/merkle-rfc6962") }

    static func files(_ kind: String) -> [String] {
        let dir = root.appendingPathComponent(kind)
        guard let walker = FileManager.default.enumerator(atPath: dir.path) else { return [] }
        return walker.compactMap { $0 as? String }.filter { $0.hasSuffix(".json") }.map { "\(kind)/\($0)" }.sorted()
    }

    /// How many files each directory holds: every one must be run, so one that goes missing
    /// (or a directory that is not there) fails rather than leaving a parameterized test with
    /// fewer arguments, or none, which Swift Testing does not count as a failure.
    static let expectedCounts = ["inclusion": 98, "consistency": 98, "subtreeinclusion": 204, "subtreeconsistency": 118]

    /// A vector: its JSON, and its text, which the sizes and indices are read from exactly.
    struct Vector {
        let value: Value
        let text: String
        let path: String

        subscript(key: String) -> Value? { value[key] }

        var wantErr: Bool { value["wantErr"] == .bool(true) }

        /// The unsigned integer given as `key`, read from the file's text: the JSON parser
        /// gives numbers above Int64.max as doubles, which would round 2⁶⁴ − 1 up to 2⁶⁴ and
        /// 2⁶³ + 2 down to 2⁶³.
        func integer(_ key: String) throws -> UInt64 {
            let text = try #require(text.range(of: "\"\(key)\":").map { self.text[$0.upperBound...] }, "\(path): no \(key)")
            let digits = text.drop { $0 == " " }.prefix { $0.isASCII && $0.isNumber }
            return try #require(UInt64(digits), "\(path): \(key) is not an integer of at most 64 bits")
        }

        /// The base64 string given as `key`.
        func bytes(_ key: String) throws -> [UInt8] { try MerkleVectors.bytes(value[key], path) }

        /// The proof: an array of base64 hashes, or null for none.
        func proof() throws -> [[UInt8]] { try (value["proof"]?.arrayValue ?? []).map { try MerkleVectors.bytes($0, path) } }
    }

    static func load(_ path: String) throws -> Vector {
        let text = try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
        return Vector(value: try JSON.parse(text), text: text, path: path)
    }

    static func bytes(_ v: Value?, _ path: String) throws -> [UInt8] {
        let text = try #require(v?.stringValue, "\(path): a hash that is not a string")
        return [UInt8](try #require(Data(base64Encoded: text), "\(path): \(text) is not base64"))
    }
}

@Suite("Merkle proofs (RFC 6962 vectors)")
struct MerkleVectorTests {
    let hasher = SHA256MerkleHasher()

    @Test("every published vector is there to run")
    func present() throws {
        try #require(FileManager.default.fileExists(atPath: MerkleVectors.root.path), "no vectors at \(MerkleVectors.root.path)")
        for (kind, count) in MerkleVectors.expectedCounts { #expect(MerkleVectors.files(kind).count == count, "\(kind)") }
    }

    @Test("inclusion proofs verify exactly when the vector says so", arguments: MerkleVectors.files("inclusion"))
    func inclusion(_ path: String) throws {
        let v = try MerkleVectors.load(path)
        let ok = (try? MerkleProof.verifyInclusion(
            index: try v.integer("leafIdx"), size: try v.integer("treeSize"), leafHash: try v.bytes("leafHash"), proof: try v.proof(),
            root: try v.bytes("root"), hasher: hasher)) != nil
        #expect(ok == !v.wantErr, "\(path): \(v["desc"]?.stringValue ?? "")")
    }

    @Test("consistency proofs verify exactly when the vector says so", arguments: MerkleVectors.files("consistency"))
    func consistency(_ path: String) throws {
        let v = try MerkleVectors.load(path)
        let ok = (try? MerkleProof.verifyConsistency(
            size1: try v.integer("size1"), size2: try v.integer("size2"), root1: try v.bytes("root1"), root2: try v.bytes("root2"),
            proof: try v.proof(), hasher: hasher)) != nil
        #expect(ok == !v.wantErr, "\(path): \(v["desc"]?.stringValue ?? "")")
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
