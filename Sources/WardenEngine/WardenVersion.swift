/// The release; `make deb` reads it from this file.
public enum WardenVersion {
    public static let current = "0.1.0"
}
