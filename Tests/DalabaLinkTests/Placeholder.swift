import Testing
@testable import DalabaLink

@Test func moduleBuilds() {}
