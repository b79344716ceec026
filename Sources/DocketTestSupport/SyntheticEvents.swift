public import DocketCore

/// Realistic lifecycle events for benchmarks and tests: ~300 bytes of envelope each, varied
/// per index the way the raw C baseline (`shared/baselines/lmdb_zstd.c`) varies its JSON, so
/// that compression figures compare like with like.
public enum SyntheticEvents {
    static let kinds = [
        "ReportSubmitted", "ReportAcknowledged", "ReportTriaged", "FixReleased", "AdvisoryPublished",
        "CreditAccepted", "StatusUpdateSent",
    ]
    static let severities = ["critical", "high", "medium"]

    /// Event number `i`: a report's stream gets seven consecutive events.
    public static func event(_ i: Int, id: EventID? = nil, occurredAt: Timestamp? = nil) -> (stream: StreamName, event: ProposedEvent) {
        let report = i / 7
        let a = UInt64(truncatingIfNeeded: i) &* 2_654_435_761 & 0xFFFF_FFFF
        let data: Value = .object([
            ("report", .string("RPT-\(pad(report, 6))")),
            ("severity", .string(severities[i % 3 == 0 ? 0 : (i % 4 == 1 ? 1 : 2)])),
            ("cvss", .string("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:\(["N", "L", "H"][i % 3])")),
            ("component", .string("services/api/app/auth/session-\(i % 50)")),
            (
                "note",
                .string("Reproduced on commit \(String(a, radix: 16)); affects versions <= 1.\(i % 9).x; fix planned in next patch release.")
            ),
        ])
        // Live events: they happen when the ledger records them (no separate occurred-at), as
        // when an intake bot or a maintainer appends without --at. The force-unwraps are on
        // constant, valid names.
        let event = try! ProposedEvent(
            id: id ?? .random(), type: try! EventType(kinds[i % 7]), actor: "maintainer-\(i % 13)@example.org",
            occurredAt: occurredAt, data: data)
        return (try! StreamName("report-\(pad(report, 6))"), event)
    }

    static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}
