/// Programme metrics over a trailing window (DESIGN §3.2): median time from submission to each
/// milestone, and the share of clocks that ended met among those that ended. The medians are of
/// calendar time, as reporters waited (pauses and weekends included), over the reports that reached
/// the milestone; the targets count clocks as the timers view judges them (protocol.md §8.6).
public struct ProgrammeMetrics: Hashable, Sendable {
    public struct Milestone: Hashable, Sendable {
        public var name: String
        /// Reports in the window that reached the milestone.
        public var count: Int
        public var median: Duration?
    }

    public struct Target: Hashable, Sendable {
        public var clock: ClockKind
        public var met: Int
        public var breached: Int
        /// Still running or paused (clocks not applicable are not counted at all).
        public var open: Int
        /// met / (met + breached), nil when none ended.
        public var share: Double? { met + breached == 0 ? nil : Double(met) / Double(met + breached) }
    }

    public var project: String
    public var from: Timestamp
    public var to: Timestamp
    public var reports: Int
    public var milestones: [Milestone]
    public var targets: [Target]

    /// Reports of `project` submitted in `(now − window, now]`, held to the policies of
    /// `projection`: windows laid end to end count each report once.
    public init(projection: Projection, project: String, window: Duration, now: Timestamp) {
        self.init(projection: projection, project: project, reports: projection.reports.values.filter { $0.project == project }, window: window, now: now)
    }

    /// The same from `reports`, which hold at least the project's reports (`Projection.reportsByProject`
    /// gives each project's alone). `clocks`, when given, are the clocks of `reports` already
    /// computed at `now` (the timers view), in the same order.
    public init(
        projection: Projection, project: String, reports all: [Report], window: Duration, now: Timestamp, clocks: [[Clock]]? = nil
    ) {
        precondition(clocks == nil || clocks!.count == all.count, "clocks must be those of the reports, in order")
        self.project = project
        let from = now + .microseconds(-window.microseconds)
        self.from = from
        to = now
        let inWindow = all.indices.filter { all[$0].project == project && all[$0].submittedAt > from && all[$0].submittedAt <= now }
        let reports = inWindow.map { all[$0] }
        self.reports = reports.count
        let pick: [(String, (Report) -> Timestamp?)] = [
            ("first response", { $0.acknowledgedAt }), ("triage", { $0.acceptedAt }),
            ("fix", { $0.fixReleasedAt }), ("disclosure", { $0.disclosedAt }),
        ]
        milestones = pick.map { name, at in
            let spans = reports.compactMap { r in at(r).flatMap { $0 <= now ? ($0 - r.submittedAt).microseconds : nil } }.sorted()
            return Milestone(name: name, count: spans.count, median: Self.median(spans).map { .microseconds($0) })
        }
        let kinds = ClockKind.allCases  // made once: each use of `allCases` builds the array anew
        var tally = kinds.map { Target(clock: $0, met: 0, breached: 0, open: 0) }
        func count(_ reportClocks: [Clock]) {
            // Only each clock's kind and state are read, in place.
            for j in reportClocks.indices {
                let k = kinds.firstIndex(of: reportClocks[j].kind)!
                switch reportClocks[j].state {
                case .met: tally[k].met += 1
                case .breached: tally[k].breached += 1
                case .running, .paused: tally[k].open += 1
                case .notApplicable: break
                }
            }
        }
        for i in inWindow {
            if let clocks {
                count(clocks[i])
            } else {
                count(Timers.clocks(for: all[i], policy: projection.policy(for: all[i]), now: now, allHappened: true))
            }
        }
        targets = tally
    }

    /// The median of sorted values (the mean of the middle two for an even count), nil if empty.
    static func median(_ sorted: [Int64]) -> Int64? {
        guard !sorted.isEmpty else { return nil }
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }
}
