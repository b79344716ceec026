import DocketCore
import DocketStore
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
