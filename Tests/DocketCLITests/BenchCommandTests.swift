import DocketCore
import DocketTestSupport
import Foundation
import Testing

@Suite("docket bench net")
struct BenchCommandTests {
    @Test("both load engines append over TCP to an in-process node and report one JSON line whose events the node holds", arguments: ["client", "raw"])
    func net(engine: String) async throws {
        try await withTemporaryDirectory { dir in
            let data = dir + "/node"
            let run = try await DocketProcess.run([
                "bench", "net", "--data-dir", data, "--warmup", "0", "--connections", "3", "--batch", "2", "--seconds", "2", "--engine", engine,
            ])
            #expect(run.status == 0, "\(run.stderr)")
            let line = try JSON.parse(run.stdout)
            #expect(line["engine"] == .string(engine))
            let events = try #require(line["events"]?.intValue)
            #expect(events > 0 && events % 2 == 0)
            guard case .double(let p50) = line["p50_ms"] else { Issue.record("no p50_ms in \(run.stdout)"); return }
            #expect(p50 > 0)
            // Every event it counted is in the log, on the connections' streams.
            let read = try await DocketProcess.run(["read", "--data-dir", data, "--limit", "100000"])
            let appended = read.lines.filter { $0.contains("\"stream\":\"net-") }
            #expect(appended.count == events)
        }
    }
}
