@testable import DocketCore
import DocketTestSupport
import Foundation
import Testing

// Policy files: every published policy in Schemas/policies parses, round-trips through its
// canonical text and encodes the numbers of the text it models; bad documents give exact
// `file:line: field:` issues.

/// The package's published policy files.
enum PolicyFiles {
    static let directory = packageRoot.appendingPathComponent("Schemas/policies")

    /// The seed documents (`../shared/seeds`, `sharedFile`).
    static var seedsDirectory: URL { sharedFile("seeds") }

    static var names: [String] {
        let all = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return all.filter { $0.hasSuffix(".toml") }.sorted()
    }

    static func policy(_ name: String) throws -> Policy {
        let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
        return try Policy.parse(text, file: name)
    }
}

@Suite("Published policy files")
struct PublishedPolicyTests {
    @Test("Schemas/policies holds the five seed policies, Project Zero and CERT/CC")
    func inventory() {
        #expect(PolicyFiles.names == [
            "aios.toml", "aisoc.toml", "aixcl.toml", "aumos.toml", "cert-cc.toml", "project-zero.toml", "soc-ingest.toml",
        ])
    }

    @Test("each file parses, and its canonical text parses back to the same policy", arguments: PolicyFiles.names)
    func parsesAndRoundTrips(_ name: String) throws {
        let policy = try PolicyFiles.policy(name)
        let canonical = policy.encodeCanonical()
        let again = try Policy.parse(canonical, file: "canonical")
        #expect(again == policy)
        #expect(again.encodeCanonical() == canonical)
    }

    @Test("every seed policy has a file that models it")
    func seedsCovered() throws {
        let seeds = try FileManager.default.contentsOfDirectory(atPath: PolicyFiles.seedsDirectory.path).filter { $0.hasSuffix(".txt") }
        let modelled = try PolicyFiles.names.compactMap { try PolicyFiles.policy($0).models }
        #expect(Set(seeds) == Set(modelled))
        #expect(seeds.count == 5)
    }

    @Test("000 AiSOC: 48 h, 7 days, fix or timeline in 30 days, credit with consent, 90-day support")
    func aisoc() throws {
        let p = try PolicyFiles.policy("aisoc.toml")
        #expect(p.name == "AiSOC")
        #expect(p.models == "000_bbfca1c33e634254.txt")
        #expect(p.acknowledge == ResponseClock(within: .hours(48)))
        #expect(p.triage == ResponseClock(within: .days(7)))
        #expect(
            p.fix == FixPolicy(targets: [.critical: .within(.days(30)), .high: .within(.days(30)), .medium: .within(.days(30)), .low: .within(.days(30))], metByAdvisory: true))
        #expect(p.disclosure == nil)
        // The key is written only when set: policies adopted before it existed keep their text.
        let reparsed = try Policy.parse(p.encodeCanonical(), file: "canonical")
        #expect(p.encodeCanonical().contains("met-by-advisory = true") && reparsed == p)
        let aumos = try PolicyFiles.policy("aumos.toml")
        #expect(!aumos.encodeCanonical().contains("met-by-advisory"))
        #expect(p.statusUpdateEvery == nil)
        #expect(p.supportWindow == .days(90))
        #expect(p.creditDefault == CreditDefault.none)
        #expect(p.scopeIn.count == 3 && p.scopeOut.count == 3)
        #expect(p.timeZone == "UTC")
    }

    @Test("001 AumOS: 48 h, 5 business days, updates every 7 days, fix by severity from confirmation, 90-day disclosure")
    func aumos() throws {
        let p = try PolicyFiles.policy("aumos.toml")
        #expect(p.name == "AumOS")
        #expect(p.models == "001_cccf3bfcab00222a.txt")
        #expect(p.acknowledge == ResponseClock(within: .hours(48)))
        #expect(p.triage == ResponseClock(within: .businessDays(5)))
        #expect(p.workweek == Weekday.mondayToFriday)
        #expect(p.holidays.isEmpty)
        #expect(p.statusUpdateEvery == .days(7))
        #expect(p.fix == FixPolicy(
            targets: [.critical: .within(.days(7)), .high: .within(.days(30)), .medium: .nextRelease, .low: .nextRelease],
            from: .acceptance))
        #expect(p.disclosure == DisclosurePolicy(anchor: .report, within: .days(90)))
        #expect(p.creditDefault == .named)
        #expect(p.scopeIn.count == 8 && p.scopeOut.count == 5)
    }

    @Test("002 AIXCL: 72 h, 7 days, disclosure 7–14 days after the fix release, anonymous unless credit is asked for")
    func aixcl() throws {
        let p = try PolicyFiles.policy("aixcl.toml")
        #expect(p.name == "AIXCL")
        #expect(p.models == "002_ee84ed1bbd434bdd.txt")
        #expect(p.acknowledge == ResponseClock(within: .hours(72)))
        #expect(p.triage == ResponseClock(within: .days(7)))
        #expect(p.fix == nil)
        #expect(p.disclosure == DisclosurePolicy(anchor: .fixRelease, within: .days(14), earliest: .days(7)))
        #expect(p.creditDefault == .anonymous)
    }

    @Test("003: 72 h acknowledgement and scope by component")
    func socIngest() throws {
        let p = try PolicyFiles.policy("soc-ingest.toml")
        #expect(p.models == "003_ec4bd417be4be3a5.txt")
        #expect(p.acknowledge == ResponseClock(within: .hours(72)))
        #expect(p.triage == nil && p.fix == nil && p.disclosure == nil && p.statusUpdateEvery == nil)
        #expect(p.scopeIn.count == 5)
        #expect(p.scopeIn.contains { $0.hasPrefix("/ingest-log endpoint") })
        #expect(p.scopeOut == ["Third-party dependency vulnerabilities", "Issues requiring physical server access"])
    }

    @Test("004 AIOS: 24 h, 72 h, critical fixed within 7 days, hall of fame")
    func aios() throws {
        let p = try PolicyFiles.policy("aios.toml")
        #expect(p.name == "AIOS")
        #expect(p.models == "004_a58d230f5e7c00a1.txt")
        #expect(p.acknowledge == ResponseClock(within: .hours(24)))
        #expect(p.triage == ResponseClock(within: .hours(72)))
        #expect(p.fix == FixPolicy(targets: [.critical: .within(.days(7))]))
        #expect(p.fix?.target(for: .high) == FixTarget.none)
        #expect(p.disclosure == nil)
        #expect(p.creditDefault == .named)
    }

    @Test("Project Zero: 90 days from the report, 30 after a fix, 14-day grace on request, 7 days when exploited with a 3-day grace")
    func projectZero() throws {
        let p = try PolicyFiles.policy("project-zero.toml")
        #expect(p.models == nil)
        #expect(p.disclosure == DisclosurePolicy(
            anchor: .report, within: .days(90), afterFix: .days(30), grace: .days(14), exploited: .days(7), exploitedGrace: .days(3), graceOnRequest: true, workdayDeadlines: true))
        #expect(p.holidays.count == 23 && p.workweek == Weekday.mondayToFriday)
        // It survives the canonical text an adoption records.
        #expect(try Policy.parse(p.encodeCanonical(), file: "canonical") == p)
    }

    @Test("holidays that run out within the year are pointed out to whoever validates or adopts the policy, if it counts business days or moves dates off days off")
    func holidaysRunningOut() throws {
        let p = try PolicyFiles.policy("project-zero.toml")  // holidays through 2027-12-31; deadlines move to work days
        let last = try #require(p.holidays.max())
        let (now, newYear, later) = (try CivilDate("2026-12-04"), try CivilDate("2027-01-01"), try CivilDate("2028-03-01"))
        let end2027 = try CivilDate("2027-12-31")
        #expect(last == end2027)
        #expect(p.holidaysRunningOut(today: now) == nil)
        let soon = try #require(p.holidaysRunningOut(today: newYear))
        #expect(soon == "holidays: the last one listed is 2027-12-31, less than a year away: business days after it will be counted, and days off moved past, as if there were no holidays: list the next year's, and adopt the policy as a new version", "\(soon)")
        let lapsed = try #require(p.holidaysRunningOut(today: later))
        #expect(lapsed.contains("2027-12-31, past: business days after it are counted") && lapsed.contains("list this year's and the next year's"), "\(lapsed)")
        // A list that ends a few weeks from now runs out within the year too.
        var january = p
        january.holidays = [try CivilDate("2027-01-01")]
        #expect(january.holidaysRunningOut(today: now) != nil)
        // Holidays a policy never counts with: nothing to say; no holidays: nothing to run out.
        var calendarDays = p
        calendarDays.disclosure?.workdayDeadlines = false
        #expect(calendarDays.durations.allSatisfy { $0.duration.unit != .businessDays })
        #expect(calendarDays.holidaysRunningOut(today: later) == nil)
        var none = p
        none.holidays = []
        #expect(none.holidaysRunningOut(today: later) == nil)
    }

    @Test("the published JSON schema names exactly the sections and keys the parser reads, in the same order")
    func publishedSchemaMatchesParser() throws {
        let data = try Data(contentsOf: packageRoot.appendingPathComponent("Schemas/policy.schema.json"))
        let text = try #require(String(data: data, encoding: .utf8))
        let schema = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let properties = try #require(schema["properties"] as? [String: Any])
        let topLevel = PolicyParser.schema[0].keys
        let sections = PolicyParser.schema.dropFirst()
        #expect(Set(properties.keys) == Set(topLevel + sections.map(\.section)))
        #expect(schema["additionalProperties"] as? Bool == false)
        for (section, keys) in sections {
            let object = try #require(properties[section] as? [String: Any], "section \(section)")
            let declared = try #require(object["properties"] as? [String: Any], "section \(section)")
            #expect(Set(declared.keys) == Set(keys), "section \(section)")
            #expect(object["additionalProperties"] as? Bool == false, "section \(section)")
            // In the same order as the parser's table (and so as policy.md's): found in the text.
            let offsets = keys.map { key in text.range(of: "\"\(key)\": {", range: text.range(of: "\"\(section)\": {")!.upperBound..<text.endIndex)?.lowerBound }
            #expect(offsets.allSatisfy { $0 != nil } && offsets.map { $0! } == offsets.map { $0! }.sorted(), "section \(section)")
        }
    }

    @Test("the published schema's durations and versions are the ones the parser takes, to the last one")
    func publishedSchemaBounds() throws {
        let data = try Data(contentsOf: packageRoot.appendingPathComponent("Schemas/policy.schema.json"))
        let schema = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let defs = try #require(schema["$defs"] as? [String: Any])
        let pattern = try #require((defs["duration"] as? [String: Any])?["pattern"] as? String)
        let regex = try NSRegularExpression(pattern: pattern)
        func schemaTakes(_ text: String) -> Bool { regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil }
        var texts: [String] = ["0h", "01d", "1", "d", "1.5d", "+3d", "-3d", "1 d", "1D"]
        for unit in ["h", "d", "bd", "w"] {
            for n in [1, 9, 10, 99, 999, 1000, 9999, 10000, 14285, 14286, 99999, 100_000, 999_999] { texts.append("\(n)\(unit)") }
        }
        for text in texts {
            #expect(schemaTakes(text) == ((try? PolicyDuration(text)) != nil), "\(text)")
        }
        let version = try #require((schema["properties"] as? [String: Any])?["version"] as? [String: Any])
        #expect(version["minimum"] as? Int == 1 && version["maximum"] as? Int == Policy.maximumVersion)
        for (v, takes) in [(1, true), (2026031501, true), (Policy.maximumVersion, true), (Policy.maximumVersion + 1, false), (Int.max, false)] {
            let text = "name = \"X\"\nversion = \(v)\n[acknowledge]\nwithin = \"48h\"\n"
            #expect(((try? Policy.parse(text, file: "x.toml", adopting: true)) != nil) == takes, "\(v)")
            // One already in a log is read as it was recorded.
            #expect((try? Policy.parse(text, file: "PolicyAdopted@1"))?.version == v, "\(v)")
        }
    }

    @Test("TOML this format does not take is named for what it is: an inline table, an array over several lines, an unquoted item; what the file quotes is shown escaped")
    func unsupportedTOML() throws {
        for (body, says) in [
            ("x = {a = 1}\n", "x.toml:3: x: inline tables are not part of the policy format"),
            ("holidays = [\"2026-12-24\",\n  \"2026-12-25\"]\n", "x.toml:4: -: this looks like the rest of an array begun on an earlier line: an array is written on one line"),
            ("holidays = [\"2026-12-24\",\n  \"2026-12-25\"]\n", "x.toml:3: holidays: an array is written on one line and closed with ']'"),
            ("holidays = [\"2026-12-24\", 2026-12-25]\n", "x.toml:3: holidays: arrays hold only quoted strings; quote 2026-12-25: \"2026-12-25\""),
            ("\"within\" = \"48h\"\n", "x.toml:3: -: quoted keys are not part of the policy format"),
            ("credit-default = na\u{0}med\n", "x.toml:3: credit-default: na\\u{0}med is not a value"),
            ("[fi\u{1B}x]\n", "x.toml:3: fi\\u{1B}x: unknown section"),
        ] {
            let text = "name = \"X\"\nversion = 1\n\(body)[acknowledge]\nwithin = \"48h\"\n"
            #expect { try Policy.parse(text, file: "x.toml") } throws: { error in
                "\(error)".contains(says) && !"\(error)".unicodeScalars.contains { UntrustedText.isDisruptive($0) && $0 != "\n" }
            }
        }
    }

    @Test("exploited-grace needs an exploited deadline, and is no longer than after-fix")
    func exploitedGraceContradictions() throws {
        for (extra, says) in [
            ("exploited-grace = \"3d\"", "disclosure.exploited-grace: there is no exploited deadline to give a grace to; add one (exploited = \"7d\") or remove this"),
            ("exploited = \"7d\"\nafter-fix = \"2d\"\nexploited-grace = \"3d\"", "disclosure.exploited-grace: 3d is longer than after-fix (2d)"),
            // Both at once: both said.
            ("after-fix = \"2d\"\nexploited-grace = \"3d\"", "disclosure.exploited-grace: 3d is longer than after-fix (2d)"),
            ("after-fix = \"2d\"\nexploited-grace = \"3d\"", "disclosure.exploited-grace: there is no exploited deadline"),
        ] {
            let text = "name = \"X\"\nversion = 1\n[disclosure]\nwithin = \"90d\"\n\(extra)\n"
            #expect { try Policy.parse(text, file: "x.toml") } throws: { error in
                "\(error)".contains(says)
            }
        }
    }

    @Test("CERT/CC: 45 days from the report regardless of a fix; extensions not limited")
    func certCC() throws {
        let p = try PolicyFiles.policy("cert-cc.toml")
        #expect(p.disclosure == DisclosurePolicy(anchor: .report, within: .days(45)))
        #expect(p.disclosure?.maxExtension == nil)
        #expect(p.creditDefault == .named)
    }
}

@Suite("Schemas/policy.md")
struct PolicyDocumentTests {
    /// The fenced code blocks of policy.md, in order.
    static func codeBlocks() throws -> [String] {
        let text = try String(contentsOf: packageRoot.appendingPathComponent("Schemas/policy.md"), encoding: .utf8)
        var blocks: [String] = []
        var current: [Substring]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") {
                if let body = current { blocks.append(body.joined(separator: "\n") + "\n") }
                current = current == nil ? [] : nil
            } else {
                current?.append(line)
            }
        }
        return blocks
    }

    @Test("the error example prints exactly the issues shown")
    func errorExample() throws {
        let blocks = try Self.codeBlocks()
        let bad = try #require(blocks.first { $0.hasPrefix("version = 0") })
        let shown = try #require(blocks.first { $0.hasPrefix("bad.toml:1:") })
        #expect(throws: PolicyError.self) { try Policy.parse(bad, file: "bad.toml") }
        do {
            _ = try Policy.parse(bad, file: "bad.toml")
        } catch {
            #expect(error.description + "\n" == shown)
        }
    }

    @Test("the full example parses and round-trips")
    func fullExample() throws {
        let example = try #require(try Self.codeBlocks().first { $0.hasPrefix("# Example Org") })
        let policy = try Policy.parse(example, file: "example.toml")
        #expect(policy.disclosure?.afterFix == .days(30))
        #expect(policy.triage == ResponseClock(within: .businessDays(5), pausedWhileWaiting: true))
        #expect(policy.statusUpdateEvery == .days(7))
        #expect(try Policy.parse(policy.encodeCanonical(), file: "canonical") == policy)
    }
}

@Suite("Policy format")
struct PolicyFormatTests {
    struct BadDocument: Sendable, CustomTestStringConvertible {
        let label: String
        let text: String
        /// The `file:line: field:` prefix of every issue, in order.
        let prefixes: [String]
        /// A phrase the first issue's message must contain.
        let says: String
        var testDescription: String { label }
    }

    static let valid = "name = \"P\"\nversion = 1\n"

    static let bad: [BadDocument] = [
        BadDocument(label: "missing name", text: "version = 1\n", prefixes: ["p.toml:1: name:"], says: "missing"),
        BadDocument(label: "empty document", text: "", prefixes: ["p.toml:1: name:", "p.toml:1: version:"], says: "missing"),
        BadDocument(
            label: "missing section key", text: valid + "\n[acknowledge]\npause-while-waiting = true\n",
            prefixes: ["p.toml:4: acknowledge.within:"], says: "[acknowledge] needs within"),
        BadDocument(
            label: "unknown key with suggestion", text: valid + "[acknowledge]\nwithn = \"48h\"\nwithin = \"48h\"\n",
            prefixes: ["p.toml:4: acknowledge.withn:"], says: "did you mean \"within\"?"),
        BadDocument(
            label: "snake_case key", text: valid + "[fix]\npause_while_waiting = true\n",
            prefixes: ["p.toml:4: fix.pause_while_waiting:"], says: "did you mean \"pause-while-waiting\"?"),
        BadDocument(
            label: "key in the wrong section", text: valid + "[fix]\nwithin = \"7d\"\n",
            prefixes: ["p.toml:4: fix.within:"], says: "belongs in [acknowledge] or [triage] or [disclosure]"),
        BadDocument(
            label: "unknown section with suggestion", text: valid + "[fixes]\ncritical = \"7d\"\n",
            prefixes: ["p.toml:3: fixes:"], says: "did you mean [fix]?"),
        BadDocument(
            label: "duplicate key", text: "name = \"P\"\nversion = 1\nversion = 2\n",
            prefixes: ["p.toml:3: version:"], says: "duplicate key; first set on line 2"),
        BadDocument(
            label: "duplicate section", text: valid + "[triage]\nwithin = \"7d\"\n[triage]\n",
            prefixes: ["p.toml:5: triage:"], says: "already started on line 3"),
        BadDocument(
            label: "bad duration", text: valid + "[acknowledge]\nwithin = \"48 hours\"\n",
            prefixes: ["p.toml:4: acknowledge.within:"], says: "\"48h\", \"7d\", \"2w\", \"5bd\""),
        BadDocument(
            label: "unquoted duration", text: valid + "[acknowledge]\nwithin = 48h\n",
            prefixes: ["p.toml:4: acknowledge.within:"], says: "strings are quoted: \"48h\""),
        BadDocument(
            label: "contradictory fix targets",
            text: valid + "[fix]\ncritical = \"30d\"\nhigh = \"7d\"\nmedium = \"next-release\"\nlow = \"14d\"\n",
            prefixes: ["p.toml:4: fix.critical:", "p.toml:6: fix.medium:"], says: "longer than the high target"),
        BadDocument(
            label: "earliest after within", text: valid + "[disclosure]\nfrom = \"fix-release\"\nwithin = \"14d\"\nearliest = \"3w\"\n",
            prefixes: ["p.toml:6: disclosure.earliest:"], says: "later than the deadline"),
        BadDocument(
            label: "after-fix with the fix-release anchor", text: valid + "[disclosure]\nfrom = \"fix-release\"\nwithin = \"14d\"\nafter-fix = \"30d\"\n",
            prefixes: ["p.toml:6: disclosure.after-fix:"], says: "only applies when the deadline counts from the report"),
        BadDocument(
            label: "acknowledge longer than triage", text: valid + "[acknowledge]\nwithin = \"3d\"\n[triage]\nwithin = \"48h\"\n",
            prefixes: ["p.toml:4: acknowledge.within:"], says: "longer than triage within"),
        BadDocument(
            label: "business days without a workweek", text: "name = \"P\"\nversion = 1\nworkweek = []\n[triage]\nwithin = \"5bd\"\n",
            prefixes: ["p.toml:5: triage.within:"], says: "workweek is empty"),
        BadDocument(
            label: "deadlines moved to a work day without a workweek",
            text: "name = \"P\"\nversion = 1\nworkweek = []\n[disclosure]\nwithin = \"90d\"\nworkday-deadlines = true\n",
            prefixes: ["p.toml:6: disclosure.workday-deadlines:"], says: "deadlines move to the next work day, but the workweek is empty"),
        BadDocument(
            label: "a malformed within, and a grace with no deadline to give it to, in one section: both told at once",
            text: "name = \"X\"\nversion = 1\n[disclosure]\nwithin = \"45 days\"\nexploited-grace = \"3d\"\ngrace-on-request = true\n",
            prefixes: ["p.toml:4: disclosure.within:", "p.toml:5: disclosure.exploited-grace:"], says: "45 days"),
        BadDocument(
            label: "bad holiday date", text: valid + "holidays = [\"2026-12-25\", \"2026-02-30\"]\n",
            prefixes: ["p.toml:3: holidays:"], says: "\"2026-02-30\" is not a date"),
        BadDocument(
            label: "wrong type", text: "name = \"P\"\nversion = \"1\"\n",
            prefixes: ["p.toml:2: version:"], says: "expected an integer, got a string"),
        BadDocument(
            label: "wrong type for a flag", text: valid + "[triage]\nwithin = \"7d\"\npause-while-waiting = \"yes\"\n",
            prefixes: ["p.toml:5: triage.pause-while-waiting:"], says: "expected true or false"),
        BadDocument(
            label: "bad time zone", text: valid + "time-zone = \"Berlin time\"\n",
            prefixes: ["p.toml:3: time-zone:"], says: "is not a time zone"),
        BadDocument(
            label: "bad enumeration", text: valid + "[fix]\nfrom = \"confirmation\"\n",
            prefixes: ["p.toml:4: fix.from:"], says: "write \"report\" or \"acceptance\""),
        BadDocument(
            label: "syntax: no value", text: valid + "credit-default =\n",
            prefixes: ["p.toml:3: credit-default:"], says: "missing value"),
        BadDocument(
            label: "syntax: unterminated string", text: "name = \"P\nversion = 1\n",
            prefixes: ["p.toml:1: name:"], says: "unterminated string"),
        BadDocument(
            label: "syntax: not a key", text: valid + "= 3\n",
            prefixes: ["p.toml:3: -:"], says: "expected key = value"),
        BadDocument(
            label: "syntax: multi-line array", text: valid + "workweek = [\"mon\",\n\"tue\"]\n",
            prefixes: ["p.toml:3: workweek:", "p.toml:4: -:"], says: "on one line"),
        BadDocument(
            label: "several problems at once",
            text: "version = 0\n[acknowledge]\nwithin = \"2x\"\n[bogus]\nx = 1\n",
            prefixes: ["p.toml:1: name:", "p.toml:1: version:", "p.toml:3: acknowledge.within:", "p.toml:4: bogus:"],
            says: "missing"),
    ]

    @Test("bad documents report every problem with its file, line and field", arguments: bad)
    func badDocuments(_ doc: BadDocument) {
        do {
            let policy = try Policy.parse(doc.text, file: "p.toml")
            Issue.record("parsed to \(policy)")
        } catch {
            let prefixes = error.issues.map { "\($0.file):\($0.line): \($0.field):" }
            #expect(prefixes == doc.prefixes, "\(error)")
            #expect(error.issues.first?.message.contains(doc.says) == true, "\(error)")
            #expect(error.description.split(separator: "\n").count == error.issues.count)
            #expect(error.coreError.code == .invalidPolicy)
        }
    }

    @Test(
        "a policy to adopt holds no control, line-separator or bidirectional characters, nor a stack of over 16 combining marks, in its text (named by file, line, field and character); one in the log still reads",
        arguments: [
            (#"name = "Aum\u001b[31mOS""# + "\nversion = 1\n", "p.toml:1: name:", "U+001B, character 4"),
            ("name = \"P\"\nversion = 1\nmodels = \"seed\u{202E}txt.md\"\n", "p.toml:3: models:", "U+202E, character 5"),
            ("name = \"P\"\nversion = 1\n[scope]\nin = [\"core\", \"a\\rb\"]\n", "p.toml:4: scope.in:", "entry 2 holds a control character (U+000D, character 2)"),
            ("name = \"Z" + String(repeating: "\u{301}", count: 17) + "\"\nversion = 1\n", "p.toml:1: name:", "name has 17 combining marks stacked on one character (character 1)"),
        ])
    func disruptiveText(_ text: String, prefix: String, says: String) throws {
        let error = #expect(throws: PolicyError.self) { try Policy.parse(text, file: "p.toml", adopting: true) }
        #expect(error?.issues.map { "\($0.file):\($0.line): \($0.field):" } == [prefix], "\(String(describing: error))")
        #expect(error?.issues.first?.message.contains(says) == true, "\(String(describing: error))")
        // Nothing of it is printed as it is.
        #expect(error?.description.unicodeScalars.contains { UntrustedText.isDisruptive($0) && $0 != "\n" } == false)
        // A policy recorded before the rule is read as it was adopted.
        #expect(try Policy.parse(text, file: "PolicyAdopted@1").version == 1)
    }

    @Test("a component both in and out of scope is refused for adoption, named by line and field; a policy in the log that has one still reads")
    func scopeInAndOut() throws {
        let text = "name = \"P\"\nversion = 1\n[scope]\nin = [\"core\", \"Parser  API\"]\nout = [\"docs\", \"parser api\"]\n"
        let error = #expect(throws: PolicyError.self) { try Policy.parse(text, file: "p.toml", adopting: true) }
        #expect(error?.issues.map { "\($0.file):\($0.line): \($0.field):" } == ["p.toml:5: scope.out:"], "\(String(describing: error))")
        #expect(error?.issues.first?.message.hasPrefix("\"parser api\" is in scope.in too") == true, "\(String(describing: error))")
        #expect(try Policy.parse(text, file: "PolicyAdopted@1").scopeOut == ["docs", "parser api"])
        // Different entries, however alike, are each their own.
        #expect(try Policy.parse(text.replacingOccurrences(of: "\"parser api\"", with: "\"parser api v1\""), file: "p.toml", adopting: true).scopeIn.count == 2)
    }

    @Test("every entry of an array that holds such a character is reported, by its place")
    func disruptiveEntries() {
        let text = "name = \"P\"\nversion = 1\n[scope]\nin = [\"a\\u001b[31mred\", \"fine\", \"b\\rOVER\"]\n"
        let error = #expect(throws: PolicyError.self) { try Policy.parse(text, file: "p.toml", adopting: true) }
        let messages = error?.issues.map(\.message) ?? []
        #expect(messages.count == 2, "\(messages)")
        #expect(messages.first?.hasPrefix("entry 1 holds a control character (U+001B, character 2)") == true, "\(messages)")
        #expect(messages.last?.hasPrefix("entry 3 holds a control character (U+000D, character 2)") == true, "\(messages)")
    }

    @Test("issues print as file:line: field: message")
    func issueFormat() {
        let issue = PolicyIssue(file: "a.toml", line: 7, field: "fix.high", message: "bad")
        #expect(issue.description == "a.toml:7: fix.high: bad")
    }

    @Test("defaults: UTC, Monday–Friday, no holidays, named credit, empty scope")
    func defaults() throws {
        let p = try Policy.parse(Self.valid, file: "p.toml")
        #expect(p == Policy(name: "P", version: 1))
        #expect(p.timeZone == "UTC")
        #expect(p.workweek.map(\.isoNumber) == [1, 2, 3, 4, 5])
        #expect(p.creditDefault == .named)
        #expect(p.acknowledge == nil && p.fix == nil && p.disclosure == nil)
    }

    @Test("TOML details: comments, blank lines, CRLF, literal strings, escapes, trailing commas, spaced headers")
    func lexicalDetails() throws {
        let text = "\u{FEFF}# a policy\r\nname = \"A \\\"quoted\\\" \\u00e9 name\" # trailing comment\r\n\r\n"
            + "version = +3\r\n\tmodels = 'C:\\seeds\\x.txt'\r\nworkweek = [ \"mon\", \"wed\", ]\r\n[ scope ] # the scope\r\nin = []\r\n"
        let p = try Policy.parse(text, file: "p.toml")
        #expect(p.name == "A \"quoted\" é name")
        #expect(p.version == 3)
        #expect(p.models == "C:\\seeds\\x.txt")
        #expect(p.workweek == [.monday, .wednesday])
        #expect(p.scopeIn.isEmpty)
    }

    @Test("a policy with every field round-trips through its canonical text")
    func fullRoundTrip() throws {
        let p = Policy(
            name: "Tab\there \"and\" back\\slash, é, \u{1}", version: 12, models: "x.txt", timeZone: "Europe/Berlin",
            workweek: [.sunday, .monday, .tuesday, .wednesday, .thursday], holidays: [try CivilDate("2026-12-25"), try CivilDate("2026-01-01")],
            acknowledge: ResponseClock(within: .hours(24), pausedWhileWaiting: true),
            triage: ResponseClock(within: .businessDays(3)), statusUpdateEvery: .days(14),
            fix: FixPolicy(targets: [.critical: .within(.hours(72)), .high: .within(.businessDays(10)), .low: .nextRelease], from: .acceptance, pausedWhileWaiting: true),
            disclosure: DisclosurePolicy(
                anchor: .report, within: .days(90), earliest: .days(30), afterFix: .days(30), grace: .days(14), exploited: .days(7),
                maxExtension: .days(60)),
            needsInfoAutoClose: .days(21), creditDefault: .handle, scopeIn: ["api", "web ui"], scopeOut: ["docs"], supportWindow: .days(365))
        let canonical = p.encodeCanonical()
        #expect(try Policy.parse(canonical, file: "c") == p)
        #expect(canonical.contains("name = \"Tab\\there \\\"and\\\" back\\\\slash, é, \\u0001\"\n"))
        #expect(canonical.contains("\n[fix]\nfrom = \"acceptance\"\npause-while-waiting = true\ncritical = \"72h\"\nhigh = \"10bd\"\nmedium = \"none\"\nlow = \"next-release\"\n"))
    }

    @Test("durations: h, d, w (as days) and bd; anything else is refused")
    func durations() throws {
        #expect(try PolicyDuration("48h") == .hours(48))
        #expect(try PolicyDuration("7d") == .days(7))
        #expect(try PolicyDuration("2w") == .days(14))
        #expect(try PolicyDuration("2w").description == "14d")
        #expect(try PolicyDuration("5bd") == .businessDays(5))
        #expect(try PolicyDuration("99999d") == .days(99_999))
        for bad in ["", "0d", "07d", "1.5d", "d", "5 d", "5D", "-1d", "5m", "100000d", "14286w", "bd5", "5dd"] {
            #expect(throws: CoreError.self, "\(bad)") { try PolicyDuration(bad) }
        }
        #expect(PolicyDuration.businessDays(5).countedMicroseconds == 5 * 86_400_000_000)
        #expect(PolicyDuration.hours(1).countedMicroseconds == 3_600_000_000)
    }

    @Test("fix targets: a severity without an entry has no target, and equality agrees")
    func fixTargets() throws {
        #expect(FixPolicy(targets: [.low: .none]) == FixPolicy(targets: [:]))
        #expect(FixPolicy(targets: [.low: .none]).hashValue == FixPolicy(targets: [:]).hashValue)
        #expect(try FixTarget("next-release") == .nextRelease)
        #expect(try FixTarget("none") == FixTarget.none)
        #expect(try FixTarget("3bd") == .within(.businessDays(3)))
        #expect(throws: CoreError.self) { try FixTarget("asap") }
    }

    @Test("targets in business days and calendar days are not compared")
    func incomparableTargets() throws {
        let p = try Policy.parse(Self.valid + "[fix]\ncritical = \"10bd\"\nhigh = \"7d\"\n", file: "p.toml")
        #expect(p.fix?.target(for: .critical) == .within(.businessDays(10)))
    }
}
