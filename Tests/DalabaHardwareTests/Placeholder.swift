import Testing
@testable import DalabaHardware

@Test func moduleBuilds() {}
