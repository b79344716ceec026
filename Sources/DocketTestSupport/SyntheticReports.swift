public import DocketCore

/// Realistic report histories for the views benchmark and tests: each report walks the
/// lifecycle the way real ones do (some need information, some are closed as duplicates or
/// spam, most are fixed, disclosed and credited), with plausible gaps between events.
public enum SyntheticReports {
    public struct Step: Sendable {
        public var stream: StreamName
        public var events: [ProposedEvent]

        public init(stream: StreamName, events: [ProposedEvent]) {
            self.stream = stream
            self.events = events
        }
    }

    public static let projects = ["aisoc", "aumos", "aixcl", "socai", "aios"]

    /// The policy synthetic projects adopt: every kind of clock, business days and holidays included.
    public static let policyText = """
        name = "Synthetic policy"
        version = 1
        time-zone = "UTC"
        holidays = ["2026-04-03", "2026-12-25", "2027-01-01"]
        [acknowledge]
        within = "48h"
        [triage]
        within = "5bd"
        pause-while-waiting = true
        [status-update]
        every = "7d"
        [fix]
        from = "acceptance"
        critical = "7d"
        high = "30d"
        medium = "next-release"
        low = "next-release"
        [disclosure]
        from = "report"
        within = "90d"
        grace = "14d"
        exploited = "7d"
        [needs-info]
        auto-close = "30d"
        """
    static let severities: [CVSSSeverity] = [.critical, .high, .high, .medium, .medium, .medium, .low]
    static let vectors = [
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:N",
        "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:L/A:N", "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:L/I:N/A:N",
    ]

    /// The events of report number `n` (one stream, appended as one unit), starting at `start`.
    public static func report(_ n: Int, start: Timestamp) -> Step {
        var g = SplitMix64(seed: UInt64(n) &+ 0x5EED)
        let project = projects[n % projects.count]
        let id = "\(project)-\(n)"
        var t = start
        var events: [DomainEvent] = []
        var times: [Timestamp] = []
        func add(_ e: DomainEvent, after hours: Int) {
            t = t + .seconds(Int64(hours) * 3600 + Int64(g.next() % 3600))
            events.append(e)
            times.append(t)
        }
        let credit: CreditPreference = [.named, .named, .handle, .anonymous, .none][Int(g.next() % 5)]
        add(.reportSubmitted(ReportSubmitted(
            project: project, title: "Authorization bypass in \(project) endpoint \(n % 97)",
            reporter: Reporter(handle: "researcher-\(n % 1000)", name: "Researcher \(n % 1000)", contact: "r\(n % 1000)@example.org", credit: credit),
            component: "services/api/route-\(n % 31)", affected: ["<1.\(n % 9).0"])), after: 0)
        add(.reportAcknowledged(ReportAcknowledged(assignee: "maintainer-\(n % 7)")), after: 1 + Int(g.next() % 60))
        let fate = g.next() % 10
        if fate == 0 {
            add(.reportClosed(ReportClosed(resolution: .duplicate, duplicateOf: "\(project)-\(max(0, n - 5))")), after: 24)
            return step(id, events, times)
        }
        if fate == 1 {
            add(.reportClosed(ReportClosed(resolution: .informative, reason: "expected behaviour")), after: 30)
            return step(id, events, times)
        }
        add(.triageStarted(TriageStarted()), after: 2)
        if fate < 4 {
            add(.infoRequested(InfoRequested(question: "Which version and configuration?")), after: 20)
            add(.reporterResponded(ReporterResponded(summary: "Default configuration, 1.\(n % 9).2")), after: 10 + Int(g.next() % 80))
        }
        let severity = severities[Int(g.next() % UInt64(severities.count))]
        add(.reportTriaged(ReportTriaged(severity: severity, cvss31: vectors[n % vectors.count], cwes: ["CWE-\(200 + n % 700)"], component: "services/api/route-\(n % 31)", affected: [">=1.0, <1.\(n % 9).3"])), after: 30)
        add(.statusUpdateSent(StatusUpdateSent(summary: "Fix in progress")), after: 100)
        add(.fixStarted(FixStarted(branch: "security/fix-\(n)")), after: 12)
        add(.fixMerged(FixMerged(commit: String(g.next() & 0xFFFF_FFFF_FFFF, radix: 16))), after: 60)
        add(.statusUpdateSent(StatusUpdateSent(summary: "Fix merged, release scheduled")), after: 24)
        add(.fixReleased(FixReleased(versions: ["1.\(n % 9).3"])), after: 48)
        add(.cveAssigned(CVEAssigned(cve: "CVE-2026-\(10000 + n % 90000)")), after: 24)
        if credit != .none { add(.creditAccepted(CreditAccepted(person: "researcher-\(n % 1000)", displayName: "Researcher \(n % 1000)", preference: credit)), after: 6) }
        add(.advisoryPublished(AdvisoryPublished(cve: "CVE-2026-\(10000 + n % 90000)", url: "https://example.org/advisories/\(id)")), after: 24 * 7)
        return step(id, events, times)
    }

    private static func step(_ id: String, _ events: [DomainEvent], _ times: [Timestamp]) -> Step {
        // The force-unwraps are on names and payloads this generator builds valid.
        Step(stream: try! DomainStreams.report(id), events: zip(events, times).map { e, t in try! e.proposed(actor: "maintainer", occurredAt: t) })
    }
}
