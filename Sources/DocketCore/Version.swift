/// Docket's release, as the CLI, the handshake and STATUS give it.
public enum DocketVersion {
    public static let current = "0.1.0"
}
