import Crypto
public import DocketCore

/// RFC 6962's SHA-256 tree hashing, for Merkle checkpoints over the log.
public struct SHA256MerkleHasher: MerkleHasher {
    public init() {}

    public var hashSize: Int { 32 }

    public func hashLeaf(_ data: [UInt8]) -> [UInt8] {
        var h = SHA256()
        h.update(data: [0x00])
        h.update(data: data)
        return Array(h.finalize())
    }

    public func hashChildren(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        var h = SHA256()
        h.update(data: [0x01])
        h.update(data: left)
        h.update(data: right)
        return Array(h.finalize())
    }
}
