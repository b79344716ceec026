import DocketCore
import DocketWire
import Foundation
import Testing

/// The frames of protocol.md §8.8 (checkpoints, receipts, proofs, replay): each hex dump printed
/// there must be exactly what the encoder writes for that value, so the document cannot drift
/// from the code. `DOCKET_PRINT_DUMPS=1` prints the dumps instead of checking them.
@Suite("Forensic frames in protocol.md")
struct ForensicFrameTests {
    static let document = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Schemas/protocol.md")

    static let ledger = "c93cf1f12f1b27e754dc4e4ad8c30981"
    static let publicKey = "bb9648474dd2bc914b28d361dc6f7e2aef1d8060fe2045a2a74a719faee1de72"
    static let checkpoint: Value = .object([
        ("seq", 5), ("size", 4), ("root", "5a89ae9dd70b51f3512266158287c9044ea8fc835d2e1cdda912b83b5758e9da"),
        ("signedAt", "2026-12-01T13:50:25.996748Z"), ("publicKey", .string(publicKey)),
        ("signature", "2e878e3580c8bfa0ca824ee7f086f79c5273a6f0fcb556235a6e50b632ef35fc9deea5fd93861540527ec0a862b5ac61b401ea2edfd3b66d4f23e81357b5570c"),
    ])

    static let frames: [(String, Frame)] = [
        ("checkpoint request", Frame(.admin, requestID: 20, body: .object([("action", "checkpoint")]))),
        ("checkpoint result", Frame(.adminResult, requestID: 20, body: checkpoint)),
        ("receipt request", Frame(.admin, requestID: 21, body: .object([("action", "receipt"), ("seq", 2)]))),
        ("receipt result", Frame(.adminResult, requestID: 21, body: .object([
            ("ledger", .string(ledger)), ("seq", 2), ("stream", "report/R1"), ("version", 1), ("id", "01a231de-f73a-7bdf-bc53-2c0592826172"),
            ("type", "ReportSubmitted"), ("recordedAt", "2026-12-01T13:50:25.59488Z"),
            ("leafHash", "2a5565cd5911a020508106ccc7f04414bc51db053d922394f3a2dc911e1464a8"),
            ("chainHash", "6dc2e5e8445bf6bbf743935ff2f5175d6032ff45a650917a288eb5e233fe3b25"), ("publicKey", .string(publicKey)),
            ("signature", "6e565972d53afd8840d65c3b439d4f82c5f1efac1905311894285d6f907e747f17218b9b331c7c5bf08ace95eca5176e16fe5228da19c9b4d298a86d2056be0d"),
        ]))),
        ("proof request", Frame(.admin, requestID: 22, body: .object([
            ("action", "proof"), ("seq", 2), ("leafHash", "2a5565cd5911a020508106ccc7f04414bc51db053d922394f3a2dc911e1464a8"),
            ("ledger", .string(ledger)), ("newCheckpoint", false),
        ]))),
        ("proof result", Frame(.adminResult, requestID: 22, body: .object([
            ("seq", 2), ("checkpoint", checkpoint),
            ("auditPath", ["d483f7695bc60ff04372cb7a78b4d1967b7fdd26a46b023a0d2e9140f173cb9e", "010a1b7cd7592f4cf5e9e868be990267429b634325721469c67f28db85700a46"]),
        ]))),
        ("replay query", Frame(.query, requestID: 23, body: ViewQuery.replay(window: .seconds(7_776_000)).wireValue.appending("asOf", AsOfSpec.sequence(4).wireValue))),
    ]

    /// `xxd -g1` style: offset, 16 bytes in hex, printable ASCII.
    static func dump(_ bytes: [UInt8]) -> String {
        var lines: [String] = []
        for start in stride(from: 0, to: bytes.count, by: 16) {
            let row = bytes[start..<min(start + 16, bytes.count)]
            let hex = row.map { String(format: "%02x", $0) }.joined(separator: " ")
            let ascii = String(row.map { (0x20...0x7e).contains($0) ? Character(UnicodeScalar($0)) : "." })
            lines.append(String(format: "%08x: ", start) + hex.padding(toLength: 47, withPad: " ", startingAt: 0) + "  " + ascii)
        }
        return lines.joined(separator: "\n")
    }

    @Test("every dump in protocol.md §8.8 is the encoder's output", arguments: frames.map(\.0))
    func dumps(_ name: String) throws {
        let frame = try #require(Self.frames.first { $0.0 == name }?.1)
        let text = Self.dump(FrameEncoder.bytes(frame))
        if ProcessInfo.processInfo.environment["DOCKET_PRINT_DUMPS"] != nil {
            print("--- \(name): \(JSON.serialize(frame.body))\n\(text)")
            return
        }
        let document = try String(contentsOf: Self.document, encoding: .utf8)
        #expect(document.contains(text), "protocol.md lacks the dump of the \(name)")
        #expect(document.contains(JSON.serialize(frame.body)), "protocol.md lacks the JSON of the \(name)")
    }

    @Test("the replay query round-trips, and its window defaults to 90 days")
    func replayQuery() throws {
        #expect(try ViewQuery(wire: ViewQuery.replay(window: .seconds(3600)).wireValue) == .replay(window: .seconds(3600)))
        #expect(try ViewQuery(wire: ["view": "replay"]) == .replay(window: .seconds(90 * 86_400)))
        #expect(throws: MessageError.self) { try ViewQuery(wire: ["view": "replay", "windowSeconds": -1]) }
    }

    @Test("a hall-of-fame year is one the views can print: 1–9999", arguments: [Int64(-5), 0, 10_000, 1 << 62])
    func hallOfFameYear(year: Int64) throws {
        let refused = #expect(throws: MessageError.self) { try ViewQuery(wire: ["view": "hall-of-fame", "project": "p", "year": .int(year)]) }
        #expect(refused?.description.contains("\"year\" must be a year 1–9999, not \(year)") == true, "\(String(describing: refused))")
        #expect(try ViewQuery(wire: ViewQuery.hallOfFame(project: "p", year: 2026).wireValue) == .hallOfFame(project: "p", year: 2026))
    }
}

extension Value {
    func appending(_ key: String, _ value: Value) -> Value {
        guard case .object(var members) = self else { return self }
        members.append((key, value))
        return .object(members)
    }
}
