import CGPIOD
import DalabaCore

/// Loudspeaker hardware: the amplifier backends.
public enum DalabaHardware {}
