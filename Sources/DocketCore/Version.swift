/// Docket's release, as the CLI, the handshake and STATUS give it. Raised whenever what a node
/// makes of the same log changes, so that during a rolling upgrade `docket status` tells the
/// nodes apart. 0.2.0: handles are told apart without an `@` in front (views checkpoint
/// format 11), and the hall of fame leaves out e-mail handles beside names. 0.3.0: mathematical
/// and circled letters in handles read as ASCII (format 12, made after 0.2.0 was named); the
/// `policy` view; a reporter's response must carry the answer; clock notes name a backdated
/// closing only on clocks the policy sets; replay's project policy is the one in force. 0.3.1: a
/// maintainer's view as of a sequence must name one of their project's events, and STATUS tells
/// them no head or rate; only an admin's
/// or a standby's replica token may depose a leader (`token create --standby`). 0.3.2: reports
/// and streams are told apart by the bytes of their names (two spellings of one canonical form
/// are two), a report stream whose name is not UTF-8 or a project stream whose name is not ASCII
/// is in no view (format 13), and raw appends to the reserved streams are refused by bytes; a
/// promoted node records when its previous leader knows of its epoch (`replication.json`'s `told`).
public enum DocketVersion {
    public static let current = "0.3.2"
}
