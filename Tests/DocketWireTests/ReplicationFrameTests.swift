import DocketCore
@testable import DocketWire
import NIOCore
import NIOTestUtils
import Testing

@Suite("Replication frames")
struct ReplicationFrameTests {
    /// The RECORDS frame of Schemas/protocol.md §17.3, written there from the layout alone.
    static let golden =
        "0000007196000000090000000000000005000000020001000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        + "0001000000077b2276223a317d0000000637a430ec01020000000f010000aaaaaaaaaaaaaaaa28b52ffd00000010010001bbbbbbbbbbbbbbbb28b52ffd20"

    static let body = RecordsBody(
        first: 5, lastHash: Array(0..<32),
        dictionaries: [RecordsBody.Dictionary(version: 1, info: "{\"v\":1}", bytes: [0x37, 0xa4, 0x30, 0xec, 0x01, 0x02])],
        bytes: [1, 0, 0] + [UInt8](repeating: 0xaa, count: 8) + [0x28, 0xb5, 0x2f, 0xfd] + [1, 0, 1] + [UInt8](repeating: 0xbb, count: 8)
            + [0x28, 0xb5, 0x2f, 0xfd, 0x20],
        ends: [15, 31])

    @Test("a RECORDS frame has the documented bytes and decodes back to the same records")
    func golden() throws {
        let frame = Frame(.records, requestID: 9, binary: Self.body.frameBuffer)
        let bytes = FrameEncoder.bytes(frame)
        #expect(Hex.encode(bytes) == Self.golden)
        var buffer = ByteBuffer(bytes: bytes)
        var decoder = FrameDecoder()
        let decoded = try #require(try decoder.decodeFrame(&buffer))
        #expect(decoded.type == .records && decoded.requestID == 9 && decoded.body == .null)
        #expect(try RecordsBody(decoding: #require(decoded.binary)) == Self.body)
        // Every split of the bytes gives the same frame.
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(ByteBuffer(bytes: bytes), [frame])], decoderFactory: { FrameDecoder() })
    }

    @Test("an empty RECORDS body (no records, a dictionary only) round-trips")
    func empty() throws {
        let body = RecordsBody(first: 42, lastHash: [UInt8](repeating: 7, count: 32), dictionaries: [], bytes: [], ends: [])
        #expect(try RecordsBody(decoding: body.frameBuffer) == body)
    }

    @Test("a malformed RECORDS body is refused before anything is allocated for it", arguments: [
        "short header", "too many records", "record past the end", "empty record", "bytes after the last record", "dictionary version 0",
        "sequences past the largest",
    ])
    func malformed(_ what: String) throws {
        var bytes = Array(Self.body.frameBuffer.readableBytesView)
        switch what {
        case "short header": bytes = Array(bytes.prefix(20))
        case "too many records": bytes.replaceSubrange(8..<12, with: [0xFF, 0xFF, 0xFF, 0xFF])
        case "record past the end": bytes.replaceSubrange(bytes.count - 20..<bytes.count - 16, with: [0x00, 0x00, 0x10, 0x00])
        case "empty record": bytes.replaceSubrange(bytes.count - 20..<bytes.count - 16, with: [0, 0, 0, 0])
        case "bytes after the last record": bytes.append(0)
        // The last record empty too, so that naming it in the error would number it past 2^64 − 1.
        case "sequences past the largest":
            bytes.replaceSubrange(0..<8, with: [UInt8](repeating: 0xFF, count: 8))
            bytes.replaceSubrange(bytes.count - 20..<bytes.count - 16, with: [0, 0, 0, 0])
        default: bytes.replaceSubrange(46..<48, with: [0, 0])
        }
        #expect(throws: MessageError.self) { try RecordsBody(decoding: ByteBuffer(bytes: bytes)) }
    }

    @Test("the REPLICATE frame of protocol.md §17.2 is what this encoder writes")
    func replicateGolden() throws {
        let r = ReplicateRequest(
            ledger: "5f0c2a9e7b3d41c8a6e1f2093b7d4c55", head: 41, hash: "4a81af9a1f98e3264282562a17d78c28415df33ff89751e1d802f323aba38984",
            epoch: 0, epochLeader: nil, dictionaries: 1, window: 65536, maxFrame: 8_388_608, node: "9c41d2e07a3b5f18", address: "127.0.0.1:7412")
        let bytes = FrameEncoder.bytes(Frame(.replicate, requestID: 7, body: r.wireValue))
        #expect(Hex.encode(bytes) == "000000dd19000000070709066c6564676572052035663063326139653762336434316338613665316632303933623764346335350468656164035204686173680540346138316166396131663938653332363432383235363261313764373863323834313564663333666638393735316531643830326633323361626133383938340565706f636803000c64696374696f6e617269657303020677696e646f7703808008086d61784672616d650380808008046e6f64650510396334316432653037613362356631380761646472657373050e3132372e302e302e313a37343132")
    }

    @Test("REPLICATE bodies round-trip and bad fields are refused")
    func replicate() throws {
        let r = ReplicateRequest(
            ledger: "0123456789abcdef0123456789abcdef", head: 7, hash: String(repeating: "ab", count: 32), epoch: 2, epochLeader: "h:1",
            dictionaries: 3, window: 100, maxFrame: 1 << 20, node: "n", address: "127.0.0.1:9")
        #expect(try ReplicateRequest(wire: r.wireValue) == r)
        #expect(throws: MessageError.self) { try ReplicateRequest(wire: ["ledger": "x", "head": 1, "hash": "zz"]) }
        #expect(throws: MessageError.self) { try ReplicateRequest(wire: ["ledger": "x", "head": -1, "hash": .string(String(repeating: "0", count: 64))]) }
        // Names the leader logs and shows: no forged log lines, no terminal escapes, no megabytes.
        for (field, bad) in [("node", "n\nlevel=critical forged"), ("address", "h:1\u{1B}]0;x"), ("epochLeader", "h:1\r"), ("node", String(repeating: "n", count: 256))] {
            var wire = r
            switch field {
            case "node": wire.node = bad
            case "address": wire.address = bad
            default: wire.epochLeader = bad
            }
            let refused = #expect(throws: MessageError.self) { try ReplicateRequest(wire: wire.wireValue) }
            #expect(refused?.message.contains(field) == true, "\(String(describing: refused))")
        }
    }
}
