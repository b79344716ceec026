@testable import DocketCore
import Testing

/// Runs commands against an in-memory report the way the CLI does against the log.
struct ReportHarness {
    var projection = Projection()
    let id: String
    var clock = try! Timestamp(rfc3339: "2026-11-02T09:00:00Z")

    /// `recorded`: the submission is folded in as a log holds it, without deciding it (text that
    /// commands now refuse, in a log written before they did).
    init(
        id: String = "r-1", project: String = "demo", reporter: Reporter = Reporter(handle: "ada", name: "Ada L", credit: .named), recorded: Bool = false
    ) throws {
        self.id = id
        let submitted = ReportSubmitted(project: project, title: "Bug", reporter: reporter)
        if recorded { projection.apply(.reportSubmitted(submitted), toReport: id, at: clock) } else { try run(.submit(submitted)) }
    }

    var report: Report? { projection.reports[id] }

    /// Takes a submitted report to disclosed: acknowledged, accepted, fixed in `version` and
    /// published with `cve`.
    mutating func disclose(cve: String, version: String = "1.0.1") throws {
        try run(.acknowledge(assignee: "m"))
        try run(LifecycleTests.triage)
        try run(.startFix(branch: nil))
        try run(.release(versions: [version]))
        try run(.publish(ghsa: nil, cve: cve, url: nil))
    }

    @discardableResult
    mutating func run(_ command: ReportCommand, at time: Timestamp? = nil) throws(DomainError) -> [DomainEvent] {
        let events = try Lifecycle.decide(command, report: report, reportID: id)
        if let time { clock = time } else { clock = clock + .seconds(3600) }
        for e in events { projection.apply(e, toReport: id, at: clock) }
        return events
    }
}

@Suite("Lifecycle")
struct LifecycleTests {
    static let triage = ReportCommand.triage(severity: nil, cvss31: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", cvss40: nil, cwes: ["CWE-89"], component: nil, affected: [], reason: nil)

    @Test("the happy path walks every state to disclosed, then withdrawn")
    func happyPath() throws {
        var h = try ReportHarness()
        #expect(h.report?.state == .submitted)
        try h.run(.acknowledge(assignee: "maria"))
        #expect(h.report?.state == .acknowledged && h.report?.assignee == "maria")
        try h.run(.startTriage)
        #expect(h.report?.state == .triaging)
        try h.run(.requestInfo(question: "version?"))
        #expect(h.report?.state == .needsInfo)
        try h.run(.respond(summary: "1.2"))
        #expect(h.report?.state == .triaging)
        let triaged = try h.run(Self.triage)
        #expect(triaged.map(\.typeName) == ["ReportTriaged"])
        #expect(h.report?.state == .accepted && h.report?.severity == .critical)
        try h.run(.startFix(branch: nil))
        try h.run(.mergeFix(commit: "abc123"))
        #expect(h.report?.state == .fixing)
        try h.run(.release(versions: ["1.2.1"]))
        #expect(h.report?.state == .fixReleased && h.report?.fixedVersions == ["1.2.1"])
        try h.run(.assignCVE("CVE-2026-1234"))
        try h.run(.publish(ghsa: "GHSA-2c4m-59x8-xvhw", cve: nil, url: nil))
        #expect(h.report?.state == .disclosed && h.report?.cve == "CVE-2026-1234")
        try h.run(.withdraw(reason: "not a vulnerability"))
        #expect(h.report?.state == .withdrawn)
        #expect(h.report?.version == 12)
    }

    @Test("the hall of fame credits a person once, however the case of their handle differs between credits and reports")
    func hallOfFameHandles() throws {
        var projection = Projection()
        for (id, handle) in [("r-1", "Ann"), ("r-2", "aNN")] {
            var h = try ReportHarness(id: id, reporter: Reporter(handle: handle, name: "Ann L", credit: .named))
            try h.run(.acknowledge(assignee: "m"))
            try h.run(Self.triage)
            // Credit offered and accepted under the handle as another maintainer typed it.
            try h.run(.offerCredit(person: "ANN", type: .finder))
            try h.run(.acceptCredit(person: "ann", displayName: nil, preference: .named))
            try h.run(.offerCredit(person: "bo", type: .remediationDeveloper))
            try h.run(.acceptCredit(person: "bo", displayName: "Bo", preference: .named))
            try h.run(.startFix(branch: nil))
            try h.run(.mergeFix(commit: "abc123"))
            try h.run(.release(versions: ["1.0.1"]))
            try h.run(.publish(ghsa: id == "r-2" ? "GHSA-2c4m-59x8-xvhw" : nil, cve: "CVE-2026-\(id.suffix(1))000", url: nil))
            projection.reports[id] = try #require(h.report)
        }
        let hof = HallOfFame(projection: projection, project: "demo", year: nil, now: try Timestamp(rfc3339: "2027-01-01T00:00:00Z"))
        #expect(hof.disclosedReports == 2)
        #expect(hof.entries.map(\.credited) == ["Ann L", "Bo"])
        #expect(hof.entries.first?.reports == ["r-1", "r-2"])
        #expect(hof.entries.first?.advisories == ["CVE-2026-1000", "GHSA-2c4m-59x8-xvhw", "CVE-2026-2000"])
        // By the handle of the first report as its reporter wrote it, not as the offer typed it.
        #expect(hof.markdown.contains("- Ann L (@\u{2060}Ann) — finder; CVE-2026-1000, GHSA-2c4m-59x8-xvhw, CVE-2026-2000\n"), "\(hof.markdown)")
    }

    @Test("a report filed under its sender's e-mail address credits them by name without publishing the address")
    func hallOfFameEmailHandles() throws {
        var projection = Projection()
        for (id, handle, name) in [("r-1", "ada.lovelace@example.org", "Ada L"), ("r-2", "bob", "Bob B"), ("r-3", "carol@example.org", nil)] {
            var h = try ReportHarness(id: id, reporter: Reporter(handle: handle, name: name, credit: .named))
            try h.disclose(cve: "CVE-2026-\(id.suffix(1))000")
            projection.reports[id] = try #require(h.report)
        }
        let hof = HallOfFame(projection: projection, project: "demo", year: nil, now: try Timestamp(rfc3339: "2027-01-01T00:00:00Z"))
        #expect(hof.markdown.contains("- Ada L — finder; CVE-2026-1000\n") && !hof.markdown.contains("example\\.org)"), "\(hof.markdown)")
        #expect(hof.markdown.contains("- Bob B (@\u{2060}bob) — finder; CVE-2026-2000\n"), "\(hof.markdown)")
        let credited = hof.json["credited"]?.arrayValue ?? []
        #expect(credited.first?["name"] == "Ada L" && credited.first?["handle"] == nil, "\(credited)")
        #expect(credited.dropFirst().first?["handle"] == "bob")
        // With no name to show, the handle is what the credit shows, address or not: the
        // maintainer is to ask for a name (or the person accept credit with one).
        #expect(credited.last?["name"] == "carol@example.org" && credited.last?["handle"] == "carol@example.org")
        #expect(HallOfFame.isEmailAddress("a@b.c") && !HallOfFame.isEmailAddress("@ab.c") && !HallOfFame.isEmailAddress("a@localhost") && !HallOfFame.isEmailAddress("a@b."))
    }

    @Test("a handle recorded with an @ in front before that was refused is shown with the page's @ alone")
    func hallOfFameLegacyAtHandle() throws {
        var h = try ReportHarness(id: "r-1", reporter: Reporter(handle: "@bob", name: "Bob B", credit: .named), recorded: true)
        try h.disclose(cve: "CVE-2026-1000")
        var projection = Projection()
        projection.reports["r-1"] = try #require(h.report)
        let hof = HallOfFame(projection: projection, project: "demo", year: nil, now: try Timestamp(rfc3339: "2027-01-01T00:00:00Z"))
        #expect(hof.markdown.contains("- Bob B (@\u{2060}bob) — finder; CVE-2026-1000\n"), "\(hof.markdown)")
        #expect(hof.json["credited"]?.arrayValue?.first?["handle"] == "bob")
    }

    @Test("a person named on one report and credited by handle only on another has their name on the first alone")
    func hallOfFamePreferencesPerReport() throws {
        var projection = Projection()
        for (id, credit) in [("r-1", CreditPreference.named), ("r-2", .handle), ("r-3", .named)] {
            var h = try ReportHarness(id: id, reporter: Reporter(handle: "ada", name: "Ada L", credit: credit))
            try h.disclose(cve: "CVE-2026-\(id.suffix(1))000", version: "1.0.\(id.suffix(1))")
            projection.reports[id] = try #require(h.report)
        }
        let hof = HallOfFame(projection: projection, project: "demo", year: nil, now: try Timestamp(rfc3339: "2027-01-01T00:00:00Z"))
        #expect(hof.entries.map(\.credited) == ["Ada L", "ada"])
        #expect(hof.entries.map(\.reports) == [["r-1", "r-3"], ["r-2"]])
        #expect(hof.markdown.contains("- @\u{2060}ada — finder; CVE-2026-2000\n"), "\(hof.markdown)")
    }

    @Test("hall of fame: a name cannot break out of its line; the reporter stays the finder when offered other credit first; a later acceptance keeps the person's choice")
    func hallOfFameCreditsHold() throws {
        let now = try Timestamp(rfc3339: "2027-01-01T00:00:00Z")
        func disclose(_ h: inout ReportHarness, _ cve: String) throws {
            try h.run(.startFix(branch: nil))
            try h.run(.release(versions: ["1.0.1"]))
            try h.run(.publish(ghsa: nil, cve: cve, url: nil))
        }
        // A display name with CR LF, a lone CR and a Unicode line separator: each would end the
        // list item (CommonMark reads CR and CR LF as line breaks) and could start a heading. An
        // escape sequence, a NUL and a right-to-left override are left out. (Commands refuse such
        // names now; a log written before they did can hold one.)
        var a = try ReportHarness(
            id: "r-1", reporter: Reporter(handle: "ann", name: "x\r\n\r\nFAKE NOTICE\r\n===\ry\u{2028}z\u{1B}[2J\u{0}\u{202E}", credit: .named), recorded: true)
        try a.run(.acknowledge(assignee: "m"))
        try a.run(Self.triage)
        try disclose(&a, "CVE-2026-1000")
        var projection = Projection()
        projection.reports["r-1"] = try #require(a.report)
        let markdown = HallOfFame(projection: projection, project: "demo", year: nil, now: now).markdown
        let lines = markdown.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        let entry = try #require(lines.first { $0.contains("(@\u{2060}ann)") }, "\(markdown)")
        #expect(entry.hasPrefix("- x") && entry.contains("FAKE NOTICE") && entry.hasSuffix("(@\u{2060}ann) — finder; CVE-2026-1000"), "\(markdown)")
        #expect(!markdown.contains("\r") && !markdown.contains("\u{2028}"))
        #expect(markdown.unicodeScalars.allSatisfy { !UntrustedText.isDisruptive($0) || $0 == "\n" }, "\(markdown)")
        #expect(!lines.contains { $0.hasPrefix("FAKE") || $0.hasPrefix("===") || $0.hasPrefix("y") }, "\(markdown)")

        // The reporter is offered remediation credit before she answers (b), or after she accepted
        // (c): she stays credited as the finder, and the remediation credit shows once she
        // accepts it.
        var b = try ReportHarness(id: "r-2", reporter: Reporter(handle: "bea", name: "Bea", credit: .named))
        try b.run(.acknowledge(assignee: "m"))
        try b.run(Self.triage)
        try b.run(.offerCredit(person: "bea", type: .remediationDeveloper))
        var c = try ReportHarness(id: "r-3", reporter: Reporter(handle: "bea", name: "Bea", credit: .named))
        try c.run(.acknowledge(assignee: "m"))
        try c.run(Self.triage)
        try c.run(.acceptCredit(person: "bea", displayName: nil, preference: nil))
        try c.run(.offerCredit(person: "bea", type: .remediationDeveloper))
        #expect(b.report?.reporterCredit?.types == [.finder, .remediationDeveloper])
        #expect(c.report?.reporterCredit?.types == [.finder, .remediationDeveloper])
        #expect(b.report?.reporterCredit?.acceptedTypes == [.finder] && c.report?.reporterCredit?.acceptedTypes == [.finder])
        for h in [b, c] {
            var accepting = h
            try accepting.run(.acceptCredit(person: "bea", displayName: nil, preference: nil))
            #expect(accepting.report?.reporterCredit?.acceptedTypes == [.finder, .remediationDeveloper])
        }

        // Cy accepts credit by handle only, under a display name; a maintainer's later acceptance
        // that only corrects the name keeps her choice (it made her named before), and one with no
        // name keeps the name she gave.
        var d = try ReportHarness(id: "r-4", reporter: Reporter(handle: "cy", name: "Cy", credit: .named))
        try d.run(.acknowledge(assignee: "m"))
        try d.run(Self.triage)
        try d.run(.acceptCredit(person: "cy", displayName: "C. Y.", preference: .handle))
        try d.run(.acceptCredit(person: "cy", displayName: "Cy Young", preference: nil))
        #expect(d.report?.credit(of: "cy")?.preference == .handle && d.report?.credit(of: "cy")?.displayName == "Cy Young")
        try d.run(.acceptCredit(person: "cy", displayName: nil, preference: .named))
        #expect(d.report?.credit(of: "cy")?.preference == .named && d.report?.credit(of: "cy")?.displayName == "Cy Young")
        // Someone else offered credit, who accepted by handle: the same.
        try d.run(.offerCredit(person: "dee", type: .analyst))
        try d.run(.acceptCredit(person: "dee", displayName: nil, preference: .handle))
        try d.run(.acceptCredit(person: "dee", displayName: "Dee", preference: nil))
        #expect(d.report?.credit(of: "dee")?.preference == .handle && d.report?.credit(of: "dee")?.displayName == "Dee")
        // Offered more after she accepted: not shown until she accepts that too.
        try d.run(.offerCredit(person: "dee", type: .remediationReviewer))
        try disclose(&d, "CVE-2026-4000")
        projection.reports["r-4"] = try #require(d.report)
        let hall = HallOfFame(projection: projection, project: "demo", year: nil, now: now)
        #expect(hall.entries.map(\.credited).suffix(2) == ["Cy Young", "dee"], "\(hall.entries)")
        #expect(hall.entries.last?.types == [.analyst], "\(hall.entries)")
        try d.run(.acceptCredit(person: "dee", displayName: nil, preference: nil))
        projection.reports["r-4"] = try #require(d.report)
        #expect(HallOfFame(projection: projection, project: "demo", year: nil, now: now).entries.last?.types == [.analyst, .remediationReviewer])
        // Offered a type she does not want, she declines: it goes with the rest, and opting in
        // again later covers what she had accepted, not the type she declined.
        try d.run(.offerCredit(person: "dee", type: .sponsor))
        try d.run(.declineCredit(person: "dee"))
        #expect(d.report?.credit(of: "dee")?.types == [.analyst, .remediationReviewer])
        #expect(throws: DomainError.self) { try d.run(.offerCredit(person: "dee", type: .sponsor)) }
        try d.run(.acceptCredit(person: "dee", displayName: nil, preference: .handle))
        #expect(d.report?.credit(of: "dee")?.acceptedTypes == [.analyst, .remediationReviewer])
    }

    @Test("hall of fame Markdown: a name or handle shaped like a URL, an address, an entity, math, an emoji code or an issue reference stays text on GitHub, also behind combining marks; leading spaces make no code block; anonymous credits are counted per report")
    func hallOfFameAutolinks() throws {
        let now = try Timestamp(rfc3339: "2027-01-01T00:00:00Z")
        var projection = Projection()
        let people: [(String, String?, CreditPreference)] = [
            ("http://2130706433/h", "support@evil.example", .named), ("eve", "www.evil.com &lt;b&gt; $x$ :smile:", .named),
            ("ivy", "\u{202E}    Indented", .named), ("cy", "*\u{301}x*\u{301} www.\u{FE0F}evil.\u{FE0F}com", .named),
            ("dave", nil, .anonymous), ("DAVE", nil, .anonymous), ("hana", "fixes #1234, see owner/repo#5", .named),
            ("kim", "#\u{FE0F}\u{20E3} fan", .named), ("lee", "Effaced of commit deadbeefcafe1234, cafe12, gh-42", .named),
            ("max", "GH-7 abcdef1\u{FE0F}\u{20E3} ab\u{301}cdef1 deadbeefcafe", .named),
        ]
        for (i, (handle, name, credit)) in people.enumerated() {
            var h = try ReportHarness(id: "r-\(i)", reporter: Reporter(handle: handle, name: name, credit: credit), recorded: true)
            try h.run(.acknowledge(assignee: "m"))
            try h.run(Self.triage)
            try h.run(.startFix(branch: nil))
            try h.run(.release(versions: ["1.0.\(i)"]))
            try h.run(.publish(ghsa: nil, cve: nil, url: nil))
            projection.reports["r-\(i)"] = try #require(h.report)
        }
        let hall = HallOfFame(projection: projection, project: "demo", year: nil, now: now)
        let md = hall.markdown
        let wj = "\u{2060}"
        // Every ASCII punctuation mark escaped; a WORD JOINER after each @ and :, so GFM links no
        // address and GitHub swaps in no emoji; no live entity, math or `www.`.
        #expect(md.contains("- support\\@\(wj)evil\\.example (@\(wj)http\\:\(wj)\\/\\/213070\(wj)6433\\/h) — finder\n"), "\(md)")
        #expect(md.contains("- www\\.evil\\.com \\&lt\\;b\\&gt\\; \\$x\\$ \\:\(wj)smile\\:\(wj) (@\(wj)eve) — finder\n"), "\(md)")
        // Nor an issue or pull request reference, pasted into release notes or an issue.
        #expect(md.contains("- fixes \\#\(wj)1234\\, see owner\\/repo\\#\(wj)5 (@\(wj)hana) — finder\n"), "\(md)")
        // Nor a commit (7 hex digits or more: cut into pieces of 6) or GH-42; six digits stay whole.
        #expect(md.contains("- Efface\(wj)d of commit deadbe\(wj)efcafe\(wj)1234\\, cafe12\\, gh\\-\(wj)42 (@\(wj)lee) — finder\n"), "\(md)")
        // A digit with a keycap or a mark on it is still one of the run; a run of exactly twelve
        // ends without a joiner, as does the text.
        #expect(md.contains("- GH\\-\(wj)7 abcdef\(wj)1\u{FE0F}\u{20E3} ab\u{301}cdef\(wj)1 deadbe\(wj)efcafe (@\(wj)max) — finder\n"), "\(md)")
        // After a keycap, not inside it.
        #expect(md.contains("- \\#\u{FE0F}\u{20E3}\(wj) fan (@\(wj)kim) — finder\n"), "\(md)")
        // The override dropped first, then the spaces trimmed.
        #expect(md.contains("- Indented (@\(wj)ivy) — finder\n"), "\(md)")
        // A combining mark or a variation selector after punctuation does not hide it from escaping.
        #expect(md.contains("- \\*\u{301}x\\*\u{301} www\\.\u{FE0F}evil\\.\u{FE0F}com (@\(wj)cy) — finder\n"), "\(md)")
        #expect(!md.contains("http:") && !md.contains("www.") && !md.contains("&lt;b&gt;") && !md.contains(":smile:"))
        // Two anonymous credits, though the handles are one person's: counting people would link reports.
        #expect(hall.anonymous == 2 && md.contains("- and 2 credits to researchers who remain anonymous\n"), "\(md)")
        // The JSON keeps the names as given.
        #expect(hall.json["credited"]?.arrayValue?.first?["name"] == "support@evil.example")
        // Only anonymous credits: the line stands alone.
        var alone = Projection()
        alone.reports["r-4"] = projection.reports["r-4"]
        #expect(HallOfFame(projection: alone, project: "demo", year: nil, now: now).markdown.hasSuffix("\n\n- 1 credit to researchers who remain anonymous\n"))
    }

    @Test(
        "text that would change how a terminal, a log or a view shows what surrounds it is refused, naming the field and the character",
        arguments: [
            (ReportCommand.submit(ReportSubmitted(project: "demo", title: "ok\u{1B}]0;pwned\u{7}", reporter: Reporter(handle: "eve"))), "title", "U+001B, character 3"),
            (.submit(ReportSubmitted(project: "demo", title: "ok", reporter: Reporter(handle: "eve", name: "Eve\nFAKE-ROW"))), "reporter.name", "U+000A"),
            (.submit(ReportSubmitted(project: "demo", title: "a\u{0}b", reporter: Reporter(handle: "eve"))), "title", "U+0000"),
            (.submit(ReportSubmitted(project: "demo", title: "evil\u{202E}txt.exe", reporter: Reporter(handle: "eve"))), "title", "U+202E"),
            (.note("line one\r\nline two"), "text", "U+000D"),
            (.acknowledge(assignee: "maria\t"), "assignee", "U+0009"),
            (.release(versions: ["1.0", "2.0\u{85}"]), "versions", "U+0085"),
        ] as [(ReportCommand, String, String)])
    func controlCharacters(command: ReportCommand, field: String, detail: String) throws {
        var h = try ReportHarness(id: "r-9")
        if case .release = command {
            try h.run(.acknowledge(assignee: "m"))
            try h.run(Self.triage)
        }
        let before = h.report
        #expect {
            if case .submit = command { _ = try Lifecycle.decide(command, report: nil, reportID: "r-10") } else { try h.run(command) }
        } throws: { error in
            let message = (error as? DomainError)?.message ?? ""
            return message.hasPrefix("\(field) holds a control character (\(detail)") && message.contains("printable characters only")
        }
        #expect(h.report == before)
    }

    @Test("a handle or a name with an invisible character in it, or a handle with white space at either end, is refused (one person could pass for another); a name may hold the joiners scripts and emoji need")
    func invisibleCharactersInIdentities() throws {
        func submit(handle: String = "eve", name: String? = nil) throws -> [DomainEvent] {
            try Lifecycle.decide(.submit(ReportSubmitted(project: "demo", title: "t", reporter: Reporter(handle: handle, name: name))), report: nil, reportID: "r-10")
        }
        for (invisible, code) in [("\u{200B}", "U+200B"), ("\u{FEFF}", "U+FEFF"), ("\u{061C}", "U+061C"), ("\u{200E}", "U+200E"), ("\u{00AD}", "U+00AD"), ("\u{2060}", "U+2060")] {
            #expect(throws: DomainError.self) { _ = try submit(handle: "a" + invisible + "da") }
            let named = #expect(throws: DomainError.self) { _ = try submit(name: "Ada" + invisible) }
            #expect(named?.message.hasPrefix("reporter.name holds an invisible character (\(code), character 4): a name shows every character") == true, "\(String(describing: named))")
        }
        let zwj = #expect(throws: DomainError.self) { _ = try submit(handle: "a\u{200D}da") }
        #expect(zwj?.message.hasPrefix("reporter.handle holds an invisible character (U+200D, character 2): a handle") == true, "\(String(describing: zwj))")
        var h = try ReportHarness(id: "r-9")
        try h.run(.acknowledge(assignee: "m"))
        try h.run(Self.triage)
        #expect(throws: DomainError.self) { try h.run(.offerCredit(person: "bo\u{200B}b", type: .analyst)) }
        // White space at either end: credits tell handles apart without it, a reporter's token
        // sees the reports of its handle exactly, so " bob" would be bob to a hall of fame only.
        let spaced = #expect(throws: DomainError.self) { _ = try submit(handle: "ada ") }
        #expect(spaced?.message == #"reporter.handle "ada " begins or ends with white space, which handles are told apart without: it would pass for "ada""#)
        for person in [" bob", "bob\t"] {
            #expect(throws: DomainError.self) { try h.run(.offerCredit(person: person, type: .analyst)) }
        }
        #expect(throws: DomainError.self) { try h.run(.assign(assignee: " m")) }
        // An @ in front: credits tell handles apart without it too, so "@bob" would dodge bob's
        // decline; told how to write it. A contact may begin with one (a chat handle).
        let at = #expect(throws: DomainError.self) { try h.run(.offerCredit(person: "@bob", type: .analyst)) }
        #expect(at?.message == #"person "@bob" begins with @, which handles are told apart without (the hall of fame writes its own): give it as "bob""#)
        #expect(throws: DomainError.self) { _ = try submit(handle: "@@ada") }
        let fullwidth = #expect(throws: DomainError.self) { _ = try submit(handle: "＠ada") }
        #expect(fullwidth?.message == #"reporter.handle "＠ada" begins with @, which handles are told apart without (the hall of fame writes its own): give it as "ada""#)
        #expect(throws: DomainError.self) { try h.run(.assign(assignee: "@m")) }
        _ = try Lifecycle.decide(
            .submit(ReportSubmitted(project: "demo", title: "t", reporter: Reporter(handle: "ada", contact: "@ada@infosec.exchange"))), report: nil, reportID: "r-12")
        // A token named before the rule: its holder is named as the token was.
        let legacy = ReportCommand.submit(ReportSubmitted(project: "demo", title: "t", reporter: Reporter(handle: "ada ")))
        _ = try Lifecycle.decide(legacy, report: nil, reportID: "r-11", reporter: true, actor: "ada ")
        // Names are the node's to judge, with the report and the actor: the CLI's own check of
        // the arguments leaves them be.
        try Lifecycle.checkArguments(legacy, reportID: "r-11")
        try Lifecycle.checkArguments(.offerCredit(person: "bo\u{200B}b", type: .analyst), reportID: "r-9")
        try h.run(.offerCredit(person: "bob", type: .analyst))
        #expect(throws: DomainError.self) { try h.run(.acceptCredit(person: "bob", displayName: "B\u{200F}ob", preference: .named)) }
        // A family emoji and a Persian name are written with joiners.
        _ = try submit(name: "Ada \u{1F469}\u{200D}\u{1F4BB}")
        _ = try submit(name: "\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0647}\u{0645}")
        try h.run(.acceptCredit(person: "bob", displayName: "Bob \u{1F469}\u{200D}\u{1F52C}", preference: .named))
        // A subdivision flag is spelt with tag characters after a black flag; alone they show as nothing.
        _ = try submit(name: "Ada \u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}")
        #expect(throws: DomainError.self) { _ = try submit(name: "Ada\u{E0067}") }
        #expect(throws: DomainError.self) { _ = try submit(name: "\u{1F3F4}\u{E0067}\u{E007F}x\u{E0067}") }
        // A handle the log already holds with one (recorded before this rule) is still named.
        var old = Projection()
        old.apply(.reportSubmitted(ReportSubmitted(project: "demo", title: "t", reporter: Reporter(handle: "zo\u{200B}e"))), toReport: "r-old", at: Timestamp(microseconds: 1_700_000_000_000_000))
        let accepted = try Lifecycle.decide(.acceptCredit(person: "zo\u{200B}e", displayName: nil, preference: .handle), report: old.reports["r-old"], reportID: "r-old")
        #expect(accepted.count == 1)
        #expect(throws: DomainError.self) { _ = try Lifecycle.decide(.offerCredit(person: "an\u{200B}n", type: .analyst), report: old.reports["r-old"], reportID: "r-old") }
    }

    @Test("text given empty is refused, naming the field: an optional one is left out instead")
    func emptyText() throws {
        var h = try ReportHarness(id: "r-9")
        #expect(throws: DomainError(.invalidCommand, "reporter.name must not be empty (leave it out instead)")) {
            _ = try Lifecycle.decide(.submit(ReportSubmitted(project: "demo", title: "t", reporter: Reporter(handle: "eve", name: " "))), report: nil, reportID: "r-10")
        }
        #expect(throws: DomainError(.invalidCommand, "source must not be empty (leave it out instead)")) { try h.run(.exploited(source: "")) }
        #expect(h.report?.exploitedAt == nil)
        // Nothing but invisible characters shows as a blank line: empty too.
        for blank in ["\u{200B}", "\u{2800}\u{2800}", "\u{0301}", " \u{3164} ", "\u{FEFF}\u{200D}"] {
            #expect(throws: DomainError(.invalidCommand, "reporter.name must not be empty (leave it out instead); it holds only invisible characters")) {
                _ = try Lifecycle.decide(.submit(ReportSubmitted(project: "demo", title: "t", reporter: Reporter(handle: "eve", name: blank))), report: nil, reportID: "r-10")
            }
            #expect(throws: DomainError(.invalidCommand, "title must not be empty (it holds only invisible characters)")) {
                _ = try Lifecycle.decide(.submit(ReportSubmitted(project: "demo", title: blank, reporter: Reporter(handle: "eve"))), report: nil, reportID: "r-10")
            }
        }
        // Marks on a letter, emoji and scripts without spaces are text.
        for text in ["e\u{0301}", "🐛", "漢字", "\u{0627}\u{0644}"] { #expect(!UntrustedText.isBlank(text), "\(text)") }
    }

    @Test("single-line text is bounded (a handle by 254 characters, an address by 2,048, anything else by 1,000), naming the field; prose only by the event size")
    func lineLimits() throws {
        func submit(title: String = "t", handle: String = "eve", name: String? = nil) throws -> [DomainEvent] {
            try Lifecycle.decide(.submit(ReportSubmitted(project: "demo", title: title, reporter: Reporter(handle: handle, name: name))), report: nil, reportID: "r-10")
        }
        _ = try submit(title: String(repeating: "é", count: 1000), handle: String(repeating: "h", count: 254))
        // One character of a thousand combining marks is a thousand and one code points.
        #expect(throws: DomainError(.invalidCommand, "title is 1001 characters long; it may hold at most 1000 (longer text belongs in a note)")) {
            _ = try submit(title: "e" + String(repeating: "\u{0301}", count: 1000))
        }
        #expect(throws: DomainError(.invalidCommand, "title is 1001 characters long; it may hold at most 1000 (longer text belongs in a note)")) {
            _ = try submit(title: String(repeating: "é", count: 1001))
        }
        #expect(throws: DomainError(.invalidCommand, "reporter.handle is 255 characters long; it may hold at most 254")) {
            _ = try submit(handle: String(repeating: "h", count: 255))
        }
        #expect(throws: DomainError(.invalidCommand, "reporter.name is 1001 characters long; it may hold at most 1000 (longer text belongs in a note)")) {
            _ = try submit(name: String(repeating: "n", count: 1001))
        }
        var h = try ReportHarness(id: "r-9")
        #expect(throws: DomainError(.invalidCommand, "assignee is 300 characters long; it may hold at most 254")) { try h.run(.acknowledge(assignee: String(repeating: "m", count: 300))) }
        try h.run(.acknowledge(assignee: "m"))
        #expect(throws: DomainError(.invalidCommand, "person is 255 characters long; it may hold at most 254")) {
            try h.run(.offerCredit(person: String(repeating: "p", count: 255), type: .finder))
        }
        #expect(throws: DomainError(.invalidCommand, "versions is 1001 characters long; it may hold at most 1000 (longer text belongs in a note)")) {
            try h.run(Self.triage)
            try h.run(.release(versions: ["1.0", String(repeating: "9", count: 1001)]))
        }
        try h.run(.publish(ghsa: nil, cve: nil, url: "https://example.org/" + String(repeating: "a", count: 1500)))
        try h.run(.note(String(repeating: "Steps to reproduce. ", count: 1000)))
        #expect(h.report?.notes == 1 && h.report?.fixedVersions.isEmpty == true)
    }

    @Test("prose fields take line breaks and tabs; other text is displayed with its control characters escaped")
    func proseAndDisplay() throws {
        var h = try ReportHarness(id: "r-9")
        try h.run(.note("Steps:\n\t1. run it\n\t2. see ünïcödé — and emoji 🐛"))
        try h.run(.acknowledge(assignee: "m"))
        try h.run(.startTriage)
        try h.run(.requestInfo(question: "Which version?\nAnd which OS?"))
        #expect(h.report?.notes == 1 && h.report?.state == .needsInfo)
        #expect(UntrustedText.displayable("plain title") == "plain title")
        #expect(UntrustedText.displayable("a\u{1B}[2Jb\nc\td\re\u{202E}f") == #"a\u{1B}[2Jb\nc\td\re\u{202E}f"#)
        #expect(UntrustedText.displayable("café 🐛") == "café 🐛")
        #expect(UntrustedText.firstDisruptive(in: "naïve\u{2066}x", multiLine: true)?.position == 6)
        #expect(UntrustedText.name("\u{7}") == "U+0007" && UntrustedText.name("\u{202E}") == "U+202E")
    }

    @Test("text with more than sixteen combining marks stacked on one character is refused (\"Zalgo\" runs over the lines around it), joiners and invisible characters between them or not; scripts' stacked diacritics are taken; text from before is shown with sixteen")
    func stackedMarks() throws {
        let zalgo = "Z" + String(repeating: "\u{0336}\u{0337}", count: 10)
        let capped = "Z" + String(repeating: "\u{0336}\u{0337}", count: 8)
        func submit(title: String = "t", name: String? = nil) throws {
            _ = try Lifecycle.decide(.submit(ReportSubmitted(project: "demo", title: title, reporter: Reporter(handle: "eve", name: name))), report: nil, reportID: "r-10")
        }
        let titled = #expect(throws: DomainError.self) { try submit(title: "a " + zalgo) }
        #expect(
            titled?.message == "title has 20 combining marks stacked on one character (character 3); at most 16 are accepted, as more run over the lines around it when shown",
            "\(String(describing: titled))")
        let named = #expect(throws: DomainError.self) { try submit(name: zalgo) }
        #expect(named?.message.hasPrefix("reporter.name has 20 combining marks stacked on one character (character 1)") == true, "\(String(describing: named))")
        // Split by joiners or zero-width spaces, the marks are still drawn one over the other.
        for separator in ["\u{200D}", "\u{200C}", "\u{200B}", "\u{2060}"] {
            let split = "x" + String(repeating: String(repeating: "\u{0301}", count: 6) + separator, count: 3)
            let refused = #expect(throws: DomainError.self) { try submit(title: split) }
            #expect(refused?.message.hasPrefix("title has 18 combining marks stacked on one character (character 1)") == true, "\(String(describing: refused))")
        }
        #expect(UntrustedText.firstStack(in: "ok " + String(repeating: "\u{0301}", count: 17))?.position == 3, "marks with nothing under them stack on the space")
        // Counted to the end of the stack, past the limit.
        let long = "x" + String(repeating: String(repeating: "\u{0301}", count: 10) + "\u{200D}", count: 3) + "y"
        #expect(UntrustedText.firstStack(in: long).map { [$0.position, $0.marks] } == [1, 30])
        var h = try ReportHarness(id: "r-9")
        let noted = #expect(throws: DomainError.self) { try h.run(.note("see\n" + zalgo)) }
        #expect(noted?.message.hasPrefix("text has 20 combining marks stacked on one character (character 5)") == true, "\(String(describing: noted))")
        #expect(h.report?.notes == 0)
        // Taken: Vietnamese written decomposed, pointed Hebrew with cantillation, Devanagari,
        // Thai, the Tibetan Kalachakra monogram (ten marks on one letter), a keycap emoji, and
        // exactly sixteen marks.
        let texts = [
            "Nguye\u{0302}\u{0303}n", "בְּרֵאשִׁ֖ית", "וַיֹּ֥אמֶר", "क्षत्रिय", "น้ำ", "ཧྐྵྨླྭྲྱཱཾྂ", "1\u{FE0F}\u{20E3}", "e" + String(repeating: "\u{0301}", count: 16),
        ]
        for text in texts {
            try submit(title: text, name: text)
            #expect(UntrustedText.displayable(text) == text)
        }
        // A log from before holds more: a terminal and a hall of fame show sixteen.
        #expect(UntrustedText.displayable(zalgo + "!") == capped + "!")
        var a = try ReportHarness(id: "r-1", reporter: Reporter(handle: "ann", name: zalgo, credit: .named), recorded: true)
        try a.run(.acknowledge(assignee: "m"))
        try a.run(Self.triage)
        try a.run(.startFix(branch: nil))
        try a.run(.release(versions: ["1.0.1"]))
        try a.run(.publish(ghsa: nil, cve: "CVE-2026-1000", url: nil))
        // Her name as the log holds it may be given again (as a display name an acceptance
        // carries forward is), and only hers.
        try a.run(.acceptCredit(person: "ann", displayName: zalgo, preference: .named))
        #expect(throws: DomainError.self) { try a.run(.acceptCredit(person: "ann", displayName: zalgo + "\u{0301}", preference: .named)) }
        var projection = Projection()
        projection.reports["r-1"] = try #require(a.report)
        let markdown = HallOfFame(projection: projection, project: "demo", year: nil, now: try Timestamp(rfc3339: "2027-01-01T00:00:00Z")).markdown
        #expect(markdown.contains("- \(capped) (@\u{2060}ann) — finder; CVE-2026-1000\n"), "\(markdown)")
    }

    @Test("a report waiting on its reporter can be accepted without the answer (DESIGN §2: needs-info → accepted); the wait ends at the triage")
    func triageWhileWaiting() throws {
        var h = try ReportHarness()
        try h.run(.acknowledge(assignee: "m"))
        try h.run(.requestInfo(question: "which version?"))
        #expect(h.report?.state == .needsInfo && h.report?.waits.last?.end == nil)
        try h.run(Self.triage)
        #expect(h.report?.state == .accepted && h.report?.severity == .critical)
        #expect(h.report?.waits.count == 1 && h.report?.waits.last?.end == h.clock && h.report?.waits.last?.endedByClosing == false)
        // The answer that comes after is no longer awaited.
        let late = #expect(throws: DomainError.self) { try h.run(.respond(summary: "1.2")) }
        #expect(late?.code == .illegalTransition)
    }

    @Test("re-triaging an accepted report is a severity change")
    func severityChange() throws {
        var h = try ReportHarness()
        try h.run(.acknowledge(assignee: "m"))
        try h.run(Self.triage)
        let local = "CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:N/A:N"  // 4.7
        let changed = try h.run(.triage(severity: nil, cvss31: local, cvss40: nil, cwes: [], component: nil, affected: [], reason: "needs local access"))
        #expect(changed.map(\.typeName) == ["SeverityChanged"])
        #expect(h.report?.severity == .medium && h.report?.cvss31 == local && h.report?.state == .accepted)
        let dropped = #expect(throws: DomainError.self) {
            try h.run(.triage(severity: .high, cvss31: nil, cvss40: nil, cwes: ["CWE-79"], component: nil, affected: [], reason: nil))
        }
        #expect(dropped?.message.contains("already triaged") == true)
    }

    @Test("a command that would change nothing is refused: the same assignee, severity, CVE, disclosure date, commit, released versions, credit offer or acceptance")
    func noChange() throws {
        var h = try ReportHarness()
        try h.run(.acknowledge(assignee: "maria"))
        try h.run(Self.triage)
        let date = try Timestamp(rfc3339: "2027-01-15T00:00:00Z")
        try h.run(.assignCVE("CVE-2026-12345"))
        try h.run(.scheduleDisclosure(date))
        try h.run(.startFix(branch: nil))
        try h.run(.mergeFix(commit: "abc123"))
        try h.run(.release(versions: ["1.2.3", "1.1.9"]))
        try h.run(.offerCredit(person: "carol", type: .analyst))
        try h.run(.acceptCredit(person: "carol", displayName: "Carol C", preference: nil))
        let version = h.report?.version
        let commands: [(ReportCommand, String)] = [
            (.assign(assignee: "maria"), "already assigned to maria"),
            (.assign(assignee: " Maria "), "already assigned to maria: nothing"),
            (.triage(severity: nil, cvss31: "CVSS:3.1/C:H/I:H/A:H/AV:N/AC:L/PR:N/UI:N/S:U/E:X", cvss40: nil, cwes: [], component: nil, affected: [], reason: "reordered"),
             "already assessed critical with these vectors"),
            (.triage(severity: .critical, cvss31: nil, cvss40: nil, cwes: [], component: nil, affected: [], reason: "again"), "already assessed critical"),
            (.assignCVE("CVE-2026-12345"), "already assigned CVE-2026-12345"),
            (.scheduleDisclosure(date), "already scheduled for"),
            (.mergeFix(commit: "abc123"), "already records commit abc123"),
            (.release(versions: ["1.2.3"]), "already records the release of version 1.2.3"),
            (.release(versions: ["1.1.9", "1.2.3"]), "already records the release of versions 1.1.9, 1.2.3"),
            (.offerCredit(person: "carol", type: .analyst), "carol was already offered credit as ANALYST on report r-1 (accepted)"),
            (.offerCredit(person: "Carol", type: .analyst), "already offered credit as ANALYST"),
            (.acceptCredit(person: "carol", displayName: nil, preference: nil), "carol already accepted credit on report r-1 as this records it"),
            (.acceptCredit(person: "carol", displayName: "Carol C", preference: .named), "already accepted credit"),
        ]
        for (command, message) in commands {
            let refused = #expect(throws: DomainError.self) { try h.run(command) }
            #expect(refused?.message.contains(message) == true && refused?.message.contains("nothing to record") == true, "\(String(describing: refused))")
        }
        #expect(h.report?.version == version)
        // A change is recorded: another commit or version, another credit type, another name or
        // preference, and an acceptance that takes a type offered since.
        try h.run(.mergeFix(commit: "def456"))
        try h.run(.release(versions: ["1.2.3", "1.2.4"]))
        try h.run(.acceptCredit(person: "carol", displayName: "Carol Chen", preference: nil))
        try h.run(.acceptCredit(person: "carol", displayName: nil, preference: .handle))
        try h.run(.offerCredit(person: "carol", type: .remediationReviewer))
        try h.run(.acceptCredit(person: "carol", displayName: nil, preference: nil))
        #expect(h.report?.credit(of: "carol")?.acceptedTypes == [.analyst, .remediationReviewer])
        #expect(h.report?.commits == ["abc123", "def456"] && h.report?.fixedVersions == ["1.2.3", "1.1.9", "1.2.4"])
        try h.run(.assign(assignee: "lee"))
        try h.run(.triage(severity: .high, cvss31: "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H", cvss40: nil, cwes: [], component: nil, affected: [], reason: "mitigated"))
        #expect(h.report?.assignee == "lee" && h.report?.severity == .high)
    }

    @Test("a command whose arguments are refused on a report whose state allows none of its events is told the state, not advice on the arguments")
    func stateBeforeArguments() throws {
        var h = try ReportHarness()
        try h.run(.acknowledge(assignee: "maria"))
        try h.run(.close(.spam, duplicateOf: nil, reason: nil))
        // A reason on a first triage is refused, but a closed report takes no triage at all.
        let triage = #expect(throws: DomainError.self) {
            try h.run(.triage(severity: .low, cvss31: nil, cvss40: nil, cwes: [], component: nil, affected: [], reason: "x"))
        }
        #expect(triage?.code == .illegalTransition && triage?.message.hasPrefix("ReportTriaged is not allowed on report r-1 in state closed; allowed: ") == true, "\(String(describing: triage))")
        // A release with no version, likewise.
        let release = #expect(throws: DomainError.self) { try h.run(.release(versions: [])) }
        #expect(release?.code == .illegalTransition, "\(String(describing: release))")
        // Where the state allows the event (reopened into triage), the arguments are what is refused.
        try h.run(.reopen(reason: nil))
        #expect(h.report?.state == .triaging)
        let reason = #expect(throws: DomainError.self) {
            try h.run(.triage(severity: .low, cvss31: nil, cvss40: nil, cwes: [], component: nil, affected: [], reason: "x"))
        }
        #expect(reason?.code == .invalidCommand, "\(String(describing: reason))")
    }

    @Test("a commit recorded before a closing and reopening is recorded again when it starts the fix work again")
    func commitAfterReopening() throws {
        var h = try ReportHarness()
        try h.run(.acknowledge(assignee: "maria"))
        try h.run(Self.triage)
        try h.run(.mergeFix(commit: "abc123"))
        try h.run(.close(.wontFix, duplicateOf: nil, reason: nil))
        try h.run(.reopen(reason: "reconsidered"))
        try h.run(.triage(severity: nil, cvss31: "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H", cvss40: nil, cwes: [], component: nil, affected: [], reason: nil))
        #expect(h.report?.state == .accepted)
        try h.run(.mergeFix(commit: "abc123"))
        #expect(h.report?.state == .fixing)
        // Once fixing, the same commit again changes nothing.
        let refused = #expect(throws: DomainError.self) { try h.run(.mergeFix(commit: "abc123")) }
        #expect(refused?.message.contains("already records commit abc123: nothing to record") == true)
    }

    @Test("a release names at least one version, none empty, none twice")
    func releaseVersions() throws {
        var h = try ReportHarness()
        try h.run(.acknowledge(assignee: "maria"))
        try h.run(Self.triage)
        for (versions, says) in [([], "name at least one released version (--version 1.4.2)"), (["1.0", ""], "a released version must not be empty"), (["1.0", "1.1", "1.0"], "version 1.0 is given twice")] {
            let error = #expect(throws: DomainError.self) { try h.run(.release(versions: versions)) }
            #expect(error?.code == .invalidCommand && error?.message == says, "\(versions): \(error?.message ?? "")")
        }
        #expect(h.report?.state == .accepted)
        // Nor is an affected version or a CWE given twice, on submission or at triage.
        #expect(throws: DomainError(.invalidCommand, "affected version < 1.2 is given twice")) {
            _ = try Lifecycle.decide(.submit(ReportSubmitted(project: "demo", title: "t", reporter: Reporter(handle: "eve"), affected: ["< 1.2", "< 1.2"])), report: nil, reportID: "r-10")
        }
        var g = try ReportHarness(id: "r-11")
        try g.run(.acknowledge(assignee: "maria"))
        #expect(throws: DomainError(.invalidCommand, "CWE CWE-79 is given twice")) {
            try g.run(.triage(severity: .high, cvss31: nil, cvss40: nil, cwes: ["CWE-79", "CWE-79"], component: nil, affected: [], reason: nil))
        }
    }

    @Test("a disclosed report leaves that state only by a withdrawal: fix work, a wont-fix closing and its reopening keep it disclosed")
    func disclosedStays() throws {
        for type in Lifecycle.allowedEvents(in: .disclosed) {
            // `target` decides by the case alone; a sample of each event type stands for it.
            let sample = try #require(Self.samples[type], "no sample of \(type)")
            #expect(Lifecycle.target(of: sample, from: .disclosed, acknowledged: true) == (type == "AdvisoryWithdrawn" ? .withdrawn : nil), "\(type)")
        }
        var h = try ReportHarness()
        try h.run(.acknowledge(assignee: "maria"))
        try h.run(Self.triage)
        try h.run(.publish(ghsa: nil, cve: nil, url: nil))
        try h.run(.close(.wontFix, duplicateOf: nil, reason: "feature removed"))
        #expect(h.report?.state == .disclosed && h.report?.resolution == .wontFix && h.report?.closures.isEmpty == true)
        try h.run(.reopen(reason: nil))
        #expect(h.report?.state == .disclosed && h.report?.resolution == nil && h.report?.closedAt == nil)
        try h.run(.release(versions: ["1.0.1"]))
        #expect(h.report?.state == .disclosed && h.report?.fixReleasedAt != nil)
    }

    @Test("a disclosed report's allowed events are those `check` accepts on it as it stands: how far its fix got, and a wont-fix closing, narrow them")
    func disclosedAllowedAsItStands() throws {
        var h = try ReportHarness()
        try h.run(.acknowledge(assignee: "maria"))
        try h.run(Self.triage)
        try h.run(.publish(ghsa: nil, cve: nil, url: nil))
        func expectAllowed(without refused: Set<String>, _ situation: String) throws {
            let report = try #require(h.report)
            let allowed = Lifecycle.allowedEvents(for: report)
            #expect(Set(allowed) == Set(Lifecycle.allowedEvents(in: .disclosed)).subtracting(refused), "\(situation): \(allowed)")
            for (type, sample) in Self.samples {
                let accepted = (try? Lifecycle.check(sample, against: report, reportID: h.id)) != nil
                #expect(accepted == allowed.contains(type), "\(situation): \(type)")
            }
        }
        try expectAllowed(without: ["ReportReopened"], "no fix yet")
        try h.run(.close(.wontFix, duplicateOf: nil, reason: "feature removed"))
        try expectAllowed(without: ["FixStarted", "FixMerged", "FixReleased", "SeverityChanged", "AssigneeChanged", "ReportClosed"], "closed as wont-fix")
        let error = #expect(throws: DomainError.self) { try h.run(.startFix(branch: nil)) }
        #expect(error?.code == .illegalTransition && error?.state == .disclosed && error?.allowed.contains("ReportReopened") == true)
        #expect(error?.message.contains("FixStarted is not allowed on report r-1 in state disclosed: it was closed as wont-fix after its advisory; reopen it first; allowed: ") == true, "\(error?.message ?? "")")
        try h.run(.reopen(reason: nil))
        try h.run(.startFix(branch: nil))
        try expectAllowed(without: ["FixStarted", "ReportReopened"], "fix started")
        try h.run(.release(versions: ["1.0.1"]))
        try expectAllowed(without: ["FixStarted", "ReportClosed", "ReportReopened"], "fix released")
        // An event its state does not allow names the same list.
        let late = #expect(throws: DomainError.self) { try h.run(.startTriage) }
        #expect(late?.code == .illegalTransition && late?.allowed == Lifecycle.allowedEvents(for: h.report!))
        #expect(late?.allowed.contains("FixStarted") == false && late?.allowed.contains("ReportClosed") == false)
    }

    /// One event of each type that is legal on a disclosed report.
    static let samples: [String: DomainEvent] = [
        "SeverityChanged": .severityChanged(SeverityChanged(severity: .high, cvss31: nil, cvss40: nil, reason: nil)),
        "AssigneeChanged": .assigneeChanged(AssigneeChanged(assignee: "x")),
        "FixStarted": .fixStarted(FixStarted(branch: nil)),
        "FixMerged": .fixMerged(FixMerged(commit: "c")),
        "FixReleased": .fixReleased(FixReleased(versions: ["1"])),
        "CVEAssigned": .cveAssigned(CVEAssigned(cve: "CVE-2026-1234")),
        "ExploitationObserved": .exploitationObserved(ExploitationObserved(source: nil)),
        "CreditOffered": .creditOffered(CreditOffered(person: "p", type: .finder)),
        "CreditAccepted": .creditAccepted(CreditAccepted(person: "p", displayName: nil, preference: .named)),
        "CreditDeclined": .creditDeclined(CreditDeclined(person: "p")),
        "ReportClosed": .reportClosed(ReportClosed(resolution: .wontFix, duplicateOf: nil, reason: nil)),
        "ReportReopened": .reportReopened(ReportReopened(reason: nil)),
        "AdvisoryWithdrawn": .advisoryWithdrawn(AdvisoryWithdrawn(reason: "r")),
        "NoteAdded": .noteAdded(NoteAdded(text: "t")),
    ]

    @Test("an illegal transition names the state and the allowed events, and changes nothing")
    func illegalTransition() throws {
        var h = try ReportHarness()
        let before = h.report
        let error = #expect(throws: DomainError.self) { try h.run(.release(versions: ["1.0"])) }
        #expect(error?.code == .illegalTransition)
        #expect(error?.state == .submitted)
        #expect(error?.allowed.contains("ReportAcknowledged") == true)
        #expect(error?.allowed.contains("FixReleased") == false)
        #expect(error?.message.contains("in state submitted; allowed: ReportAcknowledged") == true, "\(error?.message ?? "")")
        #expect(h.report == before)
    }

    /// The events each state allows, written out by hand from DESIGN §2's lifecycle and the
    /// catalogue (not read from `Lifecycle.transitions`, which this holds to it).
    static let allowedByHand: [ReportState: Set<String>] = {
        let credit: Set = ["CreditOffered", "CreditAccepted", "CreditDeclined"]
        let anyOpen: Set = ["AssigneeChanged", "ExploitationObserved", "NoteAdded"]
        let inTriage = anyOpen.union(credit).union(["StatusUpdateSent", "EmbargoExtended", "ReportClosed", "ReportTriaged"])
        let assessed = anyOpen.union(credit).union([
            "SeverityChanged", "StatusUpdateSent", "FixMerged", "FixReleased", "CVERequested", "CVEAssigned", "AdvisoryPublished",
            "DisclosureScheduled", "EmbargoExtended",
        ])
        return [
            // Credit can be accepted or declined from the start (the reporter says so on submitting); offered once acknowledged.
            .submitted: anyOpen.union(["ReportAcknowledged", "CreditAccepted", "CreditDeclined", "ReportClosed"]),
            .acknowledged: inTriage.union(["TriageStarted", "InfoRequested"]),
            .triaging: inTriage.union(["InfoRequested"]),
            .needsInfo: inTriage.union(["ReporterResponded"]),
            .accepted: assessed.union(["FixStarted", "ReportClosed"]),
            .fixing: assessed.union(["ReportClosed"]),
            // Released: closing it would leave a fix out with no advisory; it is published or withdrawn instead.
            .fixReleased: assessed,
            // Still owing its fix, a disclosed report can be re-rated, fixed, closed as wont-fix, reopened or withdrawn.
            .disclosed: anyOpen.union(credit).union([
                "SeverityChanged", "FixStarted", "FixMerged", "FixReleased", "CVEAssigned", "ReportClosed", "ReportReopened", "AdvisoryWithdrawn",
            ]),
            .closed: ["ReportReopened", "NoteAdded"],
            .withdrawn: ["NoteAdded"],
        ]
    }()

    @Test("every state allows exactly the events of its transition table", arguments: ReportState.allCases)
    func allowedEventsAreLegal(_ state: ReportState) throws {
        let allowed = Lifecycle.allowedEvents(in: state)
        let expected = try #require(Self.allowedByHand[state])
        #expect(Set(allowed) == expected, "only in the code: \(Set(allowed).subtracting(expected).sorted()); only by hand: \(expected.subtracting(allowed).sorted())")
        #expect(allowed.count == Set(allowed).count)
        #expect(allowed.contains("NoteAdded"))
        #expect(!allowed.contains("ReportSubmitted"))
        if state == .closed { #expect(allowed.contains("ReportReopened")) }
        if state == .withdrawn { #expect(allowed == ["NoteAdded"]) }
        if state.isOpen && state != .submitted { #expect(allowed.contains("ReportClosed") == (state != .fixReleased)) }
    }

    @Test("the state each event leads to (the switch replay uses) agrees with the transition table")
    func targetsAgreeWithTable() throws {
        for name in SchemaFiles.eventSchemaNames {
            let e = try SchemaFiles.event(name)
            guard let payload = e.golden.first?["payload"] else { continue }
            let event = try DomainEvent(type: e.type, version: e.version, payload: payload)
            #expect(Lifecycle.target(of: event, from: .acknowledged, acknowledged: true) == Lifecycle.transitions[e.type]?.to, "\(e.type)")
        }
    }

    @Test("an unknown report, a second submission and bad arguments are refused")
    func badCommands() throws {
        let unknown = #expect(throws: DomainError.self) { try Lifecycle.decide(.acknowledge(assignee: "m"), report: nil, reportID: "nope") }
        #expect(unknown?.code == .unknownReport)
        var h = try ReportHarness()
        let again = #expect(throws: DomainError.self) { try h.run(.submit(ReportSubmitted(project: "demo", title: "x", reporter: Reporter(handle: "b")))) }
        #expect(again?.code == .reportExists)
        try h.run(.acknowledge(assignee: "m"))
        let badVector = #expect(throws: DomainError.self) {
            try h.run(.triage(severity: nil, cvss31: "CVSS:3.1/AV:N/AC:L", cvss40: nil, cwes: [], component: nil, affected: [], reason: nil))
        }
        #expect(badVector?.code == .invalidCommand)
        #expect(badVector?.message.contains("malformed CVSS vector") == true)
        let wrongVersion = #expect(throws: DomainError.self) {
            try h.run(.triage(severity: nil, cvss31: "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", cvss40: nil, cwes: [], component: nil, affected: [], reason: nil))
        }
        #expect(wrongVersion?.message.contains("not a CVSS 3.1 vector") == true)
        let noSeverity = #expect(throws: DomainError.self) { try h.run(.triage(severity: nil, cvss31: nil, cvss40: nil, cwes: [], component: nil, affected: [], reason: nil)) }
        #expect(noSeverity?.message.contains("give a severity") == true)
        #expect(throws: DomainError.self) { try h.run(.triage(severity: .low, cvss31: nil, cvss40: nil, cwes: ["79"], component: nil, affected: [], reason: nil)) }
        #expect(throws: DomainError.self) { try h.run(.close(.duplicate, duplicateOf: nil, reason: nil)) }
        #expect(throws: DomainError.self) { try h.run(.close(.spam, duplicateOf: "r-2", reason: nil)) }
        #expect(throws: DomainError.self) { try h.run(.assignCVE("CVE-26-1")) }
        #expect(throws: DomainError.self) { try Lifecycle.decide(.submit(ReportSubmitted(project: "p", title: "t", reporter: Reporter(handle: "a"))), report: nil, reportID: "bad id!") }
        #expect(h.report?.state == .acknowledged)
    }

    @Test("an advisory names the CVE the report was assigned, and an http(s) address")
    func advisoryChecks() throws {
        var h = try ReportHarness()
        try h.run(.acknowledge(assignee: "m"))
        try h.run(Self.triage)
        try h.run(.assignCVE("CVE-2026-66666"))
        let otherCVE = #expect(throws: DomainError.self) { try h.run(.publish(ghsa: nil, cve: "CVE-2026-77777", url: nil)) }
        #expect(otherCVE?.message.contains("report r-1 was assigned CVE-2026-66666") == true && otherCVE?.message.contains("--assign CVE-2026-77777") == true)
        for url in ["javascript:alert(1)", "https://", "ftp://example.org/a", "https://example.org/a b", "https://example.org/<script>", "/advisories/1"] {
            let bad = #expect(throws: DomainError.self, "\(url)") { try h.run(.publish(ghsa: nil, cve: nil, url: url)) }
            #expect(bad?.message.contains("is not an advisory URL") == true, "\(url)")
        }
        let ghsa = #expect(throws: DomainError.self) { try h.run(.publish(ghsa: "GHSA-xxxx-yyyy-zzzz", cve: nil, url: nil)) }
        #expect(ghsa?.message.contains("2–9 and c f g h j m p q r v w x") == true)
        #expect(h.report?.state == .accepted)
        try h.run(.publish(ghsa: nil, cve: "CVE-2026-66666", url: "https://github.com/org/repo/security/advisories/GHSA-5f7q-jh4x-2vvm?x=1#y"))
        #expect(h.report?.state == .disclosed && h.report?.advisoryURL?.hasPrefix("https://github.com/") == true)
    }

    @Test("closing, reopening and closing as duplicate")
    func closeAndReopen() throws {
        var h = try ReportHarness()
        try h.run(.acknowledge(assignee: "m"))
        try h.run(.close(.duplicate, duplicateOf: "r-0", reason: nil))
        #expect(h.report?.state == .closed && h.report?.resolution == .duplicate && h.report?.duplicateOf == "r-0")
        #expect(throws: DomainError.self) { try h.run(.publish(ghsa: nil, cve: nil, url: nil)) }
        try h.run(.reopen(reason: "not a duplicate"))
        #expect(h.report?.state == .triaging && h.report?.resolution == nil)
        try h.run(Self.triage)
        #expect(h.report?.state == .accepted)
    }

    @Test("a severity none of the vectors given scores is refused (it would move or switch off the fix clock); one they score, or given alone, is taken; a first triage takes no reason")
    func severityAgreesWithVector() throws {
        var h = try ReportHarness()
        try h.run(.acknowledge(assignee: "m"))
        let critical = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  // 9.8
        func triage(_ severity: CVSSSeverity?, _ v31: String?, _ v40: String? = nil, reason: String? = nil) -> ReportCommand {
            .triage(severity: severity, cvss31: v31, cvss40: v40, cwes: [], component: nil, affected: [], reason: reason)
        }
        let none = #expect(throws: DomainError.self) { try h.run(triage(CVSSSeverity.none, critical)) }
        #expect(none?.code == .invalidCommand && none?.message.contains("severity none is not what the CVSS vector given says (CVSS:3.1 scores 9.8, critical)") == true, "\(String(describing: none))")
        #expect(throws: DomainError.self) { try h.run(triage(.high, critical)) }
        #expect(h.report?.state == .acknowledged && h.report?.version == 2, "nothing recorded")
        // A first assessment has no reason to give.
        let reasoned = #expect(throws: DomainError.self) { try h.run(triage(nil, critical, reason: "because")) }
        #expect(reasoned?.message.contains("a reason is for a re-assessment") == true)
        // Environmental metrics that bring it down to high (8.0): high is what the vector says.
        try h.run(triage(.high, critical + "/CR:L/IR:L/AR:L"))
        #expect(h.report?.severity == .high)
        // Either vector may carry the severity: v3.1 says critical, v4.0 high (7.6).
        try h.run(triage(.critical, critical))
        try h.run(triage(.high, critical, "CVSS:4.0/AV:N/AC:L/AT:P/PR:L/UI:N/VC:H/VI:H/VA:N/SC:N/SI:N/SA:N", reason: "both scored"))
        #expect(h.report?.severity == .high && h.report?.cvss40 != nil)
        // A v4.0 vector's base metrics alone count too: 9.3 (critical) with E:U, which scores 8.1.
        try h.run(triage(.critical, nil, "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:U", reason: "base"))
        try h.run(triage(.high, nil, "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:U", reason: "threat"))
        #expect(throws: DomainError.self) { try h.run(triage(.medium, nil, "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:U", reason: "neither")) }
        // Re-assessed, the same rule, with the vectors on record of a version not given: alone,
        // a severity they do not score is refused (the view would show it beside them).
        #expect(throws: DomainError.self) { try h.run(triage(.low, critical, reason: "downgrade")) }
        let alone = #expect(throws: DomainError.self) { try h.run(triage(.low, nil, reason: "only exploitable from the admin console")) }
        #expect(
            alone?.message.hasPrefix("severity low is not what report r-1's CVSS vectors say (CVSS:3.1 on record scores 9.8, critical; CVSS:4.0 on record scores 8.1, high;") == true
                && alone?.message.contains("give with it the vector that rates it so (--cvss; it replaces the one on record of its version)") == true, "\(String(describing: alone))")
        #expect(h.report?.severity == .high)
        // A new v3.1 vector alone beside a v4.0 one on record (8.1 high) that scores the
        // severity in force (high): a vector added, the severity kept, whatever the 3.1 one says.
        let admin31 = "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:L/I:N/A:N"  // 2.7
        try h.run(triage(nil, admin31, reason: "a 3.1 vector for the database"))
        #expect(h.report?.severity == .high && h.report?.cvss31 == admin31)
        // With a vector that rates it so, another severity is taken (either vector may carry it).
        let admin40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:N/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N"  // 5.1
        try h.run(triage(.low, nil, admin40, reason: "only exploitable from the admin console"))
        #expect(h.report?.severity == .low && h.report?.cvss31 == admin31 && h.report?.cvss40 == admin40)
        // A new v3.1 vector alone that neither it nor the v4.0 vector on record rates as the
        // severity in force: which it is now is asked, not left to the version order.
        let split = #expect(throws: DomainError.self) { try h.run(triage(nil, critical, reason: "v3.1 only")) }
        #expect(
            split?.message.contains("report r-1's CVSS:4.0 vector on record rates it medium (5.1), the CVSS:3.1 vector given critical (9.8), and neither scores the severity in force (low): say which it is now (--severity)") == true,
            "\(String(describing: split))")
        // The advice on a re-assessment is never to give the severity without the vector: the one on record would stand.
        let medium = #expect(throws: DomainError.self) { try h.run(triage(.critical, admin31, reason: "x")) }
        #expect(medium?.message.contains("give with it the vector that rates it so") == true && medium?.message.contains("without the vector") == false, "\(String(describing: medium))")
    }

    @Test("a triage of a report reopened after its assessment is held to the vectors on record, as a re-assessment is; one with no vector on record may be rated by severity alone")
    func triageAfterReopening() throws {
        var h = try ReportHarness()
        try h.run(.acknowledge(assignee: "m"))
        try h.run(Self.triage)  // CVSS:3.1 9.8, critical
        try h.run(.close(.informative, duplicateOf: nil, reason: "not ours"))
        try h.run(.reopen(reason: "it is ours"))
        #expect(h.report?.state != .accepted && h.report?.severity == .critical)
        let none = #expect(throws: DomainError.self) {
            try h.run(.triage(severity: CVSSSeverity.none, cvss31: nil, cvss40: nil, cwes: [], component: nil, affected: [], reason: nil))
        }
        #expect(none?.message.contains("severity none is not what report r-1's CVSS vectors say (CVSS:3.1 on record scores 9.8, critical)") == true, "\(String(describing: none))")
        let reasoned = #expect(throws: DomainError.self) {
            try h.run(.triage(severity: .critical, cvss31: nil, cvss40: nil, cwes: [], component: nil, affected: [], reason: "again"))
        }
        #expect(reasoned?.message.contains("is \(h.report?.state.rawValue ?? "?") (reopened): record the triage without it") == true, "\(String(describing: reasoned))")
        try h.run(.triage(severity: .critical, cvss31: nil, cvss40: nil, cwes: [], component: nil, affected: [], reason: nil))
        #expect(h.report?.state == .accepted && h.report?.severity == .critical)
        // Assessed without a vector: a re-assessment by severity alone is taken, and one beside a
        // vector that does not score it is told so as at a first triage.
        var g = try ReportHarness()
        try g.run(.acknowledge(assignee: "m"))
        try g.run(.triage(severity: .medium, cvss31: nil, cvss40: nil, cwes: [], component: nil, affected: [], reason: nil))
        let given = #expect(throws: DomainError.self) {
            try g.run(.triage(severity: .low, cvss31: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", cvss40: nil, cwes: [], component: nil, affected: [], reason: "x"))
        }
        #expect(given?.message.contains("is not what the CVSS vector given says (CVSS:3.1 scores 9.8, critical)") == true && given?.message.contains("on record") == false, "\(String(describing: given))")
        try g.run(.triage(severity: .low, cvss31: nil, cvss40: nil, cwes: [], component: nil, affected: [], reason: "x"))
        #expect(g.report?.severity == .low)
        // Both versions given and neither scoring the severity: wrong in any state, refused before the report is known.
        let both = #expect(throws: DomainError.self) {
            try Lifecycle.checkArguments(
                .triage(severity: .low, cvss31: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", cvss40: "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", cwes: [], component: nil, affected: [], reason: nil),
                reportID: "r-9")
        }
        #expect(both?.code == .invalidCommand)
        // One version alone: the vector on record of the other may score it, so it waits for the report.
        try Lifecycle.checkArguments(
            .triage(severity: .low, cvss31: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", cvss40: nil, cwes: [], component: nil, affected: [], reason: nil), reportID: "r-9")
    }

    @Test("a severity derived from a v3.1 vector is its temporal or environmental score's where it gives those metrics, as v4.0's is")
    func severityFromAdjustedVector() throws {
        var h = try ReportHarness()
        try h.run(.acknowledge(assignee: "m"))
        // Base 9.8; E:U/RL:O/RC:U bring it to 7.8 (high); MPR:H to 7.2 (high).
        try h.run(.triage(severity: nil, cvss31: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O/RC:U", cvss40: nil, cwes: [], component: nil, affected: [], reason: nil))
        #expect(h.report?.severity == .high)
        let scored = try CVSS.score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/MPR:H")
        #expect(scored.baseScoreTenths == 98 && scored.ratedScoreTenths == 72 && scored.ratedSeverity == .high && scored.severity == .critical)
        // Recorded by the rules before (a retry's comparison), from the base score.
        let asRecorded = try Lifecycle.eventsAsRecorded(
            for: .triage(severity: nil, cvss31: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/MPR:H", cvss40: nil, cwes: [], component: nil, affected: [], reason: nil),
            report: nil, reportID: "r-2")
        guard case .reportTriaged(let e)? = asRecorded.first else { Issue.record("\(asRecorded)"); return }
        #expect(e.severity == .critical)
        // A base-only vector with a changed scope: 3.1 computes 7.0 base and 6.9 environmental,
        // but it gives no environmental metric: high is its rating, medium is refused.
        var g = try ReportHarness()
        try g.run(.acknowledge(assignee: "m"))
        let changedScope = "CVSS:3.1/AV:P/AC:H/PR:L/UI:N/S:C/C:H/I:H/A:L"
        let medium = #expect(throws: DomainError.self) {
            try g.run(.triage(severity: .medium, cvss31: changedScope, cvss40: nil, cwes: [], component: nil, affected: [], reason: nil))
        }
        #expect(medium?.message.contains("(CVSS:3.1 scores 7.0, high)") == true, "\(String(describing: medium))")
        try g.run(.triage(severity: nil, cvss31: changedScope, cvss40: nil, cwes: [], component: nil, affected: [], reason: nil))
        #expect(g.report?.severity == .high)
    }

    @Test("credit for a person who declined it is refused; they may change their mind, saying how; accepting needs an offer")
    func credits() throws {
        var h = try ReportHarness()
        try h.run(.acknowledge(assignee: "m"))
        try h.run(.offerCredit(person: "bob", type: .remediationDeveloper))
        try h.run(.declineCredit(person: "bob"))
        let offered = #expect(throws: DomainError.self) { try h.run(.offerCredit(person: "bob", type: .analyst)) }
        #expect(offered?.code == .creditDeclined)
        // However the handle is written: the key drops case, surrounding space and an @ in front
        // (new events refuse the last two; a log may hold them from before).
        #expect(Report.personKey(" @Bob ") == "bob" && Report.personKey("@bob") == "bob" && Report.personKey("bob@example.org") == "bob@example.org")
        // Fullwidth forms look like the ASCII they stand for, and are read as it.
        #expect(Report.personKey("＠bob") == "bob" && Report.personKey("\u{FE6B}bob") == "bob" && Report.personKey("ＢＯＢ") == "bob")
        #expect(Report.personKey("𝚋𝚘𝚋") == "bob" && Report.personKey("ⓑⓞⓑ") == "bob" && Report.personKey("𝐁𝐨𝐛𝟐") == "bob2")
        #expect(h.report?.credit(of: "ｂｏｂ")?.status == .declined)
        #expect(h.report?.credit(of: "@BOB")?.status == .declined)
        #expect(offered?.message.contains("bob declined credit") == true)
        let again = #expect(throws: DomainError.self) { try h.run(.declineCredit(person: "bob")) }
        #expect(again?.code == .creditDeclined)
        // An acceptance that does not say how would credit him as if he had never declined.
        let unsaid = #expect(throws: DomainError.self) { try h.run(.acceptCredit(person: "bob", displayName: nil, preference: nil)) }
        #expect(unsaid?.code == .creditDeclined && unsaid?.message.contains("give --preference") == true, "\(String(describing: unsaid))")
        // He changes his mind: credited as he now asks, for what he was offered.
        var changed = h
        try changed.run(.acceptCredit(person: "Bob", displayName: "Bob B.", preference: .handle))
        let bob = changed.report?.credit(of: "bob")
        #expect(bob?.status == .accepted && bob?.preference == .handle && bob?.types == [.remediationDeveloper])
        try changed.run(.declineCredit(person: "bob"))  // and back again
        #expect(changed.report?.credit(of: "bob")?.status == .declined)
        let unoffered = #expect(throws: DomainError.self) { try h.run(.acceptCredit(person: "carol", displayName: nil, preference: .named)) }
        #expect(unoffered?.message.contains("offer it first") == true)
        // The reporter may accept the credit their submission implied.
        try h.run(.acceptCredit(person: "ada", displayName: "Ada Lovelace", preference: .named))
        #expect(h.report?.credit(of: "ada")?.status == .accepted)
        // "Accepting" with no credit is a decline, and is pointed there.
        #expect(throws: DomainError(.invalidCommand, "accepting credit needs a preference of named, handle or anonymous; none is no credit (credit offered and not wanted is declined: credit --decline)")) {
            try h.run(.acceptCredit(person: "ada", displayName: nil, preference: CreditPreference.none))
        }
        try h.run(.declineCredit(person: "ada"))
    }

    @Test("accepting credit without a preference keeps the reporter's own; handles compare without case or spaces")
    func creditDefaultsAndHandles() throws {
        var h = try ReportHarness(reporter: Reporter(handle: "ann", name: "Ann Secret", credit: .anonymous))
        try h.run(.acknowledge(assignee: "m"))
        try h.run(.acceptCredit(person: "ann", displayName: nil, preference: nil))
        #expect(h.report?.credit(of: "ann")?.preference == .anonymous)
        try h.run(.offerCredit(person: "bob", type: .analyst))
        try h.run(.declineCredit(person: "bob"))
        let dodge = #expect(throws: DomainError.self) { try h.run(.offerCredit(person: " Bob ", type: .analyst)) }
        #expect(dodge?.code == .creditDeclined)
        // Someone else accepting without a preference is credited by name.
        try h.run(.offerCredit(person: "cy", type: .finder))
        try h.run(.acceptCredit(person: "CY", displayName: nil, preference: nil))
        #expect(h.report?.credit(of: "cy")?.preference == .named && h.report?.credit(of: "cy")?.status == .accepted)
    }

    @Test("a reporter who asked for no credit cannot be offered it, nor decline it again, but may opt in saying how")
    func noCreditReporter() throws {
        var h = try ReportHarness(reporter: Reporter(handle: "shy", credit: .none))
        try h.run(.acknowledge(assignee: "m"))
        let error = #expect(throws: DomainError.self) { try h.run(.offerCredit(person: "shy", type: .finder)) }
        #expect(error?.code == .creditDeclined)
        let declined = #expect(throws: DomainError.self) { try h.run(.declineCredit(person: "shy")) }
        #expect(declined?.code == .creditDeclined && declined?.message.contains("nothing to decline") == true)
        // Accepting without saying how, or saying none, would record the "none" they asked for: refused.
        for preference in [nil, CreditPreference.none] {
            let unsaid = #expect(throws: DomainError.self) { try h.run(.acceptCredit(person: "shy", displayName: nil, preference: preference)) }
            #expect(unsaid?.code == .invalidCommand)
        }
        // They change their mind (or never chose: a project's default of none): they opt in.
        var anonymously = h
        try h.run(.acceptCredit(person: "SHY", displayName: "S. Hy", preference: .named))
        #expect(h.report?.credit(of: "shy")?.preference == .named && h.report?.credit(of: "shy")?.status == .accepted)
        try anonymously.run(.acceptCredit(person: "shy", displayName: nil, preference: .anonymous))
        #expect(anonymously.report?.credit(of: "shy")?.preference == .anonymous)
        // A reporter who declined the credit their submission implied may take it after all, saying how.
        var declinedBefore = try ReportHarness(reporter: Reporter(handle: "shy", credit: .named))
        try declinedBefore.run(.acknowledge(assignee: "m"))
        try declinedBefore.run(.declineCredit(person: "shy"))
        #expect(declinedBefore.report?.reporterCredit == nil)
        let after = #expect(throws: DomainError.self) { try declinedBefore.run(.acceptCredit(person: "shy", displayName: nil, preference: nil)) }
        #expect(after?.code == .creditDeclined)
        try declinedBefore.run(.acceptCredit(person: "shy", displayName: nil, preference: .anonymous))
        #expect(declinedBefore.report?.reporterCredit?.preference == .anonymous)
    }

    @Test("embargo extensions must move the date later")
    func embargo() throws {
        var h = try ReportHarness()
        try h.run(.acknowledge(assignee: "m"))
        try h.run(Self.triage)
        let d1 = try Timestamp(rfc3339: "2027-02-01T00:00:00Z")
        try h.run(.extendEmbargo(until: d1, reason: "distros", reporterAgreed: true))
        #expect(throws: DomainError.self) { try h.run(.extendEmbargo(until: d1, reason: "again", reporterAgreed: true)) }
        #expect(h.report?.embargoExtensions.count == 1)
    }
}

@Suite("Person keys")
struct PersonKeyTests {
    /// The key by its definition: lower case, without surrounding white space or any @ in front
    /// (and the space after it).
    func reference(_ handle: String) -> String {
        func trimmed(_ s: String) -> String { String(s.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()) }
        var key = trimmed(handle.lowercased())
        while key.hasPrefix("@") { key = trimmed(String(key.dropFirst())) }
        return key
    }

    @Test("handles compare without case, surrounding white space or an @ in front, Unicode included", arguments: [
        ("ann", "ann"), ("Ann ", "ann"), ("@ann", "ann"), (" @@Ann", "ann"), ("@ ann", "ann"), ("@ @ann", "ann"), ("a@nn", "a@nn"), (" ANN\t", "ann"), ("\r\nann", "ann"), ("a b", "a b"), ("", ""), ("   ", ""),
        ("Ünï", "ünï"), ("ünï\u{00A0}", "ünï"), ("ann\u{2003}", "ann"), ("r@example.org", "r@example.org"), ("ZOË", "zoë"),
    ])
    func examples(handle: String, key: String) {
        #expect(Report.personKey(handle) == key)
        #expect(Report.personKey(handle) == reference(handle))
    }

    @Test("the allocation-free path agrees with the definition on random ASCII handles")
    func randomASCII() {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("abcXYZ09 _-.@\t\n".utf8)
        for _ in 0..<5_000 {
            let n = Int.random(in: 0...8, using: &rng)
            let handle = String(decoding: (0..<n).map { _ in alphabet.randomElement(using: &rng)! }, as: UTF8.self)
            #expect(Report.personKey(handle) == reference(handle), "\(handle.debugDescription)")
        }
    }
}
