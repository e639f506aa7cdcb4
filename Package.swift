// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Dalaba",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "dalabad", targets: ["dalabad"]),
        .executable(name: "dalaba", targets: ["dalaba"]),
        .executable(name: "dalaba-county", targets: ["dalaba-county"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/vapor/multipart-kit.git", from: "4.7.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // The C surface: system libraries and one shim for what Swift cannot call.
        .systemLibrary(name: "CALSA", pkgConfig: "alsa", providers: [.apt(["libasound2-dev"])]),
        .systemLibrary(name: "CSndFile", pkgConfig: "sndfile", providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(name: "CSampleRate", pkgConfig: "samplerate", providers: [.apt(["libsamplerate0-dev"])]),
        .systemLibrary(name: "CSoxr", pkgConfig: "soxr", providers: [.apt(["libsoxr-dev"])]),
        .systemLibrary(name: "CEBUR128", pkgConfig: "libebur128", providers: [.apt(["libebur128-dev"])]),
        .target(name: "CALSAShim", dependencies: ["CALSA"]),
        .systemLibrary(name: "CXMLSec", pkgConfig: "xmlsec1-openssl", providers: [.apt(["libxmlsec1-dev"])]),
        .systemLibrary(name: "CMosquitto", pkgConfig: "libmosquitto", providers: [.apt(["libmosquitto-dev"])]),
        .systemLibrary(name: "CGPIOD", pkgConfig: "libgpiod", providers: [.apt(["libgpiod-dev"])]),
        .systemLibrary(name: "CMpg123", pkgConfig: "libmpg123", providers: [.apt(["libmpg123-dev"])]),
        .systemLibrary(name: "CVorbisFile", pkgConfig: "vorbisfile", providers: [.apt(["libvorbis-dev"])]),
        .systemLibrary(name: "COpusFile", pkgConfig: "opusfile", providers: [.apt(["libopusfile-dev"])]),

        // Pure core: no I/O, no C, no clock reads.
        .target(name: "DalabaCore"),

        // Child processes by posix_spawn, reaped by their pid: no Foundation Process, whose exit notice a child can hold up.
        .target(name: "DalabaProcess"),

        // Schedule files, recurrence rules and the Scheduler state machine: pure, takes file contents and `now` as values.
        // YAML through the libyaml that Yams builds (CYaml), read event by event with limits: every node keeps its line, so
        // `dalaba schedule check` names file and line for every error, and no file can make the parser hold a core.
        .target(name: "DalabaSchedule", dependencies: ["DalabaCore", .product(name: "Yams", package: "Yams")]),

        // CAP 1.2 alerts: parsing, validation and the broadcast policy; pure (no file or network I/O).
        .target(name: "DalabaAlerts", dependencies: ["DalabaCore", .product(name: "Crypto", package: "swift-crypto")]),
        // Enveloped XML-DSig verification of CAP alerts: the only Swift module on xmlsec1.
        .target(name: "DalabaXMLSignature", dependencies: ["DalabaAlerts", "CXMLSec"]),

        // The only Swift module that imports C: decoding, conversion, ALSA output, the player thread.
        .target(
            name: "DalabaAudio",
            dependencies: [
                "DalabaCore", "DalabaProcess", "CALSA", "CALSAShim", "CSndFile", "CSampleRate", "CSoxr", "CEBUR128", "CMpg123", "CVorbisFile", "COpusFile",
                .product(name: "Logging", package: "swift-log"),
                // Relays: a streaming GET of an Icecast/HTTP stream, its body handed over as it arrives.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),

        // SQLite via GRDB: the persistent queue and the hash-chained airtime log.
        .target(
            name: "DalabaStore",
            dependencies: [
                "DalabaCore", "DalabaSchedule", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),

        // Strict decoders of what arrives over HTTP (queue requests, uploads): pure, no Hummingbird, so they fuzz cheaply.
        .target(name: "DalabaIntake", dependencies: ["DalabaCore", .product(name: "MultipartKit", package: "multipart-kit")]),

        // The HTTP API and the officials' console.
        .target(
            name: "DalabaServer",
            dependencies: [
                "DalabaCore", "DalabaStore", "DalabaStation", "DalabaSchedule", "DalabaAlerts", "DalabaIntake", "DalabaXMLSignature",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "MultipartKit", package: "multipart-kit"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            // The console's pages (swift-mustache templates), its stylesheet and its one small script.
            resources: [.copy("Templates")]
        ),

        // One strict TOML configuration file through TOMLKit's decoder, shared by the station and the county head-end.
        .target(name: "DalabaConfig", dependencies: [.product(name: "TOMLKit", package: "TOMLKit")]),

        // The station: configuration, and the Station actor that owns the queue and drives the player.
        .target(
            name: "DalabaStation",
            dependencies: [
                "DalabaCore", "DalabaAudio", "DalabaStore", "DalabaSchedule", "DalabaIntake", "DalabaHardware", "DalabaConfig", "DalabaProcess",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),

        // Daemon wiring: services under swift-service-lifecycle.
        .target(
            name: "DalabaDaemon",
            dependencies: [
                "DalabaStation", "DalabaServer", "DalabaAudio", "DalabaStore", "DalabaLink",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .executableTarget(name: "dalabad", dependencies: ["DalabaDaemon"]),

        .target(
            name: "DalabaCLI",
            dependencies: [
                "DalabaCore", "DalabaAudio", "DalabaSchedule", "DalabaStation", "DalabaHardware",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MultipartKit", package: "multipart-kit"),
            ]
        ),
        .executableTarget(name: "dalaba", dependencies: ["DalabaCLI"]),

        // The county link, shared by village and head-end: region codes, signed messages (Ed25519), topics, and the one
        // Swift module on libmosquitto (one type per mosquitto handle, its network loop on its own thread).
        .target(
            name: "DalabaLink",
            dependencies: [
                "DalabaCore", "CMosquitto",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The county head-end: PostgreSQL (postgres-nio) for every village's log, receipts and state; fan-out; reports.
        .target(
            name: "DalabaCounty",
            dependencies: [
                "DalabaCore", "DalabaLink", "DalabaAudio", "DalabaIntake", "DalabaConfig",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            // The read-only console's pages (swift-mustache templates).
            resources: [.copy("Templates")]
        ),
        .executableTarget(name: "dalaba-county", dependencies: ["DalabaCounty"]),
        // The amplifier and other loudspeaker hardware: the one Swift module on libgpiod; the command backend.
        .target(name: "DalabaHardware", dependencies: ["DalabaCore", "DalabaProcess", "CGPIOD", .product(name: "Logging", package: "swift-log")]),

        .testTarget(
            name: "DalabaCoreTests",
            dependencies: ["DalabaCore", .product(name: "PropertyBased", package: "swift-property-based")]
        ),
        .testTarget(name: "DalabaStoreTests", dependencies: ["DalabaStore", "DalabaCore", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "DalabaIntakeTests", dependencies: ["DalabaIntake", "DalabaCore"]),
        .testTarget(name: "DalabaLinkTests", dependencies: ["DalabaLink", "DalabaCore", "DalabaStore", "DalabaAudio", "DalabaStation", "DalabaTestSupport"]),
        .testTarget(
            name: "DalabaCountyTests",
            dependencies: ["DalabaCounty", "DalabaLink", "DalabaCore", "DalabaTestSupport", .product(name: "PostgresNIO", package: "postgres-nio")]
        ),
        .testTarget(name: "DalabaHardwareTests", dependencies: ["DalabaHardware", "DalabaCore", "DalabaStation", "DalabaAudio", "DalabaTestSupport"]),
        .executableTarget(name: "FuzzAnnouncementRequest", dependencies: ["FuzzReplay", "DalabaIntake"], path: "Tests/Fuzz/FuzzAnnouncementRequest"),
        .executableTarget(name: "FuzzMultipart", dependencies: ["FuzzReplay", "DalabaIntake"], path: "Tests/Fuzz/FuzzMultipart"),
        // The county benchmarks' simulated villages: the real link code (VillageLink, BrokerClient), many in one process.
        .executableTarget(
            name: "VillageSwarm",
            dependencies: ["DalabaLink", "DalabaCore", .product(name: "Logging", package: "swift-log")],
            path: "Tests/Benchmarks/VillageSwarm"
        ),
        .testTarget(name: "DalabaAlertsTests", dependencies: ["DalabaAlerts", "DalabaCore"]),
        .testTarget(name: "DalabaXMLSignatureTests", dependencies: ["DalabaXMLSignature", "DalabaAlerts"], resources: [.copy("Fixtures")]),
        // Malformed/ is the malformed-schedule corpus, read by path as data (by the CLI and service tests too).
        .testTarget(name: "DalabaScheduleTests", dependencies: ["DalabaSchedule", "DalabaCore"], exclude: ["Malformed"]),
        // DalabaDaemon for CountyAudioFetch, tried directly against a hostile server.
        .testTarget(
            name: "DalabaDaemonTests",
            dependencies: ["DalabaTestSupport", "DalabaStation", "DalabaAudio", "DalabaCore", "DalabaDaemon", "DalabaLink"]
        ),
        .target(name: "DalabaTestSupport", dependencies: ["DalabaAudio", "DalabaProcess"], path: "Tests/DalabaTestSupport"),
        .testTarget(
            name: "DalabaServerTests",
            dependencies: [
                "DalabaServer", "DalabaStation", "DalabaStore", "DalabaCore", "DalabaAudio", "DalabaTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // libFuzzer targets (Tests/Fuzz/run.sh builds them with -sanitize=fuzzer,address -DFUZZING); a plain build makes
        // corpus replayers, which FuzzCorpusTests runs over every seed and saved crash.
        .target(name: "FuzzReplay", path: "Tests/Fuzz/Support/FuzzReplay"),
        .executableTarget(name: "FuzzCAP", dependencies: ["FuzzReplay", "DalabaAlerts"], path: "Tests/Fuzz/FuzzCAP"),
        .executableTarget(name: "FuzzSchedule", dependencies: ["FuzzReplay", "DalabaSchedule"], path: "Tests/Fuzz/FuzzSchedule"),
        .testTarget(name: "FuzzCorpusTests", dependencies: ["DalabaTestSupport"], path: "Tests/FuzzCorpusTests"),
        .testTarget(name: "DalabaAudioTests", dependencies: ["DalabaAudio", "DalabaCore", "DalabaTestSupport"]),
        .testTarget(
            name: "DalabaScheduleServiceTests",
            dependencies: [
                "DalabaStation", "DalabaSchedule", "DalabaStore", "DalabaAudio", "DalabaCore", "DalabaTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
