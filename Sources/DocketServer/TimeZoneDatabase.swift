public import DocketCore
import Foundation

/// The machine's tz database (`TZDIR`, else `/usr/share/zoneinfo`): where the rules of a policy's
/// IANA time zone come from when it is adopted. They are recorded in the adoption, so every copy
/// of the ledger evaluates the same deadlines whatever tz database it has.
public enum TimeZoneDatabase {
    public static var root: String { ProcessInfo.processInfo.environment["TZDIR"] ?? "/usr/share/zoneinfo" }

    /// Why the rules of a zone could not be loaded.
    public enum Failure: Error, Sendable {
        /// No file for the id under `root`.
        case unknown(root: String)
        /// The file is there but is not a TZif file Docket reads.
        case unreadable(path: String, message: String)
    }

    /// The rules of `id`: `UTC` and fixed offsets (`+05:30`) without the database, IANA ids from it.
    public static func rules(_ id: String) throws(Failure) -> ZoneRules {
        if id == "Etc/UTC" { return .utc }
        if let builtIn = ZoneRules.builtIn(id) { return builtIn }
        let root = root
        var isDirectory: ObjCBool = false
        let path = root + "/" + id
        guard !climbsOut(id), FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
            let bytes = FileManager.default.contents(atPath: path)
        else { throw .unknown(root: root) }
        do { return try ZoneRules(identifier: id, tzif: [UInt8](bytes)) } catch { throw .unreadable(path: path, message: error.message) }
    }

    /// Whether `id` names a path with a `..` component, which could leave the database. By bytes:
    /// a "/" followed by a combining mark is one `Character`, which splitting the string would not
    /// split at ("../\u{301}x" names a file in the database's parent).
    static func climbsOut(_ id: String) -> Bool {
        id.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).contains { $0.elementsEqual("..".utf8) }
    }

    /// Refuses zone rules a client sent with a policy (`policy-adopt`) that disagree with this
    /// machine's tz database from `adoptedAt` on (no report held to the policy has a deadline
    /// before), where it knows the zone: one of the two is out of date, and the deadlines of every
    /// report held to the policy would follow the rules recorded now, for good. A node without the
    /// zone in its database takes the client's rules.
    public static func check(_ sent: ZoneRules, from adoptedAt: Timestamp) throws(DomainError) {
        guard let own = try? rules(sent.identifier), let (at, mine, theirs) = own.firstDifference(from: sent, since: adoptedAt) else { return }
        func offset(_ s: Int) -> String {
            let a = abs(s)
            return (s < 0 ? "-" : "+") + String(format: "%02d:%02d", a / 3600, a / 60 % 60) + (a % 60 == 0 ? "" : String(format: ":%02d", a % 60))
        }
        throw DomainError(
            .invalidCommand,
            "the rules of time zone \(sent.identifier) sent with the policy differ from this node's tz database: "
                + "from \(at.rfc3339) the policy's say UTC\(offset(theirs)), the node's UTC\(offset(mine)). "
                + "The two machines' tzdata differ: update the older one, then adopt again")
    }
}
