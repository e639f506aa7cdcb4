import DalabaLink
import PostgresNIO

/// The county head-end.
public enum DalabaCounty {}
