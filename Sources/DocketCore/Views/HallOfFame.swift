/// The people a project credits, per year of disclosure (DESIGN §3.3).
///
/// Only disclosed reports count (a withdrawn advisory's credits go with it). Each person is
/// credited as they asked: by display name, by handle, or not at all; anonymous reporters are
/// counted but never named. Contacts never appear.
public struct HallOfFame: Hashable, Sendable {
    public struct Entry: Hashable, Sendable {
        /// What the credit shows: the display name or the handle.
        public var credited: String
        /// Their handle.
        public var handle: String
        /// Whether the hall shows the handle: not when it is an e-mail address beside the name
        /// the credit shows (a report that came in by e-mail is often filed under its sender's
        /// address, and a contact is not published because the person asked to be named).
        public var showsHandle: Bool { credited == handle || !HallOfFame.isEmailAddress(handle) }
        public var types: [CreditType]
        /// Report ids and, when published, their advisory ids (GHSA, then CVE, where a report has both).
        public var reports: [String]
        public var advisories: [String]
    }

    public var project: String
    public var year: Int64?
    public var entries: [Entry]
    /// Credits given anonymously: counted (once per report and person, people not told apart),
    /// never named.
    public var anonymous: Int
    public var disclosedReports: Int

    /// `year`, when given, is a year of the calendar of the project's current policy (its time
    /// zone: `yearZone`).
    public init(projection: Projection, project: String, year: Int64?, now: Timestamp) {
        self.init(
            reports: projection.reports.values.filter { $0.project == project }, project: project, year: year, now: now,
            zone: Self.yearZone(of: project, in: projection))
    }

    /// The time zone a project's years are told in: its current policy's, as its deadlines are
    /// (a report disclosed on 31 December at 23:30 in New York is credited in that year, not the
    /// next); UTC for a project with no policy.
    public static func yearZone(of project: String, in projection: Projection) -> ZoneRules {
        projection.projects[project]?.currentPolicy?.calendar.zone ?? .utc
    }

    /// The hall of fame of `project` from `reports`, which hold at least that project's reports
    /// (`Projection.reportsByProject` gives each project's alone); `year` told in `zone`.
    public init(reports: [Report], project: String, year: Int64?, now: Timestamp, zone: ZoneRules) {
        self.project = project
        self.year = year
        var found: [Entry] = []
        var position: [String: Int] = [:]
        // Credits, not people: counting people would show, as reports are disclosed, that one
        // anonymous researcher is behind several of them, and link those reports.
        var anonymous = 0
        var disclosed = 0
        // In order of disclosure (then id): the disclosure times are read once, not at every comparison.
        var keyed: [(at: Timestamp, report: Report)] = []
        let local = BusinessCalendar(zone: zone)
        for r in reports where r.project == project && r.state == .disclosed {
            guard let at = r.disclosedAt, at <= now else { continue }
            if let year, Int64(local.localDate(of: at).year) != year { continue }
            keyed.append((at, r))
        }
        keyed.sort { $0.at != $1.at ? $0.at < $1.at : $0.report.id.utf8.lexicographicallyPrecedes($1.report.id.utf8) }
        for (_, r) in keyed {
            disclosed += 1
            // People are told apart as credits are (`Report.personKey`): "Ann" and "ann" are one
            // person, credited once per report and listed once.
            let reporterKey = Report.personKey(r.reporter.handle)
            // The reporter's credit, then the others' accepted ones (taken in place, not gathered
            // into an array for every report).
            func credit(_ c: CreditRecord) {
                switch c.preference {
                case .none: return
                case .anonymous:
                    anonymous += 1
                    return
                case .named, .handle:
                    let person = Report.personKey(c.person)
                    // The page writes its own @ before a handle: one from before handles could not
                    // begin with it ("@bob") is shown as "bob".
                    let handle = Self.shownHandle(c.person)
                    let shown = c.preference == .named ? (c.displayName ?? (person == reporterKey ? r.reporter.name : nil) ?? handle) : handle
                    // One entry per person and way of showing them: someone named on one report and
                    // credited by handle only on another must not have their name put on the second.
                    let key = shown == handle ? person : person + "\u{0}" + shown
                    // In place: a person credited for many reports must not have their list copied for each.
                    let k: Int
                    if let known = position[key] {
                        k = known
                    } else {
                        k = found.count
                        position[key] = k
                        found.append(Entry(credited: shown, handle: handle, types: [], reports: [], advisories: []))
                    }
                    for t in c.acceptedTypes where !found[k].types.contains(t) { found[k].types.append(t) }
                    found[k].reports.append(r.id)
                    // Both ids where both were published: readers look a flaw up by either.
                    if let ghsa = r.ghsa { found[k].advisories.append(ghsa) }
                    if let cve = r.cve { found[k].advisories.append(cve) }
                }
            }
            if var own = r.reporterCredit {
                if own.status == .offered { own.preference = r.reporter.credit; own.displayName = r.reporter.name }
                credit(own)
            }
            for c in r.credits where c.status == .accepted && Report.personKey(c.person) != reporterKey { credit(c) }
        }
        entries = found
        self.anonymous = anonymous
        self.disclosedReports = disclosed
    }

    /// A `CREDITS.md` section.
    public var markdown: String {
        var s = "## Security researchers\n\n"
        s += "We thank the people who reported vulnerabilities in \(Self.escape(project))"
        s += year.map { " and helped us fix them in \($0)" } ?? " and helped us fix them"
        s += ".\n\n"
        if entries.isEmpty && anonymous == 0 {
            return s + (year.map { "_No credited reports in \($0)._\n" } ?? "_No credited reports yet._\n")
        }
        for e in entries {
            // The `@` before a handle is followed by a word joiner as every `@` in the text is
            // (`escape`): pasted into release notes or an issue, "@ada" would mention, and notify,
            // whoever holds that name on GitHub, who need not be this reporter.
            let handle = "@\u{2060}" + Self.escape(e.handle)
            var line = "- " + (e.credited == e.handle ? handle : Self.escape(e.credited) + (e.showsHandle ? " (\(handle))" : ""))
            let kinds = e.types.map { $0.rawValue.lowercased().replacingUnderscores() }.joined(separator: ", ")
            line += " — \(kinds)"
            // Advisory ids (CVE-2026-1234, GHSA-…) are checked when recorded: letters, digits and
            // hyphens, which mid-line format nothing, so they are written as they are (escaped,
            // they read "CVE\-2026\-1234" in the CREDITS.md file itself).
            line += e.advisories.isEmpty ? "" : "; " + e.advisories.map { Self.isPlainIdentifier($0) ? $0 : Self.escape($0) }.joined(separator: ", ")
            s += line + "\n"
        }
        if anonymous > 0 {
            s += "- \(entries.isEmpty ? "" : "and ")\(anonymous) credit\(anonymous == 1 ? "" : "s") to researchers who remain anonymous\n"
        }
        return s
    }

    /// The same as JSON.
    public var json: Value {
        var members: [(key: String, value: Value)] = [("project", .string(project))]
        if let year { members.append(("year", .int(year))) }
        members.append(("disclosedReports", .int(Int64(disclosedReports))))
        members.append(("credited", .array(entries.map { e in
            var m: [(key: String, value: Value)] = [("name", .string(e.credited))]
            if e.showsHandle { m.append(("handle", .string(e.handle))) }
            m.append(("types", .array(e.types.map { .string($0.rawValue) })))
            m.append(("reports", .array(e.reports.map { .string($0) })))
            m.append(("advisories", .array(e.advisories.map { .string($0) })))
            return .object(m)
        })))
        members.append(("anonymous", .int(Int64(anonymous))))
        return .object(members)
    }

    /// `handle` as the hall shows it: without surrounding space or an `@` in front, which a log
    /// may hold from before they were refused (`UntrustedText.identityRefusal`).
    static func shownHandle(_ handle: String) -> String {
        // Nearly every handle: ASCII at both ends, neither a space nor an @ in front.
        if let first = handle.utf8.first, let last = handle.utf8.last, first > 0x20, first < 0x80, first != UInt8(ascii: "@"), last > 0x20, last < 0x80 {
            return handle
        }
        return String(UntrustedText.bareHandle(handle))
    }

    /// Whether a handle is an e-mail address: something, an `@`, and a domain with a dot in it.
    public static func isEmailAddress(_ handle: String) -> Bool {
        // As handles are compared: a log may hold one from before surrounding space was refused.
        let handle = Report.personKey(handle)
        guard let at = handle.lastIndex(of: "@"), at != handle.startIndex else { return false }
        let domain = handle[handle.index(after: at)...]
        return domain.contains(".") && domain.first != "." && domain.last != "." && !handle.contains { $0.isWhitespace }
    }

    /// Letters, digits and inner hyphens only: text Markdown renders as it is, mid-line.
    static func isPlainIdentifier(_ s: String) -> Bool {
        !s.isEmpty && s.first != "-" && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D }
    }

    /// Markdown-escapes text supplied by reporters so a name cannot inject links or formatting
    /// (nor control characters: `UntrustedText`), as GitHub renders a CREDITS.md (GFM). Scalar by
    /// scalar, since a parser sees `.` in a `.` followed by a combining mark:
    /// - every ASCII punctuation mark is backslash-escaped (`&` entities, `$` math, `:` schemes,
    ///   `.` in `www.` included);
    /// - a character that begins with `@`, `:` or `#` is followed by a WORD JOINER (U+2060,
    ///   invisible; after any marks on it, which a keycap such as #️⃣ is made of): GFM makes any
    ///   `a@b.c` a mailto link, escaped or not, emoji `:codes:` are replaced after rendering, and
    ///   where the section is pasted into release notes or an issue, `#123` and `owner/repo#5`
    ///   would link to someone else's issue; so does the `-` of `GH-123`, and every sixth digit
    ///   of a run of 7 or more hex digits, which GitHub would link as a commit;
    /// - white space at either end is dropped: four leading spaces would make a code block.
    static func escape(_ s: String) -> String {
        var kept = String.UnicodeScalarView()
        // Of the combining marks on one character, the first `UntrustedText.maximumMarks`: a log
        // may hold a name from before more were refused, and the rest would run over the list's
        // other lines.
        for scalar in UntrustedText.cappingMarks(s).unicodeScalars {
            // Every line break (CR, LF and Unicode's own) becomes a space: a name must not end its
            // list item and start a heading or a paragraph of its own. Escape sequences, NULs and
            // bidirectional overrides are left out altogether.
            if Self.isLineBreak(scalar) {
                kept.append(" ")
            } else if !UntrustedText.isDisruptive(scalar) {
                kept.append(scalar)
            }
        }
        var out = String.UnicodeScalarView()
        let characters = Array(String(kept).drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
        // How far into a run of hex digits the character is (1, 2, …; 0 outside one), and where
        // that run ends if it is long enough to be taken for a commit (0 if not).
        var hexRun = 0
        var longRunEnds = 0
        for (i, character) in characters.enumerated() {
            for scalar in character.unicodeScalars {
                if scalar.isASCII, Self.markdownPunctuation.contains(UInt8(scalar.value)) { out.append("\\") }
                out.append(scalar)
            }
            if Self.beginsWithHexDigit(character) {
                if hexRun == 0 {
                    var end = i
                    while end < characters.count, Self.beginsWithHexDigit(characters[end]) { end += 1 }
                    longRunEnds = end - i >= Self.shortestCommit ? end : 0
                }
                hexRun += 1
            } else {
                hexRun = 0
            }
            // After the whole character: inside it, the joiner would break a keycap (#️⃣).
            if let first = character.unicodeScalars.first, first == "@" || first == ":" || first == "#" {
                out.append("\u{2060}")
            } else if character == "-", i >= 2, characters[i - 2].lowercased() == "g", characters[i - 1].lowercased() == "h" {
                // "GH-123" (GitHub's other way of writing #123).
                out.append("\u{2060}")
            } else if hexRun > 0, hexRun % (Self.shortestCommit - 1) == 0, i + 1 < longRunEnds {
                // A commit hash GitHub would link (7 hex digits or more): cut into pieces too short for one.
                out.append("\u{2060}")
            }
        }
        return String(out)
    }

    /// The fewest hex digits GitHub links as a commit.
    private static let shortestCommit = 7

    /// Whether `character` begins with an ASCII hex digit: one with marks on it, or a keycap
    /// (1️⃣), still holds the digit GitHub would read as part of a commit hash.
    private static func beginsWithHexDigit(_ character: Character) -> Bool {
        guard let first = character.unicodeScalars.first, first.isASCII else { return false }
        return first.properties.isASCIIHexDigit
    }

    /// ASCII punctuation (CommonMark lets any of it be backslash-escaped).
    private static let markdownPunctuation = Set(Array("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".utf8))

    private static func isLineBreak(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0A, 0x0B, 0x0C, 0x0D, 0x85, 0x2028, 0x2029: true
        default: false
        }
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String { String(map { $0 == "_" ? " " : $0 }) }
}
