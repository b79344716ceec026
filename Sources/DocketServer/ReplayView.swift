import DocketCore
import DocketWire

extension ViewRenderer {
    /// Every view as it stood at the projection's instant (`docket replay`, DESIGN §7): the
    /// advisory state of every report, every clock (not-applicable and ended ones included), and
    /// for each project its policy, hall of fame and programme metrics. One fold serves them all.
    /// For admins, auditors and maintainers (a maintainer sees their project only).
    func renderReplay(window: Duration) throws -> Value {
        guard [.admin, .auditor, .maintainer].contains(principal.role) else {
            throw Forbidden("replaying every view is for admins, auditors and maintainers")
        }
        var names = Set(projection.projects.keys)
        for r in projection.reports.values { names.insert(r.project) }
        let projects = names.filter { principal.role != .maintainer || Principal.sameProject(principal.project, $0) }.sorted()
        // Every clock is computed once, for the timers and each project's metrics alike, and the
        // reports are grouped by project once: the same rows as the `state`, `timers`,
        // `hall-of-fame` and `metrics` queries give, without each query's pass over every report.
        let visible = self.visible
        let reportClocks = Timers.clocks(for: visible, in: projection, now: now)
        let reports = Value.array(visible.map(row))
        let clocks = Value.array(reportClocks.flatMap { $0.map(Self.clockValue) })
        var byProject: [String: [Int]] = [:]
        for (i, r) in visible.enumerated() { byProject[r.project, default: []].append(i) }
        let grouped = projects.map { name in
            let mine = byProject[name] ?? []
            return (name: name, reports: mine.map { visible[$0] }, clocks: mine.map { reportClocks[$0] })
        }
        let views = ProjectViews.compute(grouped, projection: projection, window: window, now: now)
        var perProject: [Value] = []
        for (name, summary) in zip(projects, views) {
            var members: [(key: String, value: Value)] = [("project", .string(name))]
            // The one in force at the view's instant, as the policy view marks it (an adoption
            // dated a little ahead of the node's clock is not yet).
            if let adopted = projection.projects[name]?.policy(at: now) {
                members.append((
                    "policy",
                    .object([
                        ("name", .string(adopted.policy.name)), ("version", .int(Int64(adopted.policy.version))),
                        ("adoptedAt", .string(adopted.adoptedAt.rfc3339)), ("seq", .int(Int64(adopted.sequence))),
                    ])
                ))
            } else {
                members.append(("policy", .null))
            }
            members.append(("hallOfFame", Self.hallOfFameValue(summary.hallOfFame)))
            members.append(("metrics", Self.metricsValue(summary.metrics)))
            perProject.append(.object(members))
        }
        let asOfValue: Value =
            switch asOf {
            case .latest: .null
            case .instant(let t): .object([("time", .string(t.rfc3339))])
            case .sequence(let n, _): .object([("seq", .int(Int64(bitPattern: n)))])
            case .recorded(let t): .object([("recorded", .string(t.rfc3339))])
            }
        var members: [(key: String, value: Value)] = [("asOf", asOfValue), ("evaluatedAt", .string(now.rfc3339))]
        // The last event folded, and the events of report and project streams that did not decode
        // (which no view shows): for those who read the whole log. A maintainer's would be of
        // other projects' streams too: as of one instant after another, the last sequence folded
        // would tell when each of their records was made (or dated).
        if principal.role != .maintainer {
            members.append(("lastSequence", .int(Int64(projection.lastSequence))))
            members.append(("undecodable", .int(Int64(projection.undecodable))))
        }
        members += [("reports", reports), ("timers", clocks), ("projects", .array(perProject))]
        return .object(members)
    }
}
