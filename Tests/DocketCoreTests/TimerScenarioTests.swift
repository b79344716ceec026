import DocketCore
import Foundation
import Testing

// Scripted report histories under each seed policy (and Project Zero's and CERT/CC's), with every
// clock's state, due instant and margin worked out by hand from the policy text. The working is
// in the comments; times are UTC unless a test says otherwise.

private func t(_ s: String) -> Timestamp { try! Timestamp(rfc3339: s) }
private func hours(_ h: Int64) -> Duration { .seconds(h * 3600) }

/// A project with one adopted policy and the reports scripted against it, folded exactly as
/// replaying the log would fold them.
struct Scenario {
    var projection = Projection()
    let project: String

    /// Adopts `Schemas/policies/<file>`, optionally edited (to model a variant such as a holiday list).
    init(_ file: String, project: String = "p", zone: ZoneRules = .utc, edit: (String) -> String = { $0 }) throws {
        self.project = project
        let text = edit(try String(contentsOf: PolicyFiles.directory.appendingPathComponent(file), encoding: .utf8))
        let policy = try Policy.parse(text, file: file)
        projection.apply(.policyAdopted(PolicyAdopted(policyText: policy.encodeCanonical(), zone: zone)), toProject: project, at: t("2026-01-01T00:00:00Z"), sequence: 1)
    }

    mutating func submit(_ id: String, at time: String, reporter: Reporter = Reporter(handle: "ada", name: "Ada L", credit: .named)) throws {
        try run(id, .submit(ReportSubmitted(project: project, title: "Report \(id)", reporter: reporter)), at: time)
    }

    /// Decides `command` and folds its events in with event time `time`, recorded then too unless
    /// `recorded` says when.
    mutating func run(_ id: String, _ command: ReportCommand, at time: String, recorded: String? = nil) throws {
        let events = try Lifecycle.decide(command, report: projection.reports[id], reportID: id)
        for e in events { projection.apply(e, toReport: id, at: t(time), recordedAt: t(recorded ?? time)) }
    }

    /// Submitted, acknowledged and triaged at the times given: where most scenarios start.
    mutating func accepted(_ id: String, _ severity: CVSSSeverity, submitted: String, acknowledged: String, triaged: String) throws {
        try submit(id, at: submitted)
        try run(id, .acknowledge(assignee: "m"), at: acknowledged)
        try triage(id, severity, at: triaged)
    }

    mutating func triage(_ id: String, _ severity: CVSSSeverity, at time: String) throws {
        try run(id, .triage(severity: severity, cvss31: nil, cvss40: nil, cwes: [], component: nil, affected: [], reason: nil), at: time)
    }

    func clock(_ id: String, _ kind: ClockKind, at time: String) -> Clock {
        let report = projection.reports[id]!
        return Timers.clocks(for: report, policy: projection.policy(for: report), now: t(time)).first { $0.kind == kind }!
    }
}

/// Project Zero's policy with its deadlines where their days end, weekend or holiday: what the
/// scenarios of its other rules use, whose dates fall where they fall. Its move of a deadline off
/// a day off (`workday-deadlines`) has a test of its own, `projectZeroWorkdays`.
private func anyDay(_ text: String) -> String { text.replacingOccurrences(of: "workday-deadlines = true\n", with: "") }

/// Project Zero's policy with its grace periods automatic (the format's default), not on request:
/// what the scenarios of the grace periods themselves use (with `anyDay`'s deadlines).
private func automaticGrace(_ text: String) -> String { anyDay(text).replacingOccurrences(of: "grace-on-request = true\n", with: "") }

/// Inserts top-level keys after `version = 1` and appends sections: the policy variants below.
private func variant(top: String = "", append: String = "") -> (String) -> String {
    { text in text.replacingOccurrences(of: "version = 1\n", with: "version = 1\n\(top)\n") + "\n" + append + "\n" }
}

@Suite("Timer scenarios")
struct TimerScenarioTests {
    // MARK: 001 AumOS: 48 h, 5 business days, updates every 7 days, fix by severity from acceptance, 90 days.

    @Test("AumOS: business days across a weekend, a severity change mid-flight, missed status update, 90-day disclosure")
    func aumos() throws {
        var s = try Scenario("aumos.toml")
        // Friday 15:00.
        try s.submit("A", at: "2026-11-20T15:00:00Z")
        // Acknowledge: due Sun 2026-11-22T15:00Z (48 calendar hours); done Sat 10:00 → met, 29 h early.
        try s.run("A", .acknowledge(assignee: "maria"), at: "2026-11-21T10:00:00Z")
        var c = s.clock("A", .acknowledge, at: "2026-12-05T00:00:00Z")
        #expect(c.state == .met && c.dueAt == t("2026-11-22T15:00:00Z") && c.margin == hours(29))
        // Triage, 5 business days: Fri 9 h + Mon–Thu 96 h + Fri 15 h = 120 h → Fri 2026-11-27T15:00Z.
        c = s.clock("A", .triage, at: "2026-11-25T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-11-27T15:00:00Z"))
        // Accepted as critical on Thursday 12:00: met, 27 h early.
        try s.triage("A", .critical, at: "2026-11-26T12:00:00Z")
        c = s.clock("A", .triage, at: "2026-11-27T00:00:00Z")
        #expect(c.state == .met && c.endedAt == t("2026-11-26T12:00:00Z") && c.margin == hours(27))
        // Fix critical: 7 days from confirmation → 2026-12-03T12:00Z.
        c = s.clock("A", .fix, at: "2026-11-29T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-12-03T12:00:00Z") && c.target == "7d")
        // Status updates every 7 days from the acknowledgement: one on 11-27 10:00 (due 11-28 10:00,
        // on time), the next due 2026-12-04T10:00Z.
        try s.run("A", .statusUpdate(summary: "confirmed"), at: "2026-11-27T10:00:00Z")
        c = s.clock("A", .statusUpdate, at: "2026-12-01T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-12-04T10:00:00Z"))
        // Re-assessed as high on 11-30: the fix target becomes 30 days from the same confirmation,
        // 2026-12-26T12:00Z; as of 12-05 the clock runs.
        try s.triage("A", .high, at: "2026-11-30T09:00:00Z")
        c = s.clock("A", .fix, at: "2026-12-05T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-12-26T12:00:00Z") && c.target == "30d")
        // No update since 11-27: breached at 12-04 10:00, 14 h overdue as of 12-05 00:00.
        c = s.clock("A", .statusUpdate, at: "2026-12-05T00:00:00Z")
        #expect(c.state == .breached && c.isLate && c.dueAt == t("2026-12-04T10:00:00Z") && c.margin == .zero - hours(14))
        #expect(c.note == "1 update late or missed (worst 14h late)", "\(String(describing: c.note))")
        // Disclosure: 90 days from the report → 2027-02-18T15:00Z.
        c = s.clock("A", .disclosure, at: "2026-12-05T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2027-02-18T15:00:00Z"))
        // The fix ships 12-20: met, 6 d 12 h... early (12-26 12:00 − 12-20 00:00 = 6 d 12 h).
        try s.run("A", .release(versions: ["2.1.1"]), at: "2026-12-20T00:00:00Z")
        c = s.clock("A", .fix, at: "2026-12-21T00:00:00Z")
        #expect(c.state == .met && c.margin == hours(6 * 24 + 12))
        // The investigation ended at the release, with no update since 11-27: the ones due 12-04,
        // 12-11 and 12-18 (10:00) were all missed, and the clock is judged by the first.
        c = s.clock("A", .statusUpdate, at: "2026-12-21T00:00:00Z")
        #expect(c.state == .breached && c.endedAt == t("2026-12-20T00:00:00Z") && c.dueAt == t("2026-12-04T10:00:00Z"))
        #expect(c.margin == .zero - hours(15 * 24 + 14))
        #expect(c.note == "3 updates late or missed (worst 15d 14h late); no update before the investigation ended", "\(String(describing: c.note))")
        #expect(s.clock("A", .needsInfo, at: "2026-12-21T00:00:00Z").state == .notApplicable)
    }

    @Test("AumOS: medium and low severities are due with the next release")
    func aumosNextRelease() throws {
        var s = try Scenario("aumos.toml")
        try s.accepted("B", .medium, submitted: "2026-11-02T09:00:00Z", acknowledged: "2026-11-02T10:00:00Z", triaged: "2026-11-03T10:00:00Z")
        var c = s.clock("B", .fix, at: "2027-01-01T00:00:00Z")
        #expect(c.state == .running && c.dueAt == nil && c.target == "next-release" && !c.isLate)
        try s.run("B", .release(versions: ["2.2.0"]), at: "2027-01-15T00:00:00Z")
        c = s.clock("B", .fix, at: "2027-01-16T00:00:00Z")
        #expect(c.state == .met && c.endedAt == t("2027-01-15T00:00:00Z"))
    }

    @Test("AumOS with a holiday: Thanksgiving moves the 5-business-day triage deadline past the weekend")
    func aumosHoliday() throws {
        var s = try Scenario("aumos.toml", edit: variant(top: "holidays = [\"2026-11-26\"]"))
        try s.submit("H", at: "2026-11-20T15:00:00Z")
        // Fri 9 h + Mon–Wed 72 h + (Thu is a holiday) Fri 24 h + (weekend) Mon 15 h = 120 h → Mon 2026-11-30T15:00Z.
        var c = s.clock("H", .triage, at: "2026-11-27T16:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-11-30T15:00:00Z"))
        // Without the holiday the same moment is already past due (Fri 15:00).
        var plain = try Scenario("aumos.toml")
        try plain.submit("H", at: "2026-11-20T15:00:00Z")
        #expect(plain.clock("H", .triage, at: "2026-11-27T16:00:00Z").state == .breached)
        try s.run("H", .acknowledge(assignee: "m"), at: "2026-11-21T09:00:00Z")
        try s.triage("H", .low, at: "2026-11-27T16:00:00Z")
        c = s.clock("H", .triage, at: "2026-12-01T00:00:00Z")
        #expect(c.state == .met && c.margin == hours(71))
    }

    @Test("AumOS with the clock paused while waiting on the reporter, and needs-info auto-close")
    func aumosPause() throws {
        let edit = variant(append: "[needs-info]\nauto-close = \"14d\"")
        let pausing: (String) -> String = { edit($0.replacingOccurrences(of: "[triage]\nwithin = \"5bd\"", with: "[triage]\nwithin = \"5bd\"\npause-while-waiting = true")) }
        var s = try Scenario("aumos.toml", edit: pausing)
        var plain = try Scenario("aumos.toml")
        do {
            // The same history under both policies.
            try s.submit("C", at: "2026-11-02T09:00:00Z")  // Monday 09:00
            try plain.submit("C", at: "2026-11-02T09:00:00Z")
            try s.run("C", .acknowledge(assignee: "m"), at: "2026-11-02T12:00:00Z")
            try plain.run("C", .acknowledge(assignee: "m"), at: "2026-11-02T12:00:00Z")
            try s.run("C", .requestInfo(question: "config?"), at: "2026-11-03T09:00:00Z")
            try plain.run("C", .requestInfo(question: "config?"), at: "2026-11-03T09:00:00Z")
        }
        // Paused since Tuesday 09:00, seen on Wednesday: 24 business hours were used (Mon 09:00 → Tue 09:00), 96 remain;
        // shown as due if the clock resumed now: Wed 12 h + Thu 24 + Fri 24 + Mon 24 + Tue 12 → Tue 2026-11-10T12:00Z.
        var c = s.clock("C", .triage, at: "2026-11-04T12:00:00Z")
        #expect(c.state == .paused && c.dueAt == t("2026-11-10T12:00:00Z"))
        // The unpaused policy keeps counting: due Mon 2026-11-09T09:00Z.
        #expect(plain.clock("C", .triage, at: "2026-11-04T12:00:00Z").dueAt == t("2026-11-09T09:00:00Z"))
        // The reporter answers Thursday 09:00 (48 h paused): Thu 15 + Fri 24 + Mon 24 + Tue 24 + Wed 9 = 96 → Wed 2026-11-11T09:00Z.
        try s.run("C", .respond(summary: "defaults"), at: "2026-11-05T09:00:00Z")
        try plain.run("C", .respond(summary: "defaults"), at: "2026-11-05T09:00:00Z")
        c = s.clock("C", .triage, at: "2026-11-06T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-11-11T09:00:00Z"))
        // Triaged Tuesday 10:00: met with the pause (23 h early), breached without it (25 h late).
        try s.triage("C", .high, at: "2026-11-10T10:00:00Z")
        try plain.triage("C", .high, at: "2026-11-10T10:00:00Z")
        c = s.clock("C", .triage, at: "2026-11-12T00:00:00Z")
        #expect(c.state == .met && c.margin == hours(23))
        c = plain.clock("C", .triage, at: "2026-11-12T00:00:00Z")
        #expect(c.state == .breached && c.margin == .zero - hours(25))
        // The needs-info clock ended when the reporter answered, 12 days before the 14-day auto-close.
        c = s.clock("C", .needsInfo, at: "2026-11-12T00:00:00Z")
        #expect(c.state == .met && c.dueAt == t("2026-11-17T09:00:00Z") && c.margin == hours(12 * 24))
        // A reporter who never answers: the auto-close is due 14 days after the request.
        try s.submit("D", at: "2026-11-02T09:00:00Z")
        try s.run("D", .acknowledge(assignee: "m"), at: "2026-11-02T10:00:00Z")
        try s.run("D", .requestInfo(question: "PoC?"), at: "2026-11-03T09:00:00Z")
        c = s.clock("D", .needsInfo, at: "2026-11-18T00:00:00Z")
        #expect(c.state == .breached && c.isLate && c.dueAt == t("2026-11-17T09:00:00Z") && c.note?.contains("close the report") == true)
        #expect(s.clock("D", .triage, at: "2026-11-18T00:00:00Z").state == .paused)
        // Closed as the policy allows once the reporter has not answered: the wait is over, and no
        // deadline was missed by anyone (nor is it counted as one).
        try s.run("D", .close(.informative, duplicateOf: nil, reason: "no answer"), at: "2026-11-18T09:00:00Z")
        c = s.clock("D", .needsInfo, at: "2026-11-20T00:00:00Z")
        #expect(c.state == .notApplicable && !c.isLate && c.endedAt == t("2026-11-18T09:00:00Z") && c.note == "closed after the reporter had not answered for 14d, as the policy allows", "\(c)")
        // Closed sooner, while still waiting: not applicable either, and the note says it was sooner.
        try s.submit("D2", at: "2026-11-02T09:00:00Z")
        try s.run("D2", .acknowledge(assignee: "m"), at: "2026-11-02T10:00:00Z")
        try s.run("D2", .requestInfo(question: "PoC?"), at: "2026-11-03T09:00:00Z")
        try s.run("D2", .close(.informative, duplicateOf: nil, reason: "withdrawn by the reporter"), at: "2026-11-05T09:00:00Z")
        c = s.clock("D2", .needsInfo, at: "2026-11-20T00:00:00Z")
        #expect(c.state == .notApplicable && !c.isLate && c.endedAt == t("2026-11-05T09:00:00Z")
            && c.note == "closed while still waiting on the reporter, sooner than the 14d without an answer the policy allows closing on", "\(c)")
        // An answer and a closing at the same instant: the answer ended the wait, on time.
        try s.submit("E", at: "2026-11-02T09:00:00Z")
        try s.run("E", .acknowledge(assignee: "m"), at: "2026-11-02T10:00:00Z")
        try s.run("E", .requestInfo(question: "PoC?"), at: "2026-11-03T09:00:00Z")
        try s.run("E", .respond(summary: "here"), at: "2026-11-05T09:00:00Z")
        try s.run("E", .close(.informative, duplicateOf: nil, reason: "answered: not a bug"), at: "2026-11-05T09:00:00Z")
        c = s.clock("E", .needsInfo, at: "2026-11-20T00:00:00Z")
        #expect(c.state == .met && c.endedAt == t("2026-11-05T09:00:00Z"), "\(c)")
        // A request written in weeks late (dated back so that a closing looks allowed) is named
        // on the clock the closing ended.
        try s.submit("F", at: "2026-11-02T09:00:00Z")
        try s.run("F", .acknowledge(assignee: "m"), at: "2026-11-02T10:00:00Z")
        try s.run("F", .requestInfo(question: "PoC?"), at: "2026-11-03T09:00:00Z", recorded: "2026-11-20T08:00:00Z")
        try s.run("F", .close(.informative, duplicateOf: nil, reason: "no answer"), at: "2026-11-20T09:00:00Z")
        c = s.clock("F", .needsInfo, at: "2026-11-21T00:00:00Z")
        #expect(c.state == .notApplicable && c.note == "closed after the reporter had not answered for 14d, as the policy allows")
        #expect(c.lateChanges == [LateEntry(type: "InfoRequested", occurredAt: t("2026-11-03T09:00:00Z"), recordedAt: t("2026-11-20T08:00:00Z"))], "\(c.lateChanges)")
        // A request (written in late) made once the triage deadline had passed moved nothing, and
        // the clock does not say it did: due Monday 11-09 09:00, asked Tuesday.
        try s.submit("G", at: "2026-11-02T09:00:00Z")
        try s.run("G", .acknowledge(assignee: "m"), at: "2026-11-02T10:00:00Z")
        try s.run("G", .requestInfo(question: "PoC?"), at: "2026-11-10T09:00:00Z", recorded: "2026-11-20T08:00:00Z")
        c = s.clock("G", .triage, at: "2026-11-21T00:00:00Z")
        #expect(c.state == .breached && c.dueAt == t("2026-11-09T09:00:00Z") && c.lateChanges.isEmpty, "\(c)")
    }

    // MARK: 002 AIXCL: 72 h, 7 days, disclosure 7–14 days after the fix release.

    @Test("AIXCL: a late acknowledgement, disclosure keyed to the fix release, an embargo extension")
    func aixcl() throws {
        var s = try Scenario("aixcl.toml")
        try s.submit("X", at: "2026-03-02T08:00:00Z")
        // Acknowledge within 72 h → due 2026-03-05T08:00Z; done 09:00 → breached by 1 h.
        try s.run("X", .acknowledge(assignee: "dev"), at: "2026-03-05T09:00:00Z")
        var c = s.clock("X", .acknowledge, at: "2026-03-06T00:00:00Z")
        #expect(c.state == .breached && c.margin == .zero - hours(1) && !c.isLate)
        // Assessment within 7 days → 2026-03-09T08:00Z; accepted 03-06 08:00 → met, 3 days early.
        try s.triage("X", .high, at: "2026-03-06T08:00:00Z")
        c = s.clock("X", .triage, at: "2026-03-07T00:00:00Z")
        #expect(c.state == .met && c.margin == hours(72))
        // No fix yet: the disclosure clock has no instant.
        c = s.clock("X", .disclosure, at: "2026-03-20T00:00:00Z")
        #expect(c.state == .running && c.dueAt == nil)
        #expect(s.clock("X", .fix, at: "2026-03-20T00:00:00Z").state == .notApplicable)
        // Fix released 04-01 12:00 → disclosure due 14 days later, 2026-04-15T12:00Z.
        try s.run("X", .startFix(branch: nil), at: "2026-03-10T00:00:00Z")
        try s.run("X", .release(versions: ["0.9.4"]), at: "2026-04-01T12:00:00Z")
        c = s.clock("X", .disclosure, at: "2026-04-02T00:00:00Z")
        #expect(c.state == .running && c.startedAt == t("2026-04-01T12:00:00Z") && c.dueAt == t("2026-04-15T12:00:00Z"))
        // Embargo extended to 04-22 with the reporter's agreement; published 04-20 10:00 → met, 38 h early.
        try s.run("X", .extendEmbargo(until: t("2026-04-22T00:00:00Z"), reason: "distributions", reporterAgreed: true), at: "2026-04-10T00:00:00Z")
        c = s.clock("X", .disclosure, at: "2026-04-16T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-04-22T00:00:00Z") && c.note?.contains("with the reporter's agreement") == true)
        try s.run("X", .publish(ghsa: nil, cve: nil, url: nil), at: "2026-04-20T10:00:00Z")
        c = s.clock("X", .disclosure, at: "2026-05-01T00:00:00Z")
        #expect(c.state == .met && c.margin == hours(38))
    }

    @Test("AIXCL: disclosing before the earliest date (7 days after the fix) is flagged")
    func aixclEarly() throws {
        var s = try Scenario("aixcl.toml")
        try s.accepted("Y", .critical, submitted: "2026-03-02T08:00:00Z", acknowledged: "2026-03-02T09:00:00Z", triaged: "2026-03-03T08:00:00Z")
        try s.run("Y", .release(versions: ["0.9.4"]), at: "2026-04-01T12:00:00Z")
        try s.run("Y", .publish(ghsa: nil, cve: nil, url: nil), at: "2026-04-03T12:00:00Z")
        let c = s.clock("Y", .disclosure, at: "2026-04-04T00:00:00Z")
        #expect(c.state == .met && c.note?.contains("before the earliest date") == true)
    }

    @Test("AIXCL: an advisory published before any fix release ends the disclosure clock, flagged")
    func aixclPublishedWithoutFix() throws {
        var s = try Scenario("aixcl.toml")
        try s.accepted("Z", .high, submitted: "2026-03-02T08:00:00Z", acknowledged: "2026-03-02T09:00:00Z", triaged: "2026-03-03T08:00:00Z")
        try s.run("Z", .publish(ghsa: nil, cve: nil, url: nil), at: "2026-03-20T00:00:00Z")
        // Before it the clock waited for a release; the advisory ends it, for good: a release
        // recorded after it does not give it a deadline to be judged by.
        #expect(s.clock("Z", .disclosure, at: "2026-03-19T00:00:00Z").state == .running)
        try s.run("Z", .release(versions: ["3.1.4"]), at: "2026-04-02T00:00:00Z")
        for at in ["2026-03-21T00:00:00Z", "2026-06-01T00:00:00Z"] {
            let c = s.clock("Z", .disclosure, at: at)
            #expect(c.state == .met && c.endedAt == t("2026-03-20T00:00:00Z") && c.dueAt == nil && !c.isLate, "\(c)")
            #expect(c.note?.contains("disclosed before any fix was released; before the earliest date the policy allows") == true, "\(String(describing: c.note))")
        }
    }

    // MARK: 000 AiSOC: 48 h, 7 days, fix or timeline within 30 days; no disclosure deadline.

    @Test("AiSOC: acknowledged late, triaged early, fix overdue")
    func aisoc() throws {
        var s = try Scenario("aisoc.toml")
        try s.submit("S", at: "2026-05-04T10:00:00Z")
        try s.run("S", .acknowledge(assignee: "beenuar"), at: "2026-05-07T09:00:00Z")
        // 48 h → 05-06 10:00; acknowledged 05-07 09:00 → 23 h late.
        var c = s.clock("S", .acknowledge, at: "2026-05-08T00:00:00Z")
        #expect(c.state == .breached && c.dueAt == t("2026-05-06T10:00:00Z") && c.margin == .zero - hours(23))
        // 7 days → 05-11 10:00; triaged 05-08 10:00 → 3 days early.
        try s.triage("S", .medium, at: "2026-05-08T10:00:00Z")
        c = s.clock("S", .triage, at: "2026-05-09T00:00:00Z")
        #expect(c.state == .met && c.margin == hours(72))
        // Fix (any severity) 30 days from the report → 2026-06-03T10:00Z; on 06-04 00:00 it is 14 h late.
        c = s.clock("S", .fix, at: "2026-06-04T00:00:00Z")
        #expect(c.state == .breached && c.isLate && c.dueAt == t("2026-06-03T10:00:00Z") && c.margin == .zero - hours(14))
        #expect(s.clock("S", .disclosure, at: "2026-06-04T00:00:00Z").state == .notApplicable)

        // "Ship a fix, advisory, …": an advisory on day 18 with no release keeps the promise, 12
        // days early; one on day 32 is 2 days late. (Under a policy without met-by-advisory the
        // fix is still owed after such an advisory: the last case.)
        for (id, published, state, margin) in [("A", "2026-05-22T10:00:00Z", ClockState.met, hours(12 * 24)), ("B", "2026-06-05T10:00:00Z", .breached, hours(-48))] {
            try s.accepted(id, .high, submitted: "2026-05-04T10:00:00Z", acknowledged: "2026-05-04T11:00:00Z", triaged: "2026-05-05T10:00:00Z")
            try s.run(id, .publish(ghsa: "GHSA-5f7q-jh4x-2vvm", cve: nil, url: nil), at: published)
            c = s.clock(id, .fix, at: "2026-07-01T00:00:00Z")
            #expect(c.state == state && c.endedAt == t(published) && c.dueAt == t("2026-06-03T10:00:00Z") && c.margin == margin, "\(c)")
            #expect(c.note?.contains("ended by the advisory, which the policy counts as a fix release") == true, "\(String(describing: c.note))")
        }
        var strict = try Scenario("aisoc.toml", edit: { $0.replacingOccurrences(of: "met-by-advisory = true", with: "") })
        try strict.accepted("C", .high, submitted: "2026-05-04T10:00:00Z", acknowledged: "2026-05-04T11:00:00Z", triaged: "2026-05-05T10:00:00Z")
        try strict.run("C", .publish(ghsa: nil, cve: nil, url: nil), at: "2026-05-22T10:00:00Z")
        c = strict.clock("C", .fix, at: "2026-05-23T00:00:00Z")
        #expect(c.state == .running && c.endedAt == nil && c.dueAt == t("2026-06-03T10:00:00Z"), "\(c)")
        #expect(strict.clock("C", .fix, at: "2026-07-01T00:00:00Z").state == .breached)
        // With met-by-advisory, a release after the advisory changes nothing: the advisory kept it.
        try s.run("A", .release(versions: ["1.2.3"]), at: "2026-06-20T10:00:00Z")
        c = s.clock("A", .fix, at: "2026-07-01T00:00:00Z")
        #expect(c.state == .met && c.endedAt == t("2026-05-22T10:00:00Z") && c.margin == hours(12 * 24), "\(c)")
        // Withdrawn without a release, the advisory no longer counts as a fix kept: nothing to
        // judge (a late advisory stays late, even when the withdrawal comes later still).
        try s.run("B", .withdraw(reason: "not exploitable"), at: "2026-06-10T10:00:00Z")
        c = s.clock("B", .fix, at: "2026-07-01T00:00:00Z")
        #expect(c.state == .breached && c.endedAt == t("2026-06-05T10:00:00Z") && c.margin == hours(-48), "\(c)")
        try s.accepted("W", .high, submitted: "2026-05-04T10:00:00Z", acknowledged: "2026-05-04T11:00:00Z", triaged: "2026-05-05T10:00:00Z")
        try s.run("W", .publish(ghsa: nil, cve: nil, url: nil), at: "2026-05-22T10:00:00Z")
        try s.run("W", .withdraw(reason: "not exploitable"), at: "2026-06-10T10:00:00Z")
        c = s.clock("W", .fix, at: "2026-07-01T00:00:00Z")
        #expect(c.state == .notApplicable && c.endedAt == t("2026-06-10T10:00:00Z"), "\(c)")
        // Closed as wont-fix after an advisory that kept the promise: it stays kept.
        try s.accepted("M", .high, submitted: "2026-05-04T10:00:00Z", acknowledged: "2026-05-04T11:00:00Z", triaged: "2026-05-05T10:00:00Z")
        try s.run("M", .publish(ghsa: nil, cve: nil, url: nil), at: "2026-05-22T10:00:00Z")
        try s.run("M", .close(.wontFix, duplicateOf: nil, reason: nil), at: "2026-06-25T10:00:00Z")
        c = s.clock("M", .fix, at: "2026-07-01T00:00:00Z")
        #expect(c.state == .met && c.endedAt == t("2026-05-22T10:00:00Z"), "\(c)")
        #expect { try s.run("M", .close(.wontFix, duplicateOf: nil, reason: nil), at: "2026-06-26T10:00:00Z") } throws: { ($0 as? DomainError)?.code == .illegalTransition }
    }

    // MARK: 003 SOC ingest: acknowledge within 72 h, nothing else.

    @Test("SOC ingest: the 72-hour acknowledgement is the only clock; closing as spam answers it")
    func socIngest() throws {
        var s = try Scenario("soc-ingest.toml")
        try s.submit("I", at: "2026-08-01T00:00:00Z")
        var c = s.clock("I", .acknowledge, at: "2026-08-03T23:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-08-04T00:00:00Z") && c.margin == hours(1))
        for kind in [ClockKind.triage, .statusUpdate, .fix, .disclosure, .needsInfo] {
            #expect(s.clock("I", kind, at: "2026-08-03T23:00:00Z").state == .notApplicable)
        }
        try s.run("I", .close(.spam, duplicateOf: nil, reason: nil), at: "2026-08-02T00:00:00Z")
        c = s.clock("I", .acknowledge, at: "2026-08-05T00:00:00Z")
        #expect(c.state == .met && c.margin == hours(48))
    }

    // MARK: 004 AIOS: 24 h, 72 h, critical fixed within 7 days.

    @Test("AIOS: every target met for a critical report; no fix target for high")
    func aios() throws {
        var s = try Scenario("aios.toml")
        try s.submit("O", at: "2026-09-10T06:00:00Z")
        try s.run("O", .acknowledge(assignee: "ops"), at: "2026-09-10T20:00:00Z")
        #expect(s.clock("O", .acknowledge, at: "2026-09-11T00:00:00Z").margin == hours(10))
        try s.triage("O", .critical, at: "2026-09-12T06:00:00Z")
        var c = s.clock("O", .triage, at: "2026-09-12T07:00:00Z")
        #expect(c.state == .met && c.dueAt == t("2026-09-13T06:00:00Z") && c.margin == hours(24))
        // Critical: 7 days from the report → 09-17 06:00; released 09-16 18:00 → 12 h early.
        try s.run("O", .exploited(source: "honeypot"), at: "2026-09-13T00:00:00Z")
        try s.run("O", .release(versions: ["1.0.7"]), at: "2026-09-16T18:00:00Z")
        c = s.clock("O", .fix, at: "2026-09-17T00:00:00Z")
        #expect(c.state == .met && c.dueAt == t("2026-09-17T06:00:00Z") && c.margin == hours(12))
        try s.accepted("P", .high, submitted: "2026-09-10T06:00:00Z", acknowledged: "2026-09-10T07:00:00Z", triaged: "2026-09-11T06:00:00Z")
        c = s.clock("P", .fix, at: "2026-09-20T00:00:00Z")
        #expect(c.state == .notApplicable && c.note?.contains("high") == true)
    }

    // MARK: Project Zero 90+30 and CERT/CC 45 days.

    @Test("Project Zero: 30 days after a fix inside the deadline, no grace unasked, 7 days when exploited")
    func projectZero() throws {
        var s = try Scenario("project-zero.toml", edit: anyDay)
        for id in ["P1", "P2", "P3"] {
            try s.accepted(id, .high, submitted: "2026-01-10T00:00:00Z", acknowledged: "2026-01-11T00:00:00Z", triaged: "2026-01-12T00:00:00Z")
        }
        // Fixed 02-01 (inside 90 days): disclosure due 30 days after the fix, 2026-03-03T00:00Z.
        try s.run("P1", .release(versions: ["5.1"]), at: "2026-02-01T00:00:00Z")
        var c = s.clock("P1", .disclosure, at: "2026-02-02T00:00:00Z")
        #expect(c.dueAt == t("2026-03-03T00:00:00Z") && c.note?.contains("30d after the fix") == true)
        try s.run("P1", .publish(ghsa: nil, cve: nil, url: nil), at: "2026-03-02T00:00:00Z")
        #expect(s.clock("P1", .disclosure, at: "2026-03-04T00:00:00Z").state == .met)
        // Not fixed: due 90 days after the report, 2026-04-10T00:00Z. The grace is granted on
        // request only, and none was made: breached the moment the deadline passes.
        c = s.clock("P2", .disclosure, at: "2026-04-10T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-04-10T00:00:00Z"), "\(c)")
        c = s.clock("P2", .disclosure, at: "2026-04-10T00:00:01Z")
        #expect(c.state == .breached && c.isLate, "\(c)")
        // Exploited in the wild on 01-20 12:00: due 7 days later, 2026-01-27T12:00Z.
        try s.run("P3", .exploited(source: "ITW"), at: "2026-01-20T12:00:00Z")
        c = s.clock("P3", .disclosure, at: "2026-01-26T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-01-27T12:00:00Z") && c.margin == hours(36))
    }

    @Test("Project Zero: a deadline that falls on a weekend or a US public holiday moves to the next work day; a date an embargo extension agreed is kept")
    func projectZeroWorkdays() throws {
        var s = try Scenario("project-zero.toml")
        for id in ["A", "F", "E"] {
            try s.accepted(id, .high, submitted: "2026-01-12T12:00:00Z", acknowledged: "2026-01-13T12:00:00Z", triaged: "2026-01-14T12:00:00Z")
        }
        // Submitted Monday 01-12 12:00: day 90 is Sunday 04-12, so disclosure is due Monday 04-13 12:00.
        var c = s.clock("A", .disclosure, at: "2026-04-12T12:00:01Z")
        #expect(c.state == .running && c.dueAt == t("2026-04-13T12:00:00Z") && c.target == "90d from the report (or the next work day)", "\(c)")
        c = s.clock("A", .disclosure, at: "2026-04-13T12:00:01Z")
        #expect(c.state == .breached && c.dueAt == t("2026-04-13T12:00:00Z"), "\(c)")
        // Day 90 on Friday 07-03, when Independence Day (a Saturday) is observed: past the weekend,
        // Monday 07-06.
        try s.submit("H", at: "2026-04-04T09:00:00Z")
        #expect(s.clock("H", .disclosure, at: "2026-07-01T00:00:00Z").dueAt == t("2026-07-06T09:00:00Z"))
        // Day 90 on Memorial Day, Monday 05-25: Tuesday 05-26.
        try s.submit("M", at: "2026-02-24T09:00:00Z")
        #expect(s.clock("M", .disclosure, at: "2026-05-01T00:00:00Z").dueAt == t("2026-05-26T09:00:00Z"))
        // Patched Thursday 02-12 10:00: 30 days later is Saturday 03-14, so disclosure is due
        // Monday 03-16 10:00.
        try s.run("F", .release(versions: ["2.0.1"]), at: "2026-02-12T10:00:00Z")
        c = s.clock("F", .disclosure, at: "2026-03-15T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-03-16T10:00:00Z"), "\(c)")
        // Its target is the after-fix date's, not the 90 days it replaced.
        #expect(c.target == "30d after the fix release (or the next work day)", "\(c)")
        // A date agreed in an embargo extension is kept as agreed, Sunday 04-19 or not.
        try s.run("E", .extendEmbargo(until: t("2026-04-19T00:00:00Z"), reason: "coordinated with a distribution", reporterAgreed: true), at: "2026-04-01T00:00:00Z")
        c = s.clock("E", .disclosure, at: "2026-04-18T12:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-04-19T00:00:00Z"), "\(c)")
        // Without the rule, the deadline is where its 90 days end.
        var plain = try Scenario("project-zero.toml", edit: anyDay)
        try plain.submit("A", at: "2026-01-12T12:00:00Z")
        #expect(plain.clock("A", .disclosure, at: "2026-04-12T00:00:00Z").dueAt == t("2026-04-12T12:00:00Z"))
    }

    @Test("Project Zero: the grace periods are granted on request, an embargo extension recorded by the deadline; a patch in a granted grace still gets day 120")
    func projectZeroGraceOnRequest() throws {
        var s = try Scenario("project-zero.toml", edit: anyDay)
        for id in ["A", "N", "G", "L", "X", "Y"] {
            try s.accepted(id, .high, submitted: "2026-01-10T00:00:00Z", acknowledged: "2026-01-11T00:00:00Z", triaged: "2026-01-12T00:00:00Z")
        }
        // Asked on 04-05 for the 14 days after 04-10: due 04-24 (the extension), then breached.
        try s.run("A", .extendEmbargo(until: t("2026-04-24T00:00:00Z"), reason: "grace period: patch expected 04-20", reporterAgreed: true), at: "2026-04-05T00:00:00Z")
        var c = s.clock("A", .disclosure, at: "2026-04-20T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-04-24T00:00:00Z"), "\(c)")
        c = s.clock("A", .disclosure, at: "2026-04-24T00:00:01Z")
        #expect(c.state == .breached, "\(c)")
        // Not asked: a patch on 04-20 gets no 30 days; disclosure was due 04-10.
        try s.run("N", .release(versions: ["5.1"]), at: "2026-04-20T00:00:00Z")
        c = s.clock("N", .disclosure, at: "2026-04-21T00:00:00Z")
        #expect(c.state == .breached && c.dueAt == t("2026-04-10T00:00:00Z"), "\(c)")
        // Asked, and patched 04-20, within the grace: 30 days after the deadline, 05-10, as if the
        // grace were automatic; the extension that asked for it moves nothing further.
        try s.run("G", .extendEmbargo(until: t("2026-04-24T00:00:00Z"), reason: "grace period", reporterAgreed: true), at: "2026-04-08T00:00:00Z")
        try s.run("G", .release(versions: ["5.2"]), at: "2026-04-20T00:00:00Z")
        c = s.clock("G", .disclosure, at: "2026-04-21T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-05-10T00:00:00Z"), "\(c)")
        #expect(c.note == "fixed in the grace period asked for by the embargo extension dated 2026-04-08T00:00:00Z: due 30d after the deadline of 2026-04-10T00:00:00Z", "\(c)")
        // Asked too late (after the deadline): the request moves nothing, and the patch gets no 30 days.
        try s.run("L", .extendEmbargo(until: t("2026-04-24T00:00:00Z"), reason: "grace period", reporterAgreed: true), at: "2026-04-11T00:00:00Z")
        try s.run("L", .release(versions: ["5.3"]), at: "2026-04-20T00:00:00Z")
        c = s.clock("L", .disclosure, at: "2026-04-21T00:00:00Z")
        #expect(c.state == .breached && c.dueAt == t("2026-04-10T00:00:00Z"), "\(c)")
        #expect(c.note?.contains("after the deadline of 2026-04-10T00:00:00Z had passed: not counted") == true, "\(c)")
        // Exploited 02-01, due 02-08. Asked on 02-06 for the 3 days: exploitation holds the date,
        // but the grace runs to 02-11; unasked (Y), breached once 02-08 passes.
        for id in ["X", "Y"] { try s.run(id, .exploited(source: "ITW"), at: "2026-02-01T00:00:00Z") }
        try s.run("X", .extendEmbargo(until: t("2026-02-11T00:00:00Z"), reason: "grace period", reporterAgreed: true), at: "2026-02-06T00:00:00Z")
        c = s.clock("X", .disclosure, at: "2026-02-10T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-02-08T00:00:00Z"), "\(c)")
        #expect(c.note?.contains("the grace period to 2026-02-11T00:00:00Z was asked for by the embargo extension dated 2026-02-06T00:00:00Z") == true, "\(c)")
        #expect(s.clock("X", .disclosure, at: "2026-02-11T00:00:01Z").state == .breached)
        c = s.clock("Y", .disclosure, at: "2026-02-08T00:00:01Z")
        #expect(c.state == .breached && c.dueAt == t("2026-02-08T00:00:00Z"), "\(c)")
        // Patched 02-10 in X's granted grace: 30 days after the exploited deadline, 03-10.
        try s.run("X", .release(versions: ["5.4"]), at: "2026-02-10T00:00:00Z")
        c = s.clock("X", .disclosure, at: "2026-02-12T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-03-10T00:00:00Z"), "\(c)")
        #expect(c.lateChanges.isEmpty, "\(c)")
    }

    @Test("Project Zero: a grace asked for runs to the date asked, no further; one asked for late is named; one agreed before exploitation asks for no exploited grace")
    func projectZeroGraceAskedFor() throws {
        var s = try Scenario("project-zero.toml", edit: anyDay)
        for id in ["P", "B", "E"] {
            try s.accepted(id, .high, submitted: "2026-01-10T00:00:00Z", acknowledged: "2026-01-11T00:00:00Z", triaged: "2026-01-12T00:00:00Z")
        }
        // Asked on 04-05 for 5 of the 14 days (to 04-15), patched 04-20: after the grace asked
        // for, so no day 120; due 04-15 and missed, and the patch does not bring it back.
        try s.run("P", .extendEmbargo(until: t("2026-04-15T00:00:00Z"), reason: "grace period", reporterAgreed: true), at: "2026-04-05T00:00:00Z")
        #expect(s.clock("P", .disclosure, at: "2026-04-16T00:00:00Z").state == .breached)
        try s.run("P", .release(versions: ["5.1"]), at: "2026-04-20T00:00:00Z")
        var c = s.clock("P", .disclosure, at: "2026-04-21T00:00:00Z")
        #expect(c.state == .breached && c.dueAt == t("2026-04-15T00:00:00Z"), "\(c)")
        // Exploited 02-01 (due 02-08); on 02-09, with the deadline passed, a request dated 02-06 is
        // written in: the grace it asks for is counted, and the clock names the late entry.
        try s.run("B", .exploited(source: "ITW"), at: "2026-02-01T00:00:00Z")
        try s.run("B", .extendEmbargo(until: t("2026-02-11T00:00:00Z"), reason: "grace period", reporterAgreed: true), at: "2026-02-06T00:00:00Z", recorded: "2026-02-09T00:00:00Z")
        c = s.clock("B", .disclosure, at: "2026-02-10T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-02-08T00:00:00Z"), "\(c)")
        #expect(c.lateChanges == [LateEntry(type: "EmbargoExtended", occurredAt: t("2026-02-06T00:00:00Z"), recordedAt: t("2026-02-09T00:00:00Z"))], "\(c)")
        // Extended on 04-01 to 05-01, then exploited 04-15: due 04-22, and the extension agreed
        // before exploitation asked for none of its 3 days of grace.
        try s.run("E", .extendEmbargo(until: t("2026-05-01T00:00:00Z"), reason: "release train", reporterAgreed: true), at: "2026-04-01T00:00:00Z")
        try s.run("E", .exploited(source: "ITW"), at: "2026-04-15T00:00:00Z")
        c = s.clock("E", .disclosure, at: "2026-04-22T00:00:01Z")
        #expect(c.state == .breached && c.dueAt == t("2026-04-22T00:00:00Z"), "\(c)")
        // Asked on 04-05 for a date past the grace (05-20), written in on 04-12; patched 04-15 in
        // the grace: due 30 days after 04-10 (05-10), then the extension moves it to 05-20. The
        // late entry is named once, though it both asked for the grace and moved the date.
        try s.accepted("W", .high, submitted: "2026-01-10T00:00:00Z", acknowledged: "2026-01-11T00:00:00Z", triaged: "2026-01-12T00:00:00Z")
        try s.run("W", .extendEmbargo(until: t("2026-05-20T00:00:00Z"), reason: "grace, and the distributions", reporterAgreed: true), at: "2026-04-05T00:00:00Z", recorded: "2026-04-12T00:00:00Z")
        try s.run("W", .release(versions: ["5.6"]), at: "2026-04-15T00:00:00Z")
        c = s.clock("W", .disclosure, at: "2026-04-16T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-05-20T00:00:00Z"), "\(c)")
        #expect(c.lateChanges == [LateEntry(type: "EmbargoExtended", occurredAt: t("2026-04-05T00:00:00Z"), recordedAt: t("2026-04-12T00:00:00Z"))], "\(c)")
    }

    @Test("Project Zero: a patch after a disclosure at the deadline sets no after-fix date and moves nothing")
    func projectZeroPatchAfterDisclosure() throws {
        var s = try Scenario("project-zero.toml", edit: anyDay)
        try s.accepted("D", .high, submitted: "2026-01-10T00:00:00Z", acknowledged: "2026-01-11T00:00:00Z", triaged: "2026-01-12T00:00:00Z")  // 90 days: 04-10
        try s.run("D", .publish(ghsa: nil, cve: nil, url: nil), at: "2026-04-10T00:00:00Z")
        let before = s.clock("D", .disclosure, at: "2026-04-11T00:00:00Z")
        #expect(before.state == .met && before.dueAt == t("2026-04-10T00:00:00Z") && before.note == nil, "\(before)")
        try s.run("D", .release(versions: ["5.6"]), at: "2026-04-15T00:00:00Z", recorded: "2026-04-20T00:00:00Z")
        for at in ["2026-04-11T00:00:00Z", "2026-06-01T00:00:00Z"] {
            let c = s.clock("D", .disclosure, at: at)
            #expect(c == before, "\(c)")
            #expect(c.lateChanges.isEmpty)
        }
    }

    @Test("exploitation recorded after the advisory moves no disclosure clock, counted from the report or from the fix release, and the report stays disclosed")
    func exploitedAfterDisclosure() throws {
        // Project Zero (from the report, 7 days when exploited): published 02-01, well before the
        // deadline of 04-10; exploited 02-05, which before the advisory would have made it due 02-12.
        var s = try Scenario("project-zero.toml", edit: anyDay)
        try s.accepted("D", .high, submitted: "2026-01-10T00:00:00Z", acknowledged: "2026-01-11T00:00:00Z", triaged: "2026-01-12T00:00:00Z")
        try s.run("D", .publish(ghsa: nil, cve: nil, url: nil), at: "2026-02-01T00:00:00Z")
        let before = s.clock("D", .disclosure, at: "2026-02-02T00:00:00Z")
        #expect(before.state == .met && before.dueAt == t("2026-04-10T00:00:00Z") && before.note == nil, "\(before)")
        try s.run("D", .exploited(source: "ITW after the advisory"), at: "2026-02-05T00:00:00Z")
        #expect(s.projection.reports["D"]?.state == .disclosed && s.projection.reports["D"]?.exploitedAt == t("2026-02-05T00:00:00Z"))
        #expect(s.clock("D", .disclosure, at: "2026-02-06T00:00:00Z") == before)
        // Counted from the fix release (AIxCL, 7 days when exploited): disclosed before any fix,
        // then exploited.
        var x = try Scenario("aixcl.toml", edit: { $0.replacingOccurrences(of: "earliest = \"7d\"", with: "earliest = \"7d\"\nexploited = \"7d\"") })
        try x.accepted("E", .critical, submitted: "2026-03-01T00:00:00Z", acknowledged: "2026-03-01T01:00:00Z", triaged: "2026-03-02T00:00:00Z")
        try x.run("E", .publish(ghsa: nil, cve: nil, url: nil), at: "2026-03-05T00:00:00Z")
        let early = x.clock("E", .disclosure, at: "2026-03-06T00:00:00Z")
        #expect(early.state == .met && early.dueAt == nil && early.note?.contains("disclosed before any fix was released") == true, "\(early)")
        try x.run("E", .exploited(source: nil), at: "2026-03-06T00:00:00Z")
        #expect(x.clock("E", .disclosure, at: "2026-03-20T00:00:00Z") == early)
        // At the advisory's own instant it counts, as a release at that instant does.
        try x.accepted("F", .critical, submitted: "2026-03-01T00:00:00Z", acknowledged: "2026-03-01T01:00:00Z", triaged: "2026-03-02T00:00:00Z")
        try x.run("F", .publish(ghsa: nil, cve: nil, url: nil), at: "2026-03-05T00:00:00Z")
        try x.run("F", .exploited(source: nil), at: "2026-03-05T00:00:00Z")
        let tie = x.clock("F", .disclosure, at: "2026-03-20T00:00:00Z")
        #expect(tie.state == .met && tie.dueAt == t("2026-03-12T00:00:00Z") && tie.target == "7d after exploitation", "\(tie)")
    }

    @Test("programme metrics count reports submitted in (now − window, now]: windows end to end count each once; medians and shares of the clocks")
    func metricsWindow() throws {
        var s = try Scenario("aisoc.toml")  // acknowledge 48 h
        try s.submit("EDGE", at: "2026-03-01T00:00:00Z")  // where a 30-day window to 03-31 starts: not in it
        try s.submit("A", at: "2026-03-01T00:00:01Z")
        try s.run("A", .acknowledge(assignee: "m"), at: "2026-03-01T02:00:01Z")  // 2 h
        try s.submit("B", at: "2026-03-10T00:00:00Z")
        try s.run("B", .acknowledge(assignee: "m"), at: "2026-03-13T00:00:00Z")  // 72 h: late
        try s.submit("C", at: "2026-03-31T00:00:00Z")  // at the window's end: in it, not yet answered
        let m = ProgrammeMetrics(projection: s.projection, project: "p", window: .seconds(30 * 86_400), now: t("2026-03-31T00:00:00Z"))
        #expect(m.reports == 3 && m.from == t("2026-03-01T00:00:00Z"))
        let response = try #require(m.milestones.first { $0.name == "first response" })
        #expect(response.count == 2 && response.median == hours(37))  // (2 h + 72 h) / 2
        let acknowledge = try #require(m.targets.first { $0.clock == .acknowledge })
        #expect(acknowledge.met == 1 && acknowledge.breached == 1 && acknowledge.open == 1 && acknowledge.share == 0.5, "\(acknowledge)")
        // The window before ends where this one starts, and holds EDGE alone.
        #expect(ProgrammeMetrics(projection: s.projection, project: "p", window: .seconds(30 * 86_400), now: t("2026-03-01T00:00:00Z")).reports == 1)
    }

    @Test("Project Zero: the exploited deadline's grace is 3 days, not 14: for a disclosure, and for a patch that still gets 30 days")
    func projectZeroExploitedGrace() throws {
        var s = try Scenario("project-zero.toml", edit: automaticGrace)
        for id in ["U", "F", "H"] {
            try s.accepted(id, .high, submitted: "2026-01-10T00:00:00Z", acknowledged: "2026-01-11T00:00:00Z", triaged: "2026-01-12T00:00:00Z")
            // Exploited 02-01: due 02-08, in its grace until 02-11.
            try s.run(id, .exploited(source: "ITW"), at: "2026-02-01T00:00:00Z")
        }
        var c = s.clock("U", .disclosure, at: "2026-02-10T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-02-08T00:00:00Z") && c.note?.contains("in the grace period until 2026-02-11T00:00:00Z") == true, "\(c)")
        #expect(c.target == "7d after exploitation", "\(c)")
        c = s.clock("U", .disclosure, at: "2026-02-11T00:00:01Z")
        #expect(c.state == .breached && c.isLate, "\(c)")
        // Patched on 02-10, in the 3 days: disclosure 30 days after the exploited deadline, 03-10.
        try s.run("F", .release(versions: ["5.4"]), at: "2026-02-10T00:00:00Z")
        c = s.clock("F", .disclosure, at: "2026-02-12T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-03-10T00:00:00Z"), "\(c)")
        #expect(c.note == "fixed in the grace period: due 30d after the deadline of 2026-02-08T00:00:00Z" && c.target == "30d after the deadline", "\(c)")
        // Patched on 02-12, after the 3 days (the 14 would still have run): no 30 days; the
        // exploited deadline stands, missed, and the disclosure on 02-13 is late.
        try s.run("H", .release(versions: ["5.5"]), at: "2026-02-12T00:00:00Z")
        try s.run("H", .publish(ghsa: nil, cve: nil, url: nil), at: "2026-02-13T00:00:00Z")
        c = s.clock("H", .disclosure, at: "2026-02-14T00:00:00Z")
        #expect(c.state == .breached && c.dueAt == t("2026-02-08T00:00:00Z") && c.endedAt == t("2026-02-13T00:00:00Z"), "\(c)")
    }

    @Test("Project Zero: exploitation in the last week before day 90 leaves day 90 the deadline, but cuts its 14-day grace to the exploited deadline's 3")
    func projectZeroExploitedNearTheDeadline() throws {
        var s = try Scenario("project-zero.toml", edit: automaticGrace)
        // 90 days from 01-10 is 04-10. Exploited 04-05: the 7-day deadline, 04-12, is later, so
        // 04-10 stays in force; but its grace ends with the exploited deadline's, 04-15, not 04-24.
        for id in ["U", "F", "G"] {
            try s.accepted(id, .high, submitted: "2026-01-10T00:00:00Z", acknowledged: "2026-01-11T00:00:00Z", triaged: "2026-01-12T00:00:00Z")
            try s.run(id, .exploited(source: "ITW"), at: "2026-04-05T00:00:00Z")
        }
        var c = s.clock("U", .disclosure, at: "2026-04-14T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-04-10T00:00:00Z"), "\(c)")
        #expect(c.note?.contains("the grace period ends with the exploited deadline's, at 2026-04-15T00:00:00Z") == true, "\(c)")
        #expect(c.note?.hasSuffix("in the grace period until 2026-04-15T00:00:00Z") == true, "\(c)")
        c = s.clock("U", .disclosure, at: "2026-04-15T00:00:01Z")
        #expect(c.state == .breached && c.isLate, "\(c)")
        // Patched 04-20, after the 3 days (the 14 would still have run): no 30 days, and late.
        try s.run("F", .release(versions: ["5.4"]), at: "2026-04-20T00:00:00Z")
        c = s.clock("F", .disclosure, at: "2026-04-21T00:00:00Z")
        #expect(c.state == .breached && c.dueAt == t("2026-04-10T00:00:00Z"), "\(c)")
        // Patched 04-13, within them: disclosure 30 days after the deadline in force, 05-10.
        try s.run("G", .release(versions: ["5.5"]), at: "2026-04-13T00:00:00Z")
        c = s.clock("G", .disclosure, at: "2026-04-14T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-05-10T00:00:00Z"), "\(c)")
        #expect(c.note == "fixed in the grace period: due 30d after the deadline of 2026-04-10T00:00:00Z", "\(c)")
    }

    @Test("Project Zero: a patch within the 7 days of exploitation, or in the grace period, still leaves users 30 days; the after-fix date has no grace")
    func projectZeroAfterFix() throws {
        var s = try Scenario("project-zero.toml", edit: automaticGrace)
        for id in ["E", "G", "L"] {
            try s.accepted(id, .high, submitted: "2026-01-10T00:00:00Z", acknowledged: "2026-01-11T00:00:00Z", triaged: "2026-01-12T00:00:00Z")
        }
        // "30 days after a patch ... as long as a patch was made available by the end of the 7-day
        // deadline": exploited 02-01, patched 02-03 → due 30 days after the patch, 2026-03-05T00:00Z.
        try s.run("E", .exploited(source: "ITW"), at: "2026-02-01T00:00:00Z")
        var c = s.clock("E", .disclosure, at: "2026-02-02T00:00:00Z")
        #expect(c.dueAt == t("2026-02-08T00:00:00Z"))
        try s.run("E", .release(versions: ["5.2"]), at: "2026-02-03T00:00:00Z")
        c = s.clock("E", .disclosure, at: "2026-02-10T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-03-05T00:00:00Z") && c.note == "fixed before the deadline: due 30d after the fix release", "\(c)")
        // 90 days from 01-10 is 04-10; a patch on 04-20, in the 14-day grace, moves disclosure to
        // day 120 (the 30 days count from the deadline, not the patch): 2026-05-10T00:00Z.
        try s.run("G", .release(versions: ["5.3"]), at: "2026-04-20T00:00:00Z")
        c = s.clock("G", .disclosure, at: "2026-04-21T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-05-10T00:00:00Z"))
        #expect(c.note == "fixed in the grace period: due 30d after the deadline of 2026-04-10T00:00:00Z", "\(c)")
        // A patch on day 47 (02-26) → disclosure on day 77 (03-28), and the grace does not pad it:
        // published on 04-02 it is late.
        try s.run("L", .release(versions: ["5.1"]), at: "2026-02-26T00:00:00Z")
        try s.run("L", .publish(ghsa: nil, cve: nil, url: nil), at: "2026-04-02T00:00:00Z")
        c = s.clock("L", .disclosure, at: "2026-04-03T00:00:00Z")
        #expect(c.state == .breached && c.dueAt == t("2026-03-28T00:00:00Z") && c.margin == hours(-5 * 24), "\(c)")
    }

    @Test("CERT/CC: 45 days from the report, extended without the reporter's agreement")
    func certCC() throws {
        var s = try Scenario("cert-cc.toml")
        try s.accepted("V", .medium, submitted: "2026-02-01T00:00:00Z", acknowledged: "2026-02-02T00:00:00Z", triaged: "2026-02-03T00:00:00Z")
        // 45 days from 02-01 → 2026-03-18T00:00Z.
        var c = s.clock("V", .disclosure, at: "2026-03-01T00:00:00Z")
        #expect(c.dueAt == t("2026-03-18T00:00:00Z"))
        try s.run("V", .extendEmbargo(until: t("2026-04-01T00:00:00Z"), reason: "vendor needs a release", reporterAgreed: false), at: "2026-03-10T00:00:00Z")
        try s.run("V", .publish(ghsa: nil, cve: nil, url: nil), at: "2026-03-30T00:00:00Z")
        c = s.clock("V", .disclosure, at: "2026-04-02T00:00:00Z")
        #expect(c.state == .met && c.dueAt == t("2026-04-01T00:00:00Z") && c.margin == hours(48))
        #expect(c.note?.contains("without the reporter's agreement") == true)
    }

    @Test("AumOS in Europe/Berlin: business days follow local midnight and daylight saving time",
          .enabled(if: FileManager.default.fileExists(atPath: "/usr/share/zoneinfo/Europe/Berlin"), "needs tzdata"))
    func businessDaysInAZone() throws {
        let tzif = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "/usr/share/zoneinfo/Europe/Berlin")))
        let berlin = try ZoneRules(identifier: "Europe/Berlin", tzif: tzif)
        var s = try Scenario("aumos.toml", zone: berlin, edit: { $0.replacingOccurrences(of: "version = 1\n", with: "version = 1\ntime-zone = \"Europe/Berlin\"\n") })
        // Friday 2026-10-23 22:30Z is Saturday 00:30 in Berlin (CEST, +2): the count starts Monday
        // 00:00 local. Summer time ends Sunday 10-25, so Monday 00:00 local is 2026-10-25T23:00Z;
        // five business days end Saturday 10-31 00:00 local = 2026-10-30T23:00Z.
        try s.submit("Z", at: "2026-10-23T22:30:00Z")
        #expect(s.clock("Z", .triage, at: "2026-10-26T00:00:00Z").dueAt == t("2026-10-30T23:00:00Z"))
    }

    // MARK: Edge cases found in review

    @Test("exploitation before any fix sets a deadline even when disclosure counts from the fix release")
    func exploitedBeforeFix() throws {
        var s = try Scenario("aixcl.toml", edit: { $0.replacingOccurrences(of: "earliest = \"7d\"", with: "earliest = \"7d\"\nexploited = \"7d\"") })
        try s.accepted("E", .critical, submitted: "2026-03-01T00:00:00Z", acknowledged: "2026-03-01T01:00:00Z", triaged: "2026-03-02T00:00:00Z")
        try s.run("E", .exploited(source: "ITW"), at: "2026-03-03T00:00:00Z")
        let c = s.clock("E", .disclosure, at: "2026-03-20T00:00:00Z")
        #expect(c.state == .breached && c.isLate && c.dueAt == t("2026-03-10T00:00:00Z"))
    }

    @Test("the grace period applies to a deadline set by exploitation before any fix, so a release does not turn a breach back into a running clock; exploited-grace, when given, is that grace",
          arguments: ["grace = \"3d\"", "grace = \"14d\"\nexploited-grace = \"3d\""])
    func exploitedBeforeFixGrace(_ graces: String) throws {
        let edit = { (text: String) in text.replacingOccurrences(of: "earliest = \"7d\"", with: "earliest = \"7d\"\nexploited = \"7d\"\n\(graces)") }
        var s = try Scenario("aixcl.toml", edit: edit)
        for id in ["E", "F"] {
            try s.accepted(id, .critical, submitted: "2026-03-01T00:00:00Z", acknowledged: "2026-03-01T01:00:00Z", triaged: "2026-03-02T00:00:00Z")
            try s.run(id, .exploited(source: "ITW"), at: "2026-03-03T00:00:00Z")  // due 03-10, grace until 03-13
        }
        try s.run("F", .startFix(branch: nil), at: "2026-03-11T00:00:00Z")
        try s.run("F", .release(versions: ["1.0.1"]), at: "2026-03-11T12:00:00Z")
        // A day past due, inside the grace period: running and late, fixed or not.
        for id in ["E", "F"] {
            let c = s.clock(id, .disclosure, at: "2026-03-12T00:00:00Z")
            #expect(c.state == .running && c.isLate && c.dueAt == t("2026-03-10T00:00:00Z") && c.margin == hours(-48), "\(id)")
            #expect(c.note?.contains("in the grace period until 2026-03-13T00:00:00Z") == true, "\(id): \(c.note ?? "")")
        }
        // Past the grace period: breached, fixed or not.
        for id in ["E", "F"] {
            #expect(s.clock(id, .disclosure, at: "2026-03-13T00:00:01Z").state == .breached, "\(id)")
        }
    }

    @Test("a milestone whose event time is after the evaluation instant has not happened yet, and ends no clock")
    func milestoneAfterNow() throws {
        var s = try Scenario("aixcl.toml")  // acknowledge within 72 h
        try s.submit("L", at: "2026-03-02T08:00:00Z")  // due 03-05 08:00
        try s.run("L", .acknowledge(assignee: "m"), at: "2026-03-05T08:02:00Z")
        var c = s.clock("L", .acknowledge, at: "2026-03-05T07:58:00Z")
        #expect(c.state == .running && c.endedAt == nil && c.margin == .seconds(120))
        c = s.clock("L", .acknowledge, at: "2026-03-05T08:01:00Z")
        #expect(c.state == .breached && c.endedAt == nil && c.isLate)
        c = s.clock("L", .acknowledge, at: "2026-03-05T08:03:00Z")
        #expect(c.state == .breached && c.endedAt == t("2026-03-05T08:02:00Z") && c.margin == .seconds(-120) && !c.isLate)
        // The same for a disclosure: published at 04-20, looked at the day before.
        try s.triage("L", .high, at: "2026-03-06T00:00:00Z")
        try s.run("L", .startFix(branch: nil), at: "2026-03-07T00:00:00Z")
        try s.run("L", .release(versions: ["2.0.1"]), at: "2026-04-10T00:00:00Z")  // due 04-24
        try s.run("L", .publish(ghsa: nil, cve: nil, url: nil), at: "2026-04-20T00:00:00Z")
        c = s.clock("L", .disclosure, at: "2026-04-19T00:00:00Z")
        #expect(c.state == .running && c.endedAt == nil && c.dueAt == t("2026-04-24T00:00:00Z") && c.target == "14d after the fix release", "\(c)")
        #expect(s.clock("L", .disclosure, at: "2026-04-21T00:00:00Z").endedAt == t("2026-04-20T00:00:00Z"))
    }

    @Test("an advisory without a fix release leaves the fix owed: the release that follows it ends the clock, and the report stays disclosed; a withdrawal ends it with nothing to judge")
    func fixEndings() throws {
        var s = try Scenario("aumos.toml")
        try s.accepted("F", .high, submitted: "2026-03-02T09:00:00Z", acknowledged: "2026-03-02T10:00:00Z", triaged: "2026-03-03T09:00:00Z")  // 30 days → 04-02 09:00
        try s.run("F", .publish(ghsa: nil, cve: nil, url: nil), at: "2026-03-20T00:00:00Z")
        var c = s.clock("F", .fix, at: "2026-03-25T00:00:00Z")
        #expect(c.state == .running && c.endedAt == nil && c.dueAt == t("2026-04-02T09:00:00Z"), "\(c)")
        #expect(c.note?.contains("advisory published 2026-03-20T00:00:00Z before any fix release: the fix is still due") == true, "\(String(describing: c.note))")
        c = s.clock("F", .fix, at: "2026-04-03T09:00:00Z")
        #expect(c.state == .breached && c.endedAt == nil && c.isLate && c.margin == .seconds(-86_400), "\(c)")
        // Released a day before the deadline, after the advisory: met, and still disclosed.
        try s.run("F", .startFix(branch: nil), at: "2026-03-26T09:00:00Z")
        try s.run("F", .mergeFix(commit: "abc123"), at: "2026-03-30T09:00:00Z")
        try s.run("F", .release(versions: ["2.4.1"]), at: "2026-04-01T09:00:00Z")
        c = s.clock("F", .fix, at: "2026-06-01T00:00:00Z")
        #expect(c.state == .met && c.endedAt == t("2026-04-01T09:00:00Z") && c.margin == .seconds(86_400), "\(c)")
        #expect(c.note?.contains("released after the advisory of 2026-03-20T00:00:00Z") == true, "\(String(describing: c.note))")
        #expect(s.projection.reports["F"]?.state == .disclosed && s.projection.reports["F"]?.fixedVersions == ["2.4.1"])
        // As of before the release, the fix was still owed.
        c = s.clock("F", .fix, at: "2026-03-25T00:00:00Z")
        #expect(c.state == .running && c.endedAt == nil && c.dueAt == t("2026-04-02T09:00:00Z"), "\(c)")
        // Once started, the fix cannot start again.
        #expect { try s.run("F", .startFix(branch: nil), at: "2026-04-02T09:00:00Z") } throws: { ($0 as? DomainError)?.code == .illegalTransition }

        // Published after the 30 days had passed, released later still: late by the release.
        try s.accepted("H", .high, submitted: "2026-03-02T09:00:00Z", acknowledged: "2026-03-02T10:00:00Z", triaged: "2026-03-03T09:00:00Z")  // due 04-02 09:00
        try s.run("H", .publish(ghsa: nil, cve: nil, url: nil), at: "2026-04-10T09:00:00Z")
        c = s.clock("H", .fix, at: "2026-04-15T09:00:00Z")
        #expect(c.state == .breached && c.endedAt == nil && c.margin == .seconds(-13 * 86_400), "\(c)")
        try s.run("H", .release(versions: ["2.4.2"]), at: "2026-04-20T09:00:00Z")
        c = s.clock("H", .fix, at: "2026-06-01T00:00:00Z")
        #expect(c.state == .breached && c.endedAt == t("2026-04-20T09:00:00Z") && c.margin == .seconds(-18 * 86_400), "\(c)")
        // Released without a recorded start: that counts as started too.
        #expect { try s.run("H", .startFix(branch: nil), at: "2026-04-21T09:00:00Z") } throws: { ($0 as? DomainError)?.code == .illegalTransition }
        // Re-rated after the advisory, while the fix is owed: judged by the new rating (critical, 7 days).
        try s.accepted("R", .high, submitted: "2026-03-02T09:00:00Z", acknowledged: "2026-03-02T10:00:00Z", triaged: "2026-03-03T09:00:00Z")
        try s.run("R", .publish(ghsa: nil, cve: nil, url: nil), at: "2026-03-05T00:00:00Z")
        try s.run("R", .mergeFix(commit: "def456"), at: "2026-03-06T00:00:00Z")
        #expect { try s.run("R", .startFix(branch: nil), at: "2026-03-06T01:00:00Z") } throws: { ($0 as? DomainError)?.code == .illegalTransition }
        try s.triage("R", .critical, at: "2026-03-07T00:00:00Z")
        try s.run("R", .assign(assignee: "n"), at: "2026-03-07T00:00:00Z")
        c = s.clock("R", .fix, at: "2026-03-08T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-03-10T09:00:00Z") && c.target == "7d", "\(c)")
        #expect(s.projection.reports["R"]?.state == .disclosed && s.projection.reports["R"]?.severity == .critical && s.projection.reports["R"]?.assignee == "n")
        // No fix will come: closed as wont-fix, the disclosed report stays disclosed, and its fix
        // clock is not applicable — or stays breached, if its target had passed.
        for (id, closedAt, state) in [("K", "2026-03-25T00:00:00Z", ClockState.notApplicable), ("L", "2026-04-05T00:00:00Z", .breached)] {
            try s.accepted(id, .high, submitted: "2026-03-02T09:00:00Z", acknowledged: "2026-03-02T10:00:00Z", triaged: "2026-03-03T09:00:00Z")  // due 04-02 09:00
            try s.run(id, .publish(ghsa: nil, cve: nil, url: nil), at: "2026-03-20T00:00:00Z")
            #expect { try s.run(id, .close(.spam, duplicateOf: nil, reason: nil), at: closedAt) } throws: { ($0 as? DomainError)?.code == .invalidCommand }
            try s.run(id, .close(.wontFix, duplicateOf: nil, reason: "the feature is removed in 3.0"), at: closedAt)
            c = s.clock(id, .fix, at: "2026-06-01T00:00:00Z")
            #expect(c.state == state && c.endedAt == (state == .breached ? t(closedAt) : nil), "\(c)")
            #expect(c.note?.contains("closed as wont-fix") == true, "\(String(describing: c.note))")
            #expect(s.projection.reports[id]?.state == .disclosed && s.projection.reports[id]?.resolution == .wontFix)
            #expect(s.clock(id, .disclosure, at: "2026-06-01T00:00:00Z").state == .met)
            for command in [ReportCommand.release(versions: ["3.0"]), .startFix(branch: nil), .mergeFix(commit: "c0ffee"), .assign(assignee: "z"),
                            .triage(severity: .low, cvss31: nil, cvss40: nil, cwes: [], component: nil, affected: [], reason: nil)] {
                #expect { try s.run(id, command, at: "2026-06-01T00:00:00Z") } throws: { ($0 as? DomainError)?.code == .illegalTransition }
            }
        }
        // Reopened (a fix after all): disclosed still, and the release judges the clock, whose
        // deadline the time closed did not move (closing and reopening buys no time).
        try s.run("K", .reopen(reason: "backport after all"), at: "2026-05-20T00:00:00Z")
        #expect(s.projection.reports["K"]?.state == .disclosed && s.projection.reports["K"]?.resolution == nil)
        c = s.clock("K", .fix, at: "2026-05-21T00:00:00Z")
        #expect(c.state == .breached && c.dueAt == t("2026-04-02T09:00:00Z") && c.endedAt == nil, "\(c)")
        try s.run("K", .release(versions: ["2.9.1"]), at: "2026-05-21T09:00:00Z")
        c = s.clock("K", .fix, at: "2026-06-01T00:00:00Z")
        #expect(c.state == .breached && c.dueAt == t("2026-04-02T09:00:00Z") && c.endedAt == t("2026-05-21T09:00:00Z"), "\(c)")
        // Nothing to forgo once released; nothing to reopen unless closed.
        #expect { try s.run("K", .close(.wontFix, duplicateOf: nil, reason: nil), at: "2026-06-01T00:00:00Z") } throws: { ($0 as? DomainError)?.code == .illegalTransition }
        #expect { try s.run("F", .reopen(reason: nil), at: "2026-06-01T00:00:00Z") } throws: { ($0 as? DomainError)?.code == .illegalTransition }

        // A next-release target after the advisory: due with the release that follows it.
        try s.accepted("N", .medium, submitted: "2026-03-02T09:00:00Z", acknowledged: "2026-03-02T10:00:00Z", triaged: "2026-03-03T09:00:00Z")
        try s.run("N", .publish(ghsa: nil, cve: nil, url: nil), at: "2026-03-05T00:00:00Z")
        c = s.clock("N", .fix, at: "2026-05-01T00:00:00Z")
        #expect(c.state == .running && c.target == "next-release" && c.note?.contains("due with the next release") == true, "\(c)")
        try s.run("N", .release(versions: ["2.5.0"]), at: "2026-05-02T00:00:00Z")
        c = s.clock("N", .fix, at: "2026-05-03T00:00:00Z")
        #expect(c.state == .met && c.endedAt == t("2026-05-02T00:00:00Z"), "\(c)")

        // A withdrawn advisory (no vulnerability after all) leaves nothing to judge, unless the
        // target had passed by the withdrawal.
        for (id, withdrawn, state) in [("W", "2026-03-25T00:00:00Z", ClockState.notApplicable), ("X", "2026-04-05T00:00:00Z", .breached)] {
            try s.accepted(id, .high, submitted: "2026-03-02T09:00:00Z", acknowledged: "2026-03-02T10:00:00Z", triaged: "2026-03-03T09:00:00Z")  // due 04-02 09:00
            try s.run(id, .publish(ghsa: nil, cve: nil, url: nil), at: "2026-03-20T00:00:00Z")
            try s.run(id, .withdraw(reason: "not exploitable"), at: withdrawn)
            c = s.clock(id, .fix, at: "2026-06-01T00:00:00Z")
            #expect(c.state == state && c.endedAt == t(withdrawn), "\(c)")
            #expect(c.note?.contains("ended by the advisory's withdrawal, without a recorded fix release") == true, "\(String(describing: c.note))")
            #expect(throws: DomainError.self) { try s.run(id, .release(versions: ["9.9.9"]), at: "2026-06-01T00:00:00Z") }
        }

        try s.accepted("G", .high, submitted: "2026-03-02T09:00:00Z", acknowledged: "2026-03-02T10:00:00Z", triaged: "2026-03-03T09:00:00Z")
        try s.run("G", .release(versions: ["1.0.1"]), at: "2026-03-23T09:00:00Z")  // day 20: met for high
        try s.run("G", .release(versions: ["0.9.9"]), at: "2026-03-25T09:00:00Z")  // a backport: allowed
        try s.triage("G", .critical, at: "2026-04-10T00:00:00Z")  // re-rated after the fix
        c = s.clock("G", .fix, at: "2026-04-11T00:00:00Z")
        #expect(c.state == .met && c.target == "30d")
        #expect(s.projection.reports["G"]?.fixedVersions == ["1.0.1", "0.9.9"] && s.projection.reports["G"]?.state == .fixReleased)
    }

    @Test("a report closed and reopened: time closed does not count, and it can still be acknowledged")
    func reopenAfterClose() throws {
        var s = try Scenario("aumos.toml")
        try s.submit("R", at: "2026-03-02T09:00:00Z")
        try s.run("R", .close(.spam, duplicateOf: nil, reason: nil), at: "2026-03-02T10:00:00Z")
        try s.run("R", .reopen(reason: "not spam"), at: "2026-03-10T10:00:00Z")
        #expect(s.projection.reports["R"]?.state == .submitted)
        // 1 h used before closing; 47 h of the 48 remain from the reopening → 03-12 09:00.
        let c = s.clock("R", .acknowledge, at: "2026-03-11T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-03-12T09:00:00Z"))
        try s.run("R", .acknowledge(assignee: "m"), at: "2026-03-11T09:00:00Z")
        #expect(s.clock("R", .acknowledge, at: "2026-03-12T00:00:00Z").state == .met)
    }

    @Test("a closing or a wait that came after a clock had ended does not move the deadline it was judged by")
    func pauseAfterTheEnd() throws {
        // AumOS: acknowledge within 48 h, triage within 5 business days (UTC, Monday to Friday).
        var s = try Scenario("aumos.toml")
        try s.accepted("T", .high, submitted: "2026-03-02T09:00:00Z", acknowledged: "2026-03-02T10:00:00Z", triaged: "2026-03-04T09:00:00Z")  // Monday 09:00; Wednesday: triage met
        try s.run("T", .close(.informative, duplicateOf: nil, reason: nil), at: "2026-03-05T09:00:00Z")
        try s.run("T", .reopen(reason: "a second look"), at: "2026-03-20T09:00:00Z")
        // Five business days from Monday 09:00: Mon 15 h + Tue–Fri 96 h + Mon 9 h = 120 h → Monday
        // 2026-03-09T09:00Z, ended 5 days early. The closing (Thursday to Friday two weeks later)
        // came after the triage and must not count as a pause: counted, it made the due instant
        // 2026-03-24T09:00Z and the margin 20 days.
        var c = s.clock("T", .triage, at: "2026-03-25T00:00:00Z")
        #expect(c.state == .met && c.dueAt == t("2026-03-09T09:00:00Z") && c.margin == hours(120))

        // Acknowledge: closed a day after its acknowledgement, reopened 17 days later. Due 48 h after
        // the submission, 2026-03-04T09:00Z, met 47 h early (not 03-21T09:00Z and 18d 23h).
        try s.submit("K", at: "2026-03-02T09:00:00Z")
        try s.run("K", .acknowledge(assignee: "m"), at: "2026-03-02T10:00:00Z")
        try s.run("K", .close(.informative, duplicateOf: nil, reason: nil), at: "2026-03-03T09:00:00Z")
        try s.run("K", .reopen(reason: "a second look"), at: "2026-03-20T09:00:00Z")
        c = s.clock("K", .acknowledge, at: "2026-03-21T00:00:00Z")
        #expect(c.state == .met && c.dueAt == t("2026-03-04T09:00:00Z") && c.margin == hours(47))

        // A policy whose acknowledge clock pauses while waiting on the reporter: information can
        // only be asked for once a report is acknowledged, so no wait can pause that clock.
        var p = try Scenario("aumos.toml", edit: {
            $0.replacingOccurrences(of: "[acknowledge]\nwithin = \"48h\"", with: "[acknowledge]\nwithin = \"48h\"\npause-while-waiting = true")
        })
        #expect(p.projection.projects["p"]?.currentPolicy?.policy.acknowledge?.pausedWhileWaiting == true)
        try p.submit("W", at: "2026-03-02T09:00:00Z")
        try p.run("W", .acknowledge(assignee: "m"), at: "2026-03-02T10:00:00Z")
        try p.run("W", .requestInfo(question: "which version?"), at: "2026-03-02T11:00:00Z")
        // While the wait is open the clock is met, due 03-04T09:00Z, 47 h early (a wait begun
        // after the acknowledgement does not take the due instant or the margin away).
        c = p.clock("W", .acknowledge, at: "2026-03-03T00:00:00Z")
        #expect(c.state == .met && c.dueAt == t("2026-03-04T09:00:00Z") && c.margin == hours(47))
        // After the answer, ten days later, the same (the wait does not move it to 03-14T09:00Z).
        try p.run("W", .respond(summary: "1.2"), at: "2026-03-12T11:00:00Z")
        c = p.clock("W", .acknowledge, at: "2026-03-13T00:00:00Z")
        #expect(c.state == .met && c.dueAt == t("2026-03-04T09:00:00Z") && c.margin == hours(47))
    }

    @Test("an embargo extension never brings a deadline forward")
    func extensionNeverShortens() throws {
        var s = try Scenario("aumos.toml")
        try s.accepted("X", .low, submitted: "2026-03-01T00:00:00Z", acknowledged: "2026-03-01T01:00:00Z", triaged: "2026-03-02T00:00:00Z")  // 90 days → 05-30
        try s.run("X", .extendEmbargo(until: t("2026-04-01T00:00:00Z"), reason: "typo", reporterAgreed: true), at: "2026-03-03T00:00:00Z")
        #expect(s.clock("X", .disclosure, at: "2026-04-10T00:00:00Z").dueAt == t("2026-05-30T00:00:00Z"))
    }

    @Test("a fix clock paused while waiting on the reporter shows its due instant as if it resumed now, and says so")
    func fixPaused() throws {
        // One 7-day target for every severity, from the report, paused while waiting: it runs
        // before triage. Submitted 03-02 09:00; information requested 03-03 09:00, a day in.
        var s = try Scenario("aumos.toml", edit: {
            $0.replacingOccurrences(of: "[fix]\nfrom = \"acceptance\"", with: "[fix]\nfrom = \"report\"\npause-while-waiting = true")
                .replacingOccurrences(of: "high = \"30d\"", with: "high = \"7d\"")
                .replacingOccurrences(of: "medium = \"next-release\"", with: "medium = \"7d\"")
                .replacingOccurrences(of: "low = \"next-release\"", with: "low = \"7d\"")
        })
        try s.submit("P", at: "2026-03-02T09:00:00Z")
        try s.run("P", .acknowledge(assignee: "m"), at: "2026-03-02T10:00:00Z")
        try s.run("P", .requestInfo(question: "which version?"), at: "2026-03-03T09:00:00Z")
        // At 03-04 00:00, six days left: due 03-10 00:00 if it resumed now.
        let c = s.clock("P", .fix, at: "2026-03-04T00:00:00Z")
        #expect(c.state == .paused && c.dueAt == t("2026-03-10T00:00:00Z"))
        #expect(c.note == "not yet triaged; the same target for every severity; paused while waiting on the reporter; due shown as if it resumed now", "\(c.note ?? "")")
    }

    @Test("an embargo extension beyond the policy's maximum is capped there, and says so")
    func extensionCapped() throws {
        var s = try Scenario("cert-cc.toml", edit: { $0.replacingOccurrences(of: "within = \"45d\"", with: "within = \"45d\"\nmax-extension = \"14d\"") })
        try s.accepted("M", .medium, submitted: "2026-02-01T00:00:00Z", acknowledged: "2026-02-02T00:00:00Z", triaged: "2026-02-03T00:00:00Z")  // 45 days → 03-18; at most 14 more → 04-01
        try s.run("M", .extendEmbargo(until: t("2026-05-01T00:00:00Z"), reason: "big release", reporterAgreed: true), at: "2026-03-01T00:00:00Z")
        let c = s.clock("M", .disclosure, at: "2026-03-20T00:00:00Z")
        #expect(c.dueAt == t("2026-04-01T00:00:00Z"))
        // The reporter agreed to the date asked, not to the one the policy cut it to.
        #expect(
            c.note == "embargo extension to 2026-05-01T00:00:00Z, with the reporter's agreement, capped at the policy's maximum extension of 14d: extended to 2026-04-01T00:00:00Z",
            "\(c.note ?? "")")
    }

    // MARK: Later events do not undo a breach

    @Test("AiSOC: one fix target for every severity, so the fix clock runs before triage and is breached if triage never comes")
    func uniformFixTargetBeforeTriage() throws {
        var s = try Scenario("aisoc.toml")
        // "Within 30 days | Ship a fix, advisory, or a clear timeline": 30 days from the report,
        // whatever the severity → 2026-04-01T09:00Z.
        try s.submit("U", at: "2026-03-02T09:00:00Z")
        try s.run("U", .acknowledge(assignee: "m"), at: "2026-03-02T10:00:00Z")
        var c = s.clock("U", .fix, at: "2026-03-20T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-04-01T09:00:00Z") && c.target == "30d")
        #expect(c.note?.contains("not yet triaged") == true)
        // Never triaged: breached a day after, 24 h overdue.
        c = s.clock("U", .fix, at: "2026-04-02T09:00:00Z")
        #expect(c.state == .breached && c.margin == hours(-24))
        // Triaged low later: the same target, so the same deadline and the same breach.
        try s.triage("U", .low, at: "2026-04-03T00:00:00Z")
        c = s.clock("U", .fix, at: "2026-04-04T00:00:00Z")
        #expect(c.state == .breached && c.dueAt == t("2026-04-01T09:00:00Z") && c.note == "severity low")
        // With targets that differ by severity (critical 7 days, still from the report), there is
        // nothing to count before triage.
        var a = try Scenario("aisoc.toml", edit: { $0.replacingOccurrences(of: "critical = \"30d\"", with: "critical = \"7d\"") })
        try a.submit("V", at: "2026-03-02T09:00:00Z")
        #expect(a.clock("V", .fix, at: "2026-04-20T00:00:00Z").state == .notApplicable)
        // A report never triaged and closed as spam after the 30 days had nothing to fix.
        try s.submit("W", at: "2026-03-02T09:00:00Z")
        try s.run("W", .close(.spam, duplicateOf: nil, reason: nil), at: "2026-04-10T00:00:00Z")
        c = s.clock("W", .fix, at: "2026-04-11T00:00:00Z")
        #expect(c.state == .notApplicable && c.note == "closed as spam without a fix")
    }

    @Test("closing an accepted report after its fix deadline leaves the fix clock breached; closing before it, or as a duplicate, makes it not applicable")
    func closingAfterFixDeadline() throws {
        var s = try Scenario("aumos.toml")
        // Accepted as critical on 03-02 09:00: fixed within 7 days of acceptance → 03-09T09:00Z.
        for id in ["L", "E"] {
            try s.accepted(id, .critical, submitted: "2026-03-02T08:00:00Z", acknowledged: "2026-03-02T08:30:00Z", triaged: "2026-03-02T09:00:00Z")
        }
        // L: closed as won't-fix on 03-20 09:00, eleven days after the deadline → breached, 264 h late.
        try s.run("L", .close(.wontFix, duplicateOf: nil, reason: "upstream"), at: "2026-03-20T09:00:00Z")
        var c = s.clock("L", .fix, at: "2026-03-25T00:00:00Z")
        #expect(c.state == .breached && c.dueAt == t("2026-03-09T09:00:00Z") && c.endedAt == t("2026-03-20T09:00:00Z") && c.margin == hours(-264))
        #expect(c.note == "severity critical; closed as wont-fix after the deadline had passed")
        #expect(!c.isLate)
        // E: closed on 03-05, before the deadline → no fix clock.
        try s.run("E", .close(.wontFix, duplicateOf: nil, reason: "upstream"), at: "2026-03-05T09:00:00Z")
        c = s.clock("E", .fix, at: "2026-03-25T00:00:00Z")
        #expect(c.state == .notApplicable && c.note == "closed as wont-fix without a fix")
        // As of before the closing, L's clock was already breached, and still open.
        c = s.clock("L", .fix, at: "2026-03-15T00:00:00Z")
        #expect(c.state == .breached && c.endedAt == nil && c.isLate)
        // A duplicate closed after the deadline: its original carries the clock.
        try s.accepted("O", .critical, submitted: "2026-03-02T08:00:00Z", acknowledged: "2026-03-02T08:30:00Z", triaged: "2026-03-02T09:00:00Z")
        try s.run("O", .close(.duplicate, duplicateOf: "L", reason: nil), at: "2026-03-20T09:00:00Z")
        #expect(s.clock("O", .fix, at: "2026-03-25T00:00:00Z").state == .notApplicable)
    }

    @Test("CERT/CC: closing an accepted report after the 45-day deadline leaves the disclosure clock breached; closing before it, or a report never accepted, makes it not applicable")
    func closingAfterDisclosureDeadline() throws {
        var s = try Scenario("cert-cc.toml")
        // 45 days from 02-01 → 2026-03-18T00:00Z.
        for id in ["D", "N", "Z"] {
            try s.submit(id, at: "2026-02-01T00:00:00Z")
            try s.run(id, .acknowledge(assignee: "v"), at: "2026-02-02T00:00:00Z")
        }
        try s.triage("D", .high, at: "2026-02-03T00:00:00Z")
        try s.triage("N", .high, at: "2026-02-03T00:00:00Z")
        try s.run("D", .close(.informative, duplicateOf: nil, reason: nil), at: "2026-03-25T00:00:00Z")
        try s.run("N", .close(.informative, duplicateOf: nil, reason: nil), at: "2026-03-10T00:00:00Z")
        var c = s.clock("D", .disclosure, at: "2026-04-01T00:00:00Z")
        #expect(c.state == .breached && c.dueAt == t("2026-03-18T00:00:00Z") && c.endedAt == t("2026-03-25T00:00:00Z") && c.margin == hours(-7 * 24))
        #expect(c.note == "closed as informative after the deadline had passed")
        c = s.clock("N", .disclosure, at: "2026-04-01T00:00:00Z")
        #expect(c.state == .notApplicable && c.note == "closed as informative; nothing to disclose")
        // Z was never accepted: closed as out of scope after the 45 days, there was nothing to disclose.
        try s.run("Z", .close(.outOfScope, duplicateOf: nil, reason: nil), at: "2026-03-25T00:00:00Z")
        c = s.clock("Z", .disclosure, at: "2026-04-01T00:00:00Z")
        #expect(c.state == .notApplicable && c.note == "closed as out-of-scope; nothing to disclose")
    }

    @Test("an embargo extension recorded after the deadline had passed does not undo the breach")
    func lateEmbargoExtension() throws {
        var s = try Scenario("cert-cc.toml")
        // 45 days from 02-01 → 03-18. Extended on 03-20, after it passed, to 04-15: not counted.
        try s.submit("K", at: "2026-02-01T00:00:00Z")
        try s.run("K", .acknowledge(assignee: "v"), at: "2026-02-02T00:00:00Z")
        try s.run("K", .extendEmbargo(until: t("2026-04-15T00:00:00Z"), reason: "vendor asked late", reporterAgreed: true), at: "2026-03-20T00:00:00Z")
        var c = s.clock("K", .disclosure, at: "2026-03-25T00:00:00Z")
        #expect(c.state == .breached && c.dueAt == t("2026-03-18T00:00:00Z") && c.margin == hours(-7 * 24))
        #expect(c.note == "embargo extension to 2026-04-15T00:00:00Z dated 2026-03-20T00:00:00Z, after the deadline of 2026-03-18T00:00:00Z had passed: not counted")
        // J: extended on 03-10 to 04-15 (counted), then on 04-20 to 05-01 (after 04-15: not counted).
        try s.submit("J", at: "2026-02-01T00:00:00Z")
        try s.run("J", .acknowledge(assignee: "v"), at: "2026-02-02T00:00:00Z")
        try s.run("J", .extendEmbargo(until: t("2026-04-15T00:00:00Z"), reason: "distributions", reporterAgreed: true), at: "2026-03-10T00:00:00Z")
        c = s.clock("J", .disclosure, at: "2026-04-10T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-04-15T00:00:00Z"))
        try s.run("J", .extendEmbargo(until: t("2026-05-01T00:00:00Z"), reason: "again", reporterAgreed: true), at: "2026-04-20T00:00:00Z")
        c = s.clock("J", .disclosure, at: "2026-04-25T00:00:00Z")
        #expect(c.state == .breached && c.dueAt == t("2026-04-15T00:00:00Z"))
        #expect(c.note?.contains("embargo extension to 2026-05-01T00:00:00Z dated 2026-04-20T00:00:00Z") == true)
        #expect(c.note?.contains("embargo extended to 2026-04-15T00:00:00Z with the reporter's agreement") == true)
        // Under a policy with an automatic grace period, an extension recorded within the grace still counts.
        var g = try Scenario("project-zero.toml", edit: automaticGrace)
        // 90 days from 01-05 → 04-05; grace 14 days → 04-19. Extended on 04-10 to 05-10: counted.
        try g.submit("P", at: "2026-01-05T00:00:00Z")
        try g.run("P", .acknowledge(assignee: "v"), at: "2026-01-06T00:00:00Z")
        try g.run("P", .extendEmbargo(until: t("2026-05-10T00:00:00Z"), reason: "release train", reporterAgreed: true), at: "2026-04-10T00:00:00Z")
        c = g.clock("P", .disclosure, at: "2026-04-25T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-05-10T00:00:00Z"))
        // Recorded after the grace had run out as well (04-19): not counted, and the note names the
        // grace it was judged by, not only the deadline.
        try g.submit("L", at: "2026-01-05T00:00:00Z")
        try g.run("L", .acknowledge(assignee: "v"), at: "2026-01-06T00:00:00Z")
        try g.run("L", .extendEmbargo(until: t("2026-05-10T00:00:00Z"), reason: "release train", reporterAgreed: true), at: "2026-04-20T00:00:00Z")
        c = g.clock("L", .disclosure, at: "2026-04-25T00:00:00Z")
        #expect(c.state == .breached && c.dueAt == t("2026-04-05T00:00:00Z"))
        #expect(c.note == "embargo extension to 2026-05-10T00:00:00Z dated 2026-04-20T00:00:00Z, after the deadline of 2026-04-05T00:00:00Z and its grace of 14d (to 2026-04-19T00:00:00Z) had passed: not counted", "\(c.note ?? "")")
    }

    @Test("an embargo extension agreed before the fix release that ends before the deadline the release sets is named, not silently dropped")
    func extensionOvertakenByRelease() throws {
        var s = try Scenario("aixcl.toml")
        try s.accepted("E", .high, submitted: "2026-03-02T08:00:00Z", acknowledged: "2026-03-02T09:00:00Z", triaged: "2026-03-03T08:00:00Z")
        // Agreed on 03-20, no fix yet, to 04-10; the fix comes out 04-01 12:00 → due 04-15 12:00.
        try s.run("E", .extendEmbargo(until: t("2026-04-10T00:00:00Z"), reason: "distributions", reporterAgreed: true), at: "2026-03-20T00:00:00Z")
        try s.run("E", .release(versions: ["0.9.4"]), at: "2026-04-01T12:00:00Z")
        let c = s.clock("E", .disclosure, at: "2026-04-05T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-04-15T12:00:00Z"))
        #expect(c.note == "embargo extension to 2026-04-10T00:00:00Z dated 2026-03-20T00:00:00Z ends before the deadline it would extend (2026-04-15T12:00:00Z): it does not move it", "\(c.note ?? "")")
    }

    @Test("exploitation cuts an embargo extension back, but never before an after-fix date; an early fix does not shrink an extension agreed within the cap")
    func exploitationAndExtensionsWithAfterFix() throws {
        var s = try Scenario("project-zero.toml", edit: anyDay)
        // Submitted 01-10 (90 days: 04-10). Extended on 01-20 to 06-01, exploited 02-01 (due 02-08),
        // fixed 02-05, inside the 7 days: due 30 days after the fix, 03-07, not the extension's 06-01.
        try s.submit("A", at: "2026-01-10T00:00:00Z")
        try s.run("A", .acknowledge(assignee: "vendor"), at: "2026-01-11T00:00:00Z")
        try s.run("A", .extendEmbargo(until: t("2026-06-01T00:00:00Z"), reason: "vendor", reporterAgreed: true), at: "2026-01-20T00:00:00Z")
        try s.run("A", .exploited(source: "ITW"), at: "2026-02-01T00:00:00Z")
        #expect(s.clock("A", .disclosure, at: "2026-02-04T00:00:00Z").dueAt == t("2026-02-08T00:00:00Z"))
        try s.triage("A", .high, at: "2026-02-04T12:00:00Z")
        try s.run("A", .release(versions: ["5.2"]), at: "2026-02-05T00:00:00Z")
        var c = s.clock("A", .disclosure, at: "2026-02-06T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-03-07T00:00:00Z"), "\(c)")
        #expect(c.note?.contains("exploitation observed 2026-02-01T00:00:00Z: due at the after-fix date, not later") == true, "\(c.note ?? "")")
        // Fixed 02-26 (due 03-28), extended on 03-01 to 06-01, exploited 04-01: cut back to 04-08.
        try s.accepted("B", .high, submitted: "2026-01-10T00:00:00Z", acknowledged: "2026-01-11T00:00:00Z", triaged: "2026-01-12T00:00:00Z")
        try s.run("B", .release(versions: ["5.1"]), at: "2026-02-26T00:00:00Z")
        try s.run("B", .extendEmbargo(until: t("2026-06-01T00:00:00Z"), reason: "vendor", reporterAgreed: true), at: "2026-03-01T00:00:00Z")
        #expect(s.clock("B", .disclosure, at: "2026-03-02T00:00:00Z").dueAt == t("2026-06-01T00:00:00Z"))
        try s.run("B", .exploited(source: "ITW"), at: "2026-04-01T00:00:00Z")
        c = s.clock("B", .disclosure, at: "2026-04-02T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-04-08T00:00:00Z"), "\(c)")
        // With a 14-day cap: extended on 01-10 to 04-15 (within the cap: submitted 01-05, day 90
        // is 04-05, and 04-05 + 14 = 04-19), then fixed 01-20: the extension still stands.
        var m = try Scenario("project-zero.toml", edit: { anyDay($0).replacingOccurrences(of: "exploited = \"7d\"", with: "exploited = \"7d\"\nmax-extension = \"14d\"") })
        try m.accepted("C", .high, submitted: "2026-01-05T00:00:00Z", acknowledged: "2026-01-06T00:00:00Z", triaged: "2026-01-07T00:00:00Z")
        try m.run("C", .extendEmbargo(until: t("2026-04-15T00:00:00Z"), reason: "vendor", reporterAgreed: true), at: "2026-01-10T00:00:00Z")
        try m.run("C", .release(versions: ["2.0"]), at: "2026-01-20T00:00:00Z")
        c = m.clock("C", .disclosure, at: "2026-02-01T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-04-15T00:00:00Z") && c.note?.contains("capped") != true, "\(c)")
    }

    @Test("a grace period longer than after-fix is a contradiction: a fix late in it would be due before its release")
    func graceLongerThanAfterFix() throws {
        let text = "name = \"p\"\nversion = 1\n[disclosure]\nfrom = \"report\"\nwithin = \"90d\"\nafter-fix = \"7d\"\ngrace = \"30d\"\n"
        let error = #expect(throws: PolicyError.self) { try Policy.parse(text, file: "p.toml") }
        #expect(error?.description.contains("disclosure.grace: 30d is longer than after-fix (7d)") == true, "\(String(describing: error))")
    }

    @Test("a milestone recorded well after the time it gives is flagged on the clocks it ends; one entered within the hour is not")
    func lateEntries() throws {
        var s = try Scenario("aumos.toml")
        // Acknowledged "on 02-02" (within the 48 hours) but written in on 03-20; the extension that
        // moves the 90-day deadline (05-02) to 05-20 is dated 04-20 but was written in on 05-10,
        // after the deadline it extends.
        try s.submit("B", at: "2026-02-01T00:00:00Z")
        try s.run("B", .acknowledge(assignee: "v"), at: "2026-02-02T00:00:00Z", recorded: "2026-03-20T12:00:00Z")
        try s.run("B", .extendEmbargo(until: t("2026-05-20T00:00:00Z"), reason: "vendor", reporterAgreed: true), at: "2026-04-20T00:00:00Z", recorded: "2026-05-10T12:05:00Z")
        #expect(s.projection.reports["B"]?.lateEntries.map(\.type) == ["ReportAcknowledged", "EmbargoExtended"])
        var c = s.clock("B", .acknowledge, at: "2026-05-11T00:00:00Z")
        #expect(c.state == .met && c.note == nil && c.endEntry?.recordedAt == t("2026-03-20T12:00:00Z"))
        #expect(c.displayNote == "ReportAcknowledged recorded 2026-03-20T12:00:00Z, 46d 12h after the time it gives")
        c = s.clock("B", .disclosure, at: "2026-05-11T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-05-20T00:00:00Z"))
        #expect(c.displayNote?.hasSuffix("deadline moved by EmbargoExtended recorded 2026-05-10T12:05:00Z, 20d 12h 5m after the time it gives") == true, "\(c.displayNote ?? "")")
        // Written in 59 minutes after: within the tolerance, no note.
        try s.submit("Q", at: "2026-02-01T00:00:00Z")
        try s.run("Q", .acknowledge(assignee: "v"), at: "2026-02-01T10:00:00Z", recorded: "2026-02-01T10:59:00Z")
        #expect(s.projection.reports["Q"]?.lateEntries.isEmpty == true)
        // An on-time acknowledgement and a status update written in late, both dated 02-02: the
        // acknowledge clock is not flagged; the status-update clock counts the late update.
        try s.submit("R", at: "2026-02-01T00:00:00Z")
        try s.run("R", .acknowledge(assignee: "v"), at: "2026-02-02T00:00:00Z")
        try s.run("R", .statusUpdate(summary: "looking"), at: "2026-02-02T00:00:00Z", recorded: "2026-03-01T00:00:00Z")
        #expect(s.clock("R", .acknowledge, at: "2026-02-03T00:00:00Z").endEntry == nil)
        let status = s.clock("R", .statusUpdate, at: "2026-02-03T00:00:00Z")
        #expect(status.note == "1 update recorded more than 1h after the time it gives", "\(status.note ?? "")")
        #expect(s.clock("Q", .acknowledge, at: "2026-02-02T00:00:00Z").note == nil)
    }

    @Test("a backdated information request or severity change is named on the clocks whose deadline it moved")
    func lateChanges() throws {
        let pausing = variant(append: "[needs-info]\nauto-close = \"14d\"")
        var s = try Scenario("aumos.toml") {
            pausing($0.replacingOccurrences(of: "[triage]\nwithin = \"5bd\"", with: "[triage]\nwithin = \"5bd\"\npause-while-waiting = true"))
        }
        // L: submitted Monday 11-02 09:00, so triage (5 business days) was due Monday 11-09 09:00.
        // On Tuesday 11-10 10:00, after that deadline, someone writes in an information request
        // dated 11-03 09:00: the triage clock, which that pauses, now reads "paused", not breached.
        try s.submit("L", at: "2026-11-02T09:00:00Z")
        try s.run("L", .acknowledge(assignee: "m"), at: "2026-11-02T12:00:00Z")
        try s.run("L", .requestInfo(question: "config?"), at: "2026-11-03T09:00:00Z", recorded: "2026-11-10T10:00:00Z")
        let request = LateEntry(type: "InfoRequested", occurredAt: t("2026-11-03T09:00:00Z"), recordedAt: t("2026-11-10T10:00:00Z"))
        var c = s.clock("L", .triage, at: "2026-11-10T12:00:00Z")
        #expect(c.state == .paused && c.lateChanges == [request])
        #expect(c.displayNote == "paused while waiting on the reporter; due shown as if it resumed now; deadline moved by InfoRequested recorded 2026-11-10T10:00:00Z, 7d 1h after the time it gives")
        // The needs-info clock it started says so too; the acknowledge clock (not paused by this
        // policy, and ended before the request) does not.
        #expect(s.clock("L", .needsInfo, at: "2026-11-10T12:00:00Z").lateChanges == [request])
        #expect(s.clock("L", .acknowledge, at: "2026-11-10T12:00:00Z").lateChanges.isEmpty)
        // The same request written in within the hour is not flagged.
        try s.submit("M", at: "2026-11-02T09:00:00Z")
        try s.run("M", .acknowledge(assignee: "m"), at: "2026-11-02T12:00:00Z")
        try s.run("M", .requestInfo(question: "config?"), at: "2026-11-03T09:00:00Z", recorded: "2026-11-03T09:30:00Z")
        c = s.clock("M", .triage, at: "2026-11-10T12:00:00Z")
        #expect(c.state == .paused && c.lateChanges.isEmpty && c.displayNote == c.note)
        // S: triaged critical 11-03 09:00, so the fix (7 days from acceptance) was due 11-10 09:00.
        // On 11-12 a re-rating to high dated 11-03 10:00 is written in: due 30 days from
        // acceptance, 12-03 09:00, and named on the fix clock (not on the others).
        try s.accepted("S", .critical, submitted: "2026-11-02T09:00:00Z", acknowledged: "2026-11-02T12:00:00Z", triaged: "2026-11-03T09:00:00Z")
        try s.run("S", .triage(severity: .high, cvss31: nil, cvss40: nil, cwes: [], component: nil, affected: [], reason: "re-rated"),
                  at: "2026-11-03T10:00:00Z", recorded: "2026-11-12T00:00:00Z")
        c = s.clock("S", .fix, at: "2026-11-12T12:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-12-03T09:00:00Z"))
        #expect(c.lateChanges == [LateEntry(type: "SeverityChanged", occurredAt: t("2026-11-03T10:00:00Z"), recordedAt: t("2026-11-12T00:00:00Z"))])
        #expect(c.displayNote == "severity high; deadline moved by SeverityChanged recorded 2026-11-12T00:00:00Z, 8d 14h after the time it gives")
        #expect(s.clock("S", .triage, at: "2026-11-12T12:00:00Z").lateChanges.isEmpty)
        // A late re-assessment that keeps the severity (a vector added, high still) moved no deadline: not named.
        try s.run("S", .triage(severity: nil, cvss31: "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H", cvss40: nil, cwes: [], component: nil, affected: [], reason: "vector"),
                  at: "2026-11-04T10:00:00Z", recorded: "2026-11-12T01:00:00Z")
        c = s.clock("S", .fix, at: "2026-11-12T12:00:00Z")
        #expect(c.dueAt == t("2026-12-03T09:00:00Z") && c.lateChanges.map(\.occurredAt) == [t("2026-11-03T10:00:00Z")], "\(c.lateChanges)")
        // Two late re-assessments at one instant, the first moving the deadline (high → medium,
        // next release), the second keeping it (a vector): the first is named.
        try s.run("S", .triage(severity: nil, cvss31: "CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:N/A:N", cvss40: nil, cwes: [], component: nil, affected: [], reason: "local only"),
                  at: "2026-11-05T10:00:00Z", recorded: "2026-11-12T02:00:00Z")
        try s.run("S", .triage(severity: nil, cvss31: "CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:N/I:H/A:N", cvss40: nil, cwes: [], component: nil, affected: [], reason: "its vector"),
                  at: "2026-11-05T10:00:00Z", recorded: "2026-11-12T03:00:00Z")
        c = s.clock("S", .fix, at: "2026-11-12T12:00:00Z")
        #expect(s.projection.reports["S"]?.severity == .medium && c.lateChanges.contains { $0.recordedAt == t("2026-11-12T02:00:00Z") }, "\(c.lateChanges)")
    }

    @Test("a backdated closing is named on the fix and disclosure clocks it made not applicable, and only on those the policy has")
    func lateClosingOnlyOnClocksThePolicyHas() throws {
        // aios (seed 004) has a fix target for criticals and no disclosure deadline; aumos has both.
        for (file, hasDisclosure) in [("aios.toml", false), ("aumos.toml", true)] {
            var s = try Scenario(file)
            try s.submit("C", at: "2026-11-01T00:00:00Z")
            // Closed as spam on 11-01 23:00, written in a day later.
            try s.run("C", .close(.spam, duplicateOf: nil, reason: "spam"), at: "2026-11-01T23:00:00Z", recorded: "2026-11-03T00:00:00Z")
            let closing = LateEntry(type: "ReportClosed", occurredAt: t("2026-11-01T23:00:00Z"), recordedAt: t("2026-11-03T00:00:00Z"))
            let disclosure = s.clock("C", .disclosure, at: "2026-11-04T00:00:00Z")
            #expect(disclosure.state == .notApplicable && disclosure.lateChanges == (hasDisclosure ? [closing] : []), "\(file): \(disclosure)")
            #expect(hasDisclosure || !(disclosure.displayNote ?? "").contains("deadline moved"), "\(file): \(disclosure.displayNote ?? "")")
            let fix = s.clock("C", .fix, at: "2026-11-04T00:00:00Z")
            #expect(fix.state == .notApplicable && fix.lateChanges == [closing], "\(file): \(fix)")
            // Rated low, which aios sets no fix target for (aumos: the next release), then closed
            // late: no fix deadline of aios's was moved.
            try s.accepted("L", .low, submitted: "2026-11-01T00:00:00Z", acknowledged: "2026-11-01T01:00:00Z", triaged: "2026-11-02T00:00:00Z")
            try s.run("L", .close(.wontFix, duplicateOf: nil, reason: "by design"), at: "2026-11-03T00:00:00Z", recorded: "2026-11-05T00:00:00Z")
            let low = s.clock("L", .fix, at: "2026-11-06T00:00:00Z")
            let lowClosing = LateEntry(type: "ReportClosed", occurredAt: t("2026-11-03T00:00:00Z"), recordedAt: t("2026-11-05T00:00:00Z"))
            #expect(low.state == .notApplicable && low.lateChanges == (hasDisclosure ? [lowClosing] : []), "\(file): \(low)")
        }
    }

    @Test("two embargo extensions with the same event time each keep their own recorded time")
    func sameTimeExtensions() throws {
        var s = try Scenario("aumos.toml")
        // 90 days from 02-01 → 05-02. Two extensions dated 04-20: to 05-10 recorded late (05-01),
        // then to 05-20 recorded on time. The one that counts last (05-20) was recorded on time,
        // so the clock's note names no late entry.
        try s.submit("E", at: "2026-02-01T00:00:00Z")
        try s.run("E", .acknowledge(assignee: "v"), at: "2026-02-02T00:00:00Z")
        try s.run("E", .extendEmbargo(until: t("2026-05-10T00:00:00Z"), reason: "vendor", reporterAgreed: true), at: "2026-04-20T00:00:00Z", recorded: "2026-05-01T00:00:00Z")
        try s.run("E", .extendEmbargo(until: t("2026-05-20T00:00:00Z"), reason: "distros", reporterAgreed: true), at: "2026-04-20T00:00:00Z")
        var c = s.clock("E", .disclosure, at: "2026-05-05T00:00:00Z")
        #expect(c.dueAt == t("2026-05-20T00:00:00Z") && c.note == "embargo extended to 2026-05-20T00:00:00Z with the reporter's agreement", "\(c.note ?? "")")
        // And the other way round: the last one counted was the late one.
        try s.submit("F", at: "2026-02-01T00:00:00Z")
        try s.run("F", .acknowledge(assignee: "v"), at: "2026-02-02T00:00:00Z")
        try s.run("F", .extendEmbargo(until: t("2026-05-10T00:00:00Z"), reason: "vendor", reporterAgreed: true), at: "2026-04-20T00:00:00Z")
        try s.run("F", .extendEmbargo(until: t("2026-05-20T00:00:00Z"), reason: "distros", reporterAgreed: true), at: "2026-04-20T00:00:00Z", recorded: "2026-05-01T00:00:00Z")
        c = s.clock("F", .disclosure, at: "2026-05-05T00:00:00Z")
        #expect(c.displayNote == "embargo extended to 2026-05-20T00:00:00Z with the reporter's agreement; deadline moved by EmbargoExtended recorded 2026-05-01T00:00:00Z, 11d after the time it gives", "\(c.displayNote ?? "")")
    }

    @Test("a late embargo extension that an on-time one builds on is named, though it is not the last")
    func lateExtensionUnderAnother() throws {
        var s = try Scenario("cert-cc.toml")
        // 45 days from 02-01 → 03-18. On 03-25 an extension dated 03-10 (to 04-15) is written in;
        // then, on time, one to 04-20. Only the backdated one lets the second count.
        try s.submit("C", at: "2026-02-01T00:00:00Z")
        try s.run("C", .acknowledge(assignee: "v"), at: "2026-02-02T00:00:00Z")
        try s.run("C", .extendEmbargo(until: t("2026-04-15T00:00:00Z"), reason: "vendor", reporterAgreed: true), at: "2026-03-10T00:00:00Z", recorded: "2026-03-25T00:00:00Z")
        try s.run("C", .extendEmbargo(until: t("2026-04-20T00:00:00Z"), reason: "again", reporterAgreed: true), at: "2026-04-01T00:00:00Z")
        let c = s.clock("C", .disclosure, at: "2026-04-02T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-04-20T00:00:00Z"))
        #expect(c.lateChanges == [LateEntry(type: "EmbargoExtended", occurredAt: t("2026-03-10T00:00:00Z"), recordedAt: t("2026-03-25T00:00:00Z"))])
    }

    @Test("a backdated closing, or a backdated fix release that moves the disclosure deadline, is named on the clocks it moved")
    func lateClosingAndRelease() throws {
        var s = try Scenario("aixcl.toml")
        // Submitted 03-02 08:00: acknowledge within 72 h, due 03-05 08:00. On 03-06 10:00 a closing
        // dated 03-02 09:00 is written in and the report reopened; acknowledged at 10:05. With the
        // time closed not counted (1 h used, 71 h from the reopening) it reads met, due 03-09 09:00:
        // the clock names the closing.
        try s.submit("A", at: "2026-03-02T08:00:00Z")
        try s.run("A", .close(.informative, duplicateOf: nil, reason: nil), at: "2026-03-02T09:00:00Z", recorded: "2026-03-06T10:00:00Z")
        try s.run("A", .reopen(reason: "closed by mistake"), at: "2026-03-06T10:00:00Z")
        try s.run("A", .acknowledge(assignee: "dev"), at: "2026-03-06T10:05:00Z")
        var c = s.clock("A", .acknowledge, at: "2026-03-07T00:00:00Z")
        #expect(c.state == .met && c.dueAt == t("2026-03-09T09:00:00Z"))
        #expect(c.lateChanges == [LateEntry(type: "ReportClosed", occurredAt: t("2026-03-02T09:00:00Z"), recordedAt: t("2026-03-06T10:00:00Z"))])
        #expect(c.displayNote == "deadline moved by ReportClosed recorded 2026-03-06T10:00:00Z, 4d 1h after the time it gives")
        // Project Zero: submitted 01-05, due 04-05, grace to 04-19. On 04-25 a release dated 04-04
        // (inside the 90 days) is written in: due 30 days after it, 05-04, and named.
        var z = try Scenario("project-zero.toml", edit: automaticGrace)
        try z.accepted("Z", .high, submitted: "2026-01-05T00:00:00Z", acknowledged: "2026-01-06T00:00:00Z", triaged: "2026-01-07T00:00:00Z")
        try z.run("Z", .release(versions: ["2.0"]), at: "2026-04-04T00:00:00Z", recorded: "2026-04-25T00:00:00Z")
        c = z.clock("Z", .disclosure, at: "2026-04-26T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-05-04T00:00:00Z"))
        #expect(c.lateChanges == [LateEntry(type: "FixReleased", occurredAt: t("2026-04-04T00:00:00Z"), recordedAt: t("2026-04-25T00:00:00Z"))])
        // A release dated in the grace period (04-10) is written in on 04-25: due 30 days after the
        // 90-day deadline, 05-05, and named.
        try z.accepted("Y", .high, submitted: "2026-01-05T00:00:00Z", acknowledged: "2026-01-06T00:00:00Z", triaged: "2026-01-07T00:00:00Z")
        try z.run("Y", .release(versions: ["2.0"]), at: "2026-04-10T00:00:00Z", recorded: "2026-04-25T00:00:00Z")
        c = z.clock("Y", .disclosure, at: "2026-04-26T00:00:00Z")
        #expect(c.dueAt == t("2026-05-05T00:00:00Z"))
        #expect(c.lateChanges == [LateEntry(type: "FixReleased", occurredAt: t("2026-04-10T00:00:00Z"), recordedAt: t("2026-04-25T00:00:00Z"))])
        // One dated after the grace too (04-20) moves nothing: still due 04-05, not named.
        try z.accepted("X", .high, submitted: "2026-01-05T00:00:00Z", acknowledged: "2026-01-06T00:00:00Z", triaged: "2026-01-07T00:00:00Z")
        try z.run("X", .release(versions: ["2.0"]), at: "2026-04-20T00:00:00Z", recorded: "2026-04-25T00:00:00Z")
        c = z.clock("X", .disclosure, at: "2026-04-26T00:00:00Z")
        #expect(c.dueAt == t("2026-04-05T00:00:00Z") && c.lateChanges.isEmpty)
    }

    @Test("a hall of fame's year is told in the time zone of the project's policy, as its deadlines are")
    func hallOfFameYearInPolicyZone() throws {
        // A programme in New York (UTC−5 in winter): "N" disclosed 2025-12-31 23:30 there, which is
        // 2026-01-01 04:30 UTC; "M" disclosed 2026-01-01 00:30 there.
        var s = try Scenario("aumos.toml", zone: try ZoneRules(fixedOffset: "-05:00"))
        for (id, disclosed) in [("N", "2026-01-01T04:30:00Z"), ("M", "2026-01-01T05:30:00Z")] {
            try s.accepted(id, .high, submitted: "2025-11-02T09:00:00Z", acknowledged: "2025-11-02T10:00:00Z", triaged: "2025-11-03T12:00:00Z")
            try s.run(id, .startFix(branch: nil), at: "2025-11-04T00:00:00Z")
            try s.run(id, .release(versions: ["1.\(id)"]), at: "2025-12-01T00:00:00Z")
            try s.run(id, .publish(ghsa: nil, cve: nil, url: nil), at: disclosed)
        }
        let now = t("2026-02-01T00:00:00Z")
        #expect(HallOfFame(projection: s.projection, project: s.project, year: 2025, now: now).entries.first?.reports == ["N"])
        #expect(HallOfFame(projection: s.projection, project: s.project, year: 2026, now: now).entries.first?.reports == ["M"])
        #expect(HallOfFame(projection: s.projection, project: s.project, year: nil, now: now).disclosedReports == 2)
    }

    @Test("a fix target missed under an earlier rating stays missed after a re-rating, and after closing")
    func reratingAfterDeadline() throws {
        var s = try Scenario("aumos.toml")
        // Accepted as critical 03-02 12:00: fix within 7 days of acceptance, due 03-09 12:00.
        // Re-rated medium (next release) on 03-12, after that: still breached, 3d 12h late at 03-13.
        try s.accepted("V", .critical, submitted: "2026-03-02T09:00:00Z", acknowledged: "2026-03-02T10:00:00Z", triaged: "2026-03-02T12:00:00Z")
        try s.run("V", .triage(severity: .medium, cvss31: nil, cvss40: nil, cwes: [], component: nil, affected: [], reason: "re-rated"), at: "2026-03-12T00:00:00Z")
        var c = s.clock("V", .fix, at: "2026-03-13T00:00:00Z")
        #expect(c.state == .breached && c.target == "7d" && c.dueAt == t("2026-03-09T12:00:00Z") && c.margin == .zero - hours(84))
        #expect(c.note == "severity critical until re-rated medium on 2026-03-12T00:00:00Z, after its target had passed")
        // Closing it as won't-fix does not clear it either.
        try s.run("V", .close(.wontFix, duplicateOf: nil, reason: nil), at: "2026-03-13T00:00:00Z")
        c = s.clock("V", .fix, at: "2026-03-14T00:00:00Z")
        #expect(c.state == .breached && c.endedAt == t("2026-03-13T00:00:00Z"))
        #expect(c.note == "severity critical until re-rated medium on 2026-03-12T00:00:00Z, after its target had passed; closed as wont-fix after the deadline had passed")
        // Re-rated high (30 days from acceptance, due 04-01 12:00) on 03-12, after the critical
        // deadline, and fixed on 04-10, after the high one too: judged by the first deadline it
        // missed, 03-09 12:00 (32d late), not by the later one (9d late), and as of any
        // instant on either side of the high deadline.
        try s.accepted("H", .critical, submitted: "2026-03-02T09:00:00Z", acknowledged: "2026-03-02T10:00:00Z", triaged: "2026-03-02T12:00:00Z")
        try s.run("H", .triage(severity: .high, cvss31: nil, cvss40: nil, cwes: [], component: nil, affected: [], reason: "re-rated"), at: "2026-03-12T00:00:00Z")
        for at in ["2026-04-01T11:59:59Z", "2026-04-01T12:00:01Z"] {
            c = s.clock("H", .fix, at: at)
            #expect(c.state == .breached && c.target == "7d" && c.dueAt == t("2026-03-09T12:00:00Z") && c.endedAt == nil, "\(at)")
        }
        try s.run("H", .release(versions: ["1.1"]), at: "2026-04-10T12:00:00Z")
        c = s.clock("H", .fix, at: "2026-04-11T00:00:00Z")
        #expect(c.state == .breached && c.target == "7d" && c.dueAt == t("2026-03-09T12:00:00Z") && c.margin == .zero - hours(32 * 24))
        #expect(c.note == "severity critical until re-rated high on 2026-03-12T00:00:00Z, after its target had passed")
        // Re-rated before the deadline: the new target is the one that counts.
        try s.accepted("W", .critical, submitted: "2026-03-02T09:00:00Z", acknowledged: "2026-03-02T10:00:00Z", triaged: "2026-03-02T12:00:00Z")
        try s.run("W", .triage(severity: .medium, cvss31: nil, cvss40: nil, cwes: [], component: nil, affected: [], reason: "re-rated"), at: "2026-03-05T00:00:00Z")
        c = s.clock("W", .fix, at: "2026-03-13T00:00:00Z")
        #expect(c.state == .running && c.target == "next-release")
    }

    @Test("a backdated re-rating or closing that leaves the fix clock not applicable is named on it; a late first rating corrected is not held against the programme")
    func lateChangesToNotApplicable() throws {
        var s = try Scenario("aumos.toml", edit: { $0.replacingOccurrences(of: "low = \"next-release\"", with: "low = \"none\"") })
        // Accepted as critical 03-02 12:00, due 03-09 12:00. On 03-12 a re-rating to low (no fix
        // target) dated 03-05 is written in: the clock is not applicable, and names it.
        try s.accepted("N", .critical, submitted: "2026-03-02T09:00:00Z", acknowledged: "2026-03-02T10:00:00Z", triaged: "2026-03-02T12:00:00Z")
        try s.run("N", .triage(severity: .low, cvss31: nil, cvss40: nil, cwes: [], component: nil, affected: [], reason: "re-rated"), at: "2026-03-05T00:00:00Z", recorded: "2026-03-12T00:00:00Z")
        var c = s.clock("N", .fix, at: "2026-03-13T00:00:00Z")
        #expect(c.state == .notApplicable)
        #expect(c.lateChanges == [LateEntry(type: "SeverityChanged", occurredAt: t("2026-03-05T00:00:00Z"), recordedAt: t("2026-03-12T00:00:00Z"))])
        // A closing dated 03-05 written in on 03-12: not applicable, and named.
        try s.accepted("K", .critical, submitted: "2026-03-02T09:00:00Z", acknowledged: "2026-03-02T10:00:00Z", triaged: "2026-03-02T12:00:00Z")
        try s.run("K", .close(.wontFix, duplicateOf: nil, reason: nil), at: "2026-03-05T00:00:00Z", recorded: "2026-03-12T00:00:00Z")
        c = s.clock("K", .fix, at: "2026-03-13T00:00:00Z")
        #expect(c.state == .notApplicable && c.lateChanges == [LateEntry(type: "ReportClosed", occurredAt: t("2026-03-05T00:00:00Z"), recordedAt: t("2026-03-12T00:00:00Z"))])
        #expect(s.clock("K", .disclosure, at: "2026-03-13T00:00:00Z").lateChanges.map(\.type) == ["ReportClosed"])
        // With the fix clock counted from the report: triaged critical on 03-12, after its 7 days
        // (03-09 09:00) had passed, and corrected to high on 03-13. The critical rating was never
        // in force at its deadline: judged as high (30 days from the report, due 04-01 09:00).
        var r = try Scenario("aumos.toml", edit: { $0.replacingOccurrences(of: "from = \"acceptance\"", with: "from = \"report\"") })
        try r.accepted("L", .critical, submitted: "2026-03-02T09:00:00Z", acknowledged: "2026-03-02T10:00:00Z", triaged: "2026-03-12T00:00:00Z")
        try r.run("L", .triage(severity: .high, cvss31: nil, cvss40: nil, cwes: [], component: nil, affected: [], reason: "corrected"), at: "2026-03-13T00:00:00Z")
        c = r.clock("L", .fix, at: "2026-03-14T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-04-01T09:00:00Z"))
    }

    @Test("a running status-update clock names a backdated closing that restarted its cadence")
    func lateClosingOnStatusUpdates() throws {
        var s = try Scenario("aumos.toml")
        // Acknowledged 03-02 10:00, first update due 03-09 10:00. On 03-12 a closing dated 03-06 is
        // written in and the report reopened: the cadence restarts at 03-12 (due 03-19), the miss
        // is gone (the closing came before the update was due), and the clock names the closing.
        try s.submit("S", at: "2026-03-02T09:00:00Z")
        try s.run("S", .acknowledge(assignee: "m"), at: "2026-03-02T10:00:00Z")
        try s.run("S", .close(.informative, duplicateOf: nil, reason: nil), at: "2026-03-06T00:00:00Z", recorded: "2026-03-12T00:00:00Z")
        try s.run("S", .reopen(reason: "oops"), at: "2026-03-12T00:00:00Z")
        let c = s.clock("S", .statusUpdate, at: "2026-03-13T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-03-19T00:00:00Z") && c.note == nil)
        #expect(c.lateChanges == [LateEntry(type: "ReportClosed", occurredAt: t("2026-03-06T00:00:00Z"), recordedAt: t("2026-03-12T00:00:00Z"))])
    }

    @Test("a silence under a business-day cadence counts every update it skipped")
    func businessDayCadence() throws {
        var s = try Scenario("aumos.toml") { $0.replacingOccurrences(of: "every = \"7d\"", with: "every = \"2bd\"") }
        // Acknowledged Monday 2026-11-02 10:00 UTC: updates due Wed 11-04, Fri 11-06, Tue 11-10 and
        // Thu 11-12 (10:00) pass without one; the first comes Thursday 12:00, 8d 2h after the first was due.
        try s.submit("W", at: "2026-11-02T09:00:00Z")
        try s.run("W", .acknowledge(assignee: "m"), at: "2026-11-02T10:00:00Z")
        try s.run("W", .statusUpdate(summary: "looking"), at: "2026-11-12T12:00:00Z")
        let c = s.clock("W", .statusUpdate, at: "2026-11-13T00:00:00Z")
        // Two business days from the update, over the weekend: Monday 11-16 12:00.
        #expect(c.state == .running && c.dueAt == t("2026-11-16T12:00:00Z"))
        #expect(c.note == "4 updates late or missed (worst 8d 2h late)", "\(String(describing: c.note))")
    }

    @Test("closing and reopening a report does not wipe out a status update it had already missed")
    func reopeningKeepsMissedUpdates() throws {
        var s = try Scenario("aumos.toml")
        // Acknowledged 03-02 10:00: an update every 7 days, the first due 03-09 10:00. None is sent;
        // closed 03-20 09:00 (10d 23h after it was due, and after the next was due on 03-16 10:00
        // too: two missed) and reopened at 09:05.
        try s.submit("U", at: "2026-03-02T09:00:00Z")
        try s.run("U", .acknowledge(assignee: "m"), at: "2026-03-02T10:00:00Z")
        try s.run("U", .close(.informative, duplicateOf: nil, reason: nil), at: "2026-03-20T09:00:00Z")
        try s.run("U", .reopen(reason: "new information"), at: "2026-03-20T09:05:00Z")
        // The cadence restarts at the reopening (next due 03-27 09:05), and the miss is counted.
        var c = s.clock("U", .statusUpdate, at: "2026-03-21T00:00:00Z")
        #expect(c.state == .running && c.dueAt == t("2026-03-27T09:05:00Z"))
        #expect(c.note == "2 updates late or missed (worst 10d 23h late)")
        // An update on time after the reopening, then the investigation ends: breached for the
        // misses, judged by the first deadline missed (03-09 10:00), 16d 14h before it ended.
        try s.run("U", .statusUpdate(summary: "working on it"), at: "2026-03-25T00:00:00Z")
        try s.run("U", .close(.informative, duplicateOf: nil, reason: nil), at: "2026-03-26T00:00:00Z")
        c = s.clock("U", .statusUpdate, at: "2026-03-27T00:00:00Z")
        #expect(c.state == .breached && c.note == "2 updates late or missed (worst 10d 23h late)")
        #expect(c.dueAt == t("2026-03-09T10:00:00Z") && c.endedAt == t("2026-03-26T00:00:00Z") && c.margin == .zero - hours(16 * 24 + 14))
    }
}
