/// The release `rtvirtio --version` prints; bumped with each tagged release.
public enum RTVirtIOVersion {
    public static let current = "0.1.0"
}
