import CMosquitto
import DalabaCore

/// The county link: region codes, signed messages and the broker client shared by village and head-end.
public enum DalabaLink {}
