@testable import DocketCore
import DocketTestSupport
import Testing

/// The projection's table of reports: a dictionary keyed by the bytes of report ids, whose
/// shards (one per partition of a rebuild) are joined without being merged.
@Suite("ReportTable")
struct ReportTableTests {
    /// Reports to store: every report of a synthetic log (the table keys them as it is told, which
    /// need not be their own ids).
    static let reports: [Report] = {
        var p = Projection()
        for e in try! ProjectionTests.log(reports: 40) { p.apply(e) }
        return Array(p.reports.values)
    }()

    /// Ids of every kind: short (inline in a `String`) and long, ASCII and not.
    static func id(_ n: Int) -> String {
        switch n % 4 {
        case 0: "r-\(n)"
        case 1: "a-much-longer-report-identifier-\(n)"
        case 2: "rapport-é-\(n)"
        default: "报告-\(n)-🔒"
        }
    }

    /// Checks `table` against `model` entry for entry, found by `String` and by bytes.
    static func expectSame(_ table: ReportTable, _ model: [String: Report], _ what: String) {
        #expect(table.count == model.count, "\(what)")
        #expect(table.values.count == model.count, "\(what)")
        #expect(Set(table.keys) == Set(model.keys), "\(what)")
        #expect(table.keys.count == model.count, "no id twice: \(what)")
        for (id, report) in model {
            #expect(table[id] == report, "\(id): \(what)")
            var bytes = id
            let found = bytes.withUTF8 { table.position(ofID: UnsafeRawBufferPointer($0)) }
            #expect(found.map { table[$0] } == report, "\(id) by its bytes: \(what)")
        }
        // The same reports, as many times each (one report may be stored under several ids).
        func tally(_ reports: some Sequence<Report>) -> [Report: Int] { Dictionary(reports.map { ($0, 1) }, uniquingKeysWith: +) }
        #expect(tally(table.values) == tally(model.values), "\(what)")
    }

    @Test("it keeps, replaces, removes and finds reports as a dictionary does, through growth and across joined shards", arguments: [1, 3])
    func likeADictionary(shards: Int) {
        var g = SplitMix64(seed: UInt64(shards))
        var model: [String: Report] = [:]
        // Shards filled apart, each with its own ids (as the partitions of a rebuild are), then joined.
        var parts = [ReportTable](repeating: ReportTable(), count: shards)
        for n in 0..<600 {
            let (id, report) = (Self.id(n), Self.reports[n % Self.reports.count])
            parts[n % shards][id] = report
            model[id] = report
        }
        var table = ReportTable(joining: parts)
        #expect(table.shards.count == shards)
        Self.expectSame(table, model, "joined")
        for step in 0..<6_000 {
            let id = Self.id(Int(g.next() % 1_500))
            let report = Self.reports[Int(g.next() % UInt64(Self.reports.count))]
            switch g.next() % 4 {
            case 0, 1:
                #expect(table.updateValue(report, forKey: id) == model.updateValue(report, forKey: id), "set \(id) at step \(step)")
            case 2:
                #expect(table.updateValue(nil, forKey: id) == model.removeValue(forKey: id), "remove \(id) at step \(step)")
            default:
                #expect(table[id] == model[id], "get \(id) at step \(step)")
            }
        }
        Self.expectSame(table, model, "after 6,000 changes")
        #expect(table == ReportTable(joining: [table]))
        // Changed in place through a position, and emptied.
        let id = model.keys.sorted()[0]
        let p = try! #require(table.position(ofID: id))
        table.update(at: p) { $0.title = "changed" }
        #expect(table[id]?.title == "changed" && model[id]?.title != "changed")
        for id in model.keys { table[id] = nil }
        #expect(table.isEmpty && table.count == 0 && table.values.isEmpty && Array(table.values).isEmpty)
    }

    @Test("tables are equal when they hold the same reports under the same ids, however divided into shards")
    func equality() {
        var whole = ReportTable()
        var parts = [ReportTable(), ReportTable(), ReportTable()]
        for n in 0..<100 {
            whole[Self.id(n)] = Self.reports[n % Self.reports.count]
            parts[n % 3][Self.id(n)] = Self.reports[n % Self.reports.count]
        }
        let joined = ReportTable(joining: parts)
        #expect(joined == whole && whole == joined)
        #expect(ReportTable(joining: []) == ReportTable() && ReportTable(joining: [ReportTable(), ReportTable()]).shards.count == 1)
        var other = joined
        other[Self.id(7)] = Self.reports[(7 + 1) % Self.reports.count]
        #expect(other != whole, "one report different")
        other = joined
        other["r-new"] = Self.reports[0]
        #expect(other != whole && whole != other, "one report more")
        other = joined
        other[Self.id(99)] = nil
        #expect(other != whole, "one report fewer")
        let literal: ReportTable = ["r-0": Self.reports[0], "r-1": Self.reports[1]]
        #expect(literal.count == 2 && literal["r-1"] == Self.reports[1] && literal["r-2"] == nil)
    }

    @Test("ids are told apart by their bytes, as the log tells streams apart")
    func bytesNotCanonicalForms() {
        // "é" as one code point and as "e" with a combining accent: equal as Swift strings, two
        // streams in the log.
        let composed = "caf\u{E9}-1"
        let decomposed = "cafe\u{301}-1"
        #expect(composed == decomposed)
        var table = ReportTable()
        table[composed] = Self.reports[0]
        table[decomposed] = Self.reports[1]
        #expect(table.count == 2 && table[composed] == Self.reports[0] && table[decomposed] == Self.reports[1])
    }

    @Test("a report stream whose name is not UTF-8 names no report: its events are counted as undecodable")
    func streamNameNotUTF8() throws {
        let start = try Timestamp(rfc3339: "2026-01-05T09:00:00Z")
        let step = SyntheticReports.report(3, start: start)
        let events = step.events.map { e in (type: Array(e.type.rawValue.utf8), version: e.schemaVersion, payload: e.payload.bytes, at: e.occurredAt!) }
        var p = Projection()
        // Repaired, both names would read "bad-\u{FFFD}", which a third stream names validly.
        for (n, stream) in [Array("report/bad-".utf8) + [0xFF], Array("report/bad-".utf8) + [0xC3], Array("report/bad-\u{FFFD}".utf8)].enumerated() {
            for (i, e) in events.enumerated() {
                stream.withUnsafeBytes { s in
                    e.type.withUnsafeBytes { type in
                        e.payload.withUnsafeBytes { payload in
                            p.apply(EnvelopeCodec.Fields(
                                sequence: UInt64(n * 10 + i + 1), streamVersion: UInt64(i + 1), stream: s, type: type, schemaVersion: e.version,
                                occurredAt: e.at, recordedAt: e.at, payload: payload))
                        }
                    }
                }
            }
        }
        #expect(p.undecodable == 2 * events.count)
        let report = try #require(p.reports["bad-\u{FFFD}"])
        #expect(p.reports.count == 1 && report.version == UInt64(events.count), "the valid stream's report, with its own events only")
    }

    @Test("values are walked by index as by iterator, past shards emptied by removal; a table so emptied takes reports again")
    func valuesByIndex() {
        var parts = [ReportTable(), ReportTable(), ReportTable()]
        for n in 0..<9 { parts[n % 3][Self.id(n)] = Self.reports[n] }
        var table = ReportTable(joining: parts)
        for n in [0, 3, 6, 1, 4, 7] { table[Self.id(n)] = nil }  // the first and middle shards
        #expect(table.shards.count == 3 && table.shards[0].count == 0 && table.shards[1].count == 0)
        let values = table.values
        let byIndex = values.indices.map { values[$0] }
        #expect(byIndex == Array(values) && byIndex == [2, 5, 8].map { Self.reports[$0] })
        #expect(values.first == Self.reports[2] && values.count == 3 && !values.isEmpty)
        #expect(values.index(after: values.startIndex) < values.endIndex)
        table[Self.id(0)] = Self.reports[0]
        #expect(table.count == 4 && table[Self.id(0)] == Self.reports[0] && Set(table.keys) == Set([0, 2, 5, 8].map(Self.id)))
        for n in [0, 2, 5, 8] { table[Self.id(n)] = nil }
        #expect(table.values.startIndex == table.values.endIndex && table.values.first == nil)
    }

    @Test("ids whose hashes collide, slot and tag, are told apart by their bytes, probing on past the last slot to the first")
    func collidingHashes() {
        var shard = ReportTable.Shard()
        // 16 slots: every entry hashed 15 starts at the last one, and all bear the same tag.
        let ids = (0..<6).map { "collide-\($0)" }
        for (i, id) in ids.enumerated() { shard.append(id: id, hash: 15, report: Self.reports[i]) }
        #expect(shard.slots.count == 16)
        for (i, id) in ids.enumerated() {
            var bytes = id
            #expect(bytes.withUTF8 { shard.index(of: UnsafeRawBufferPointer($0), hash: 15) } == i, "\(id)")
        }
        var missing = "collide-6"
        #expect(missing.withUTF8 { shard.index(of: UnsafeRawBufferPointer($0), hash: 15) } == nil)
        // Grown, the slots are laid out again and every entry is still found.
        for i in 6..<40 { shard.append(id: "collide-\(i)", hash: 15 &+ (i << 40), report: Self.reports[i % Self.reports.count]) }
        #expect(shard.slots.count == 128)
        for i in 0..<40 {
            var bytes = "collide-\(i)"
            #expect(bytes.withUTF8 { shard.index(of: UnsafeRawBufferPointer($0), hash: i < 6 ? 15 : 15 &+ (i << 40)) } == i)
        }
    }
}
