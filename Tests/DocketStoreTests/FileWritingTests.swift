@testable import DocketStore
import DocketTestSupport
import Foundation
import Testing

@Suite("writing files whole")
struct FileWritingTests {
    @Test("an exclusive write never replaces a file; a plain one does; both are created with their mode")
    func exclusive() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/secret"
            try writeFileAtomically(Array("one\n".utf8), to: path, mode: 0o600, durable: true, exclusive: true)
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "one\n")
            #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            let refused = #expect(throws: StoreError.self) { try writeFileAtomically(Array("two\n".utf8), to: path, mode: 0o600, durable: true, exclusive: true) }
            #expect(refused?.message.contains("\(path) already exists; it was left as it is") == true)
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "one\n")
            // Nothing left behind but the file itself.
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["secret"])
            try writeFileAtomically(Array("three\n".utf8), to: path, mode: 0o600, durable: false)
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "three\n")
        }
    }
}

@Suite("store statistics")
struct StoreStatisticsTests {
    @Test("counters a damaged meta table gives (fewer record bytes than headers) make no ratio, not a trap")
    func damagedCounters() {
        let stats = StoreStatistics(
            events: 10, streams: 1, fileBytes: 4096, usedBytes: 4096, recordBytes: 5, rawBytes: 100, dictionaries: [], currentDictionary: nil, mapSize: 1 << 20)
        #expect(stats.compressionRatio == 0)
        let sane = StoreStatistics(
            events: 10, streams: 1, fileBytes: 4096, usedBytes: 4096, recordBytes: 10 * 13 + 50, rawBytes: 100, dictionaries: [], currentDictionary: nil, mapSize: 1 << 20)
        #expect(sane.compressionRatio == 2)
    }
}
