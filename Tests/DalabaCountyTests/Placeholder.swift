import Testing
@testable import DalabaCounty

@Test func moduleBuilds() {}
