import DocketCore
import Testing

@Suite("Dates already passed when recorded")
struct DatePassedTests {
    private func t(_ s: String) -> Timestamp { try! Timestamp(rfc3339: s) }

    @Test("an embargo end or a disclosure date by the event's own time is refused, saying how to date an earlier agreement; a later one is taken")
    func refusals() throws {
        let at = t("2026-12-05T06:00:00Z")
        let latest = t("2026-05-01T00:00:00Z")
        let inOrder = "to record one agreed earlier, give the time it was agreed with --at (a report's events are recorded in order: no earlier than its latest event, 2026-05-01T00:00:00Z); otherwise give a later date"
        let cases: [(DomainEvent, String?)] = [
            (.embargoExtended(EmbargoExtended(until: t("2026-11-15T00:00:00Z"), reason: "r", reporterAgreed: true)),
             "an embargo extension to 2026-11-15T00:00:00Z is not after the time it is recorded as (2026-12-05T06:00:00Z); \(inOrder)"),
            // At the event's own time is not after it (and is no date alone: no word of midnight).
            (.embargoExtended(EmbargoExtended(until: at, reason: "r", reporterAgreed: true)),
             "an embargo extension to 2026-12-05T06:00:00Z is not after the time it is recorded as (2026-12-05T06:00:00Z); \(inOrder)"),
            // A date alone, today: its midnight has passed, and the refusal says so.
            (.disclosureScheduled(DisclosureScheduled(date: t("2026-12-05T00:00:00Z"))),
             "a disclosure scheduled for 2026-12-05T00:00:00Z is not after the time it is recorded as (2026-12-05T06:00:00Z): a date alone is 00:00 UTC that day; give the time of day too (like 2026-12-05T18:00:00Z); \(inOrder)"),
            (.disclosureScheduled(DisclosureScheduled(date: t("2026-12-05T18:00:00Z"))), nil),
            (.embargoExtended(EmbargoExtended(until: t("2026-12-05T06:00:00.000001Z"), reason: "r", reporterAgreed: false)), nil),
            (.noteAdded(NoteAdded(text: "n")), nil),
        ]
        for (event, refusal) in cases {
            if let refusal {
                let error = #expect(throws: DomainError.self) { try Lifecycle.refuseDatePassed(event, at: at, latest: latest) }
                #expect(error?.code == .invalidCommand && error?.message == refusal, "\(String(describing: error))")
            } else {
                #expect(throws: Never.self) { try Lifecycle.refuseDatePassed(event, at: at, latest: latest) }
            }
        }
    }
}
