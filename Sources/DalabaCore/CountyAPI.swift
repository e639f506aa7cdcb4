import Foundation

/// The JSON of the county head-end's own endpoints (`dalaba-county`), shared by the head-end and the `dalaba` tool.
public enum CountyAPI {
    /// `POST /v1/announcements` at the head-end answers this (202): recorded, signed and on its way to the villages.
    public struct Accepted: Codable, Sendable, Equatable {
        public var id: String
        /// The signed message's id (villages act on it once).
        public var message: String
        /// `accepted`, or `duplicate` when an announcement with this id was accepted before (nothing sent again).
        public var status: String
        public var targets: [String]
        /// The villages the targets reach.
        public var villages: [String]
        public var tier: String
        public var audio: Audio

        public struct Audio: Codable, Sendable, Equatable {
            public var sha256: String
            public var bytes: Int
            public var seconds: Double
            /// True when the audio travels inside the message, false when villages fetch it by digest.
            public var embedded: Bool
            public init(sha256: String, bytes: Int, seconds: Double, embedded: Bool) {
                self.sha256 = sha256
                self.bytes = bytes
                self.seconds = seconds
                self.embedded = embedded
            }
        }

        public init(id: String, message: String, status: String, targets: [String], villages: [String], tier: String, audio: Audio) {
            self.id = id
            self.message = message
            self.status = status
            self.targets = targets
            self.villages = villages
            self.tier = tier
            self.audio = audio
        }
    }

    /// `DELETE /v1/announcements/{id}` and `POST /v1/stop-all` at the head-end.
    public struct Sent: Codable, Sendable, Equatable {
        public var message: String
        public var targets: [String]
        public var villages: [String]
        public init(message: String, targets: [String], villages: [String]) {
            self.message = message
            self.targets = targets
            self.villages = villages
        }
    }

    /// `POST /v1/stop-all` body: the regions to stop (default: the caller's whole scope).
    public struct StopAllRequest: Codable, Sendable, Equatable {
        public var to: [String]?
        public init(to: [String]?) { self.to = to }
    }

    /// `PATCH /v1/announcements/{id}` body at the head-end: what an update may change in villages where the item still
    /// waits (a new title, a new expiry; an expiry already past also stops it on air).
    public struct UpdateRequest: Codable, Sendable, Equatable {
        public var title: String?
        public var expires: Date?
        public init(title: String? = nil, expires: Date? = nil) {
            self.title = title
            self.expires = expires
        }
    }

    /// One row of `GET /v1/villages`.
    public struct Village: Codable, Sendable, Equatable {
        public var code: String
        public var name: String
        public var township: String
        public var online: Bool
        /// When it went online or offline.
        public var since: Date?
        public var lastHeartbeat: Date?
        public var deviceUp: Bool?
        public var onAir: String?
        public var queueLength: Int?
        public var underruns: Int64?
        public var version: String?
        /// Rows stored, and the newest seq up to which every row is stored.
        public var rows: Int64
        public var confirmedSeq: Int64
        /// What is wrong with the village's airtime chain (an edit, a gap), if anything.
        public var chainFault: String?

        public init(
            code: String, name: String, township: String, online: Bool, since: Date?, lastHeartbeat: Date?, deviceUp: Bool?, onAir: String?,
            queueLength: Int?, underruns: Int64?, version: String?, rows: Int64, confirmedSeq: Int64, chainFault: String?
        ) {
            self.code = code
            self.name = name
            self.township = township
            self.online = online
            self.since = since
            self.lastHeartbeat = lastHeartbeat
            self.deviceUp = deviceUp
            self.onAir = onAir
            self.queueLength = queueLength
            self.underruns = underruns
            self.version = version
            self.rows = rows
            self.confirmedSeq = confirmedSeq
            self.chainFault = chainFault
        }
    }

    public struct Villages: Codable, Sendable, Equatable {
        public var villages: [Village]
        public init(villages: [Village]) { self.villages = villages }
    }

    /// `GET /v1/log/verify` at the head-end: every village's chain in `region` re-walked from PostgreSQL alone. `county` (the
    /// head-end's county code) is what tells it from a station's answer to the same path, for the `dalaba` tool.
    public struct LogVerification: Codable, Sendable, Equatable {
        public var county: String
        public var region: String
        /// False when any village's chain has a fault.
        public var intact: Bool
        public var checkedAt: Date
        public var villages: [VillageChain]

        public struct VillageChain: Codable, Sendable, Equatable {
            public var village: String
            public var rows: Int64
            /// The last row walked from row 1 (a gap ends the walk).
            public var lastSeq: Int64
            /// What is wrong, in row order, each naming its row ("row 7 was edited: …"); empty when intact.
            public var faults: [String]
            /// The lowest row any fault concerns, where a review starts; nil when intact (and from a head-end before 0.12).
            public var firstBadSeq: Int64?
            public var intact: Bool
            public init(village: String, rows: Int64, lastSeq: Int64, faults: [String], firstBadSeq: Int64? = nil) {
                self.village = village
                self.rows = rows
                self.lastSeq = lastSeq
                self.faults = faults
                self.firstBadSeq = firstBadSeq
                intact = faults.isEmpty
            }
        }

        public init(county: String, region: String, checkedAt: Date, villages: [VillageChain]) {
            self.county = county
            self.region = region
            intact = villages.allSatisfy(\.intact)
            self.checkedAt = checkedAt
            self.villages = villages
        }
    }

    /// `GET /v1/coverage/{id}`: where one announcement got to.
    public struct Coverage: Codable, Sendable, Equatable {
        public enum Status: String, Codable, Sendable, CaseIterable {
            /// Nothing heard from the village about it, and the village is online.
            case pending
            /// Offline, and nothing heard about it.
            case offline
            case received, queued
            case onAir = "on-air"
            /// Played to the end.
            case played
            /// Played in part (interrupted, cancelled or stopped mid-play).
            case partly
            case failed, expired, refused
        }

        public struct VillageCoverage: Codable, Sendable, Equatable {
            public var code: String
            public var name: String
            public var status: Status
            public var online: Bool
            public var receivedAt: Date?
            public var firstAudioAt: Date?
            /// Seconds from the head-end accepting it to the village putting it on air.
            public var timeToFirstAudio: Double?
            /// Frames of the announcement that reached the village's device, over all its plays, and their rate.
            public var frames: Int64
            public var rate: Int?
            public var reason: String?
            /// The levels the village's plays of it went out at, from its airtime rows; nil until a row that reached the
            /// device arrives, and for villages that log no volumes (older dalabad).
            public var volume: PlayedVolume?
            public init(
                code: String, name: String, status: Status, online: Bool, receivedAt: Date?, firstAudioAt: Date?, timeToFirstAudio: Double?,
                frames: Int64, rate: Int?, reason: String?, volume: PlayedVolume? = nil
            ) {
                self.code = code
                self.name = name
                self.status = status
                self.online = online
                self.receivedAt = receivedAt
                self.firstAudioAt = firstAudioAt
                self.timeToFirstAudio = timeToFirstAudio
                self.frames = frames
                self.rate = rate
                self.reason = reason
                self.volume = volume
            }
        }

        /// The levels one village played an announcement at, in dB relative to full scale (0 is full, -6 about half the
        /// amplitude). An official reviewing a broadcast needs the quietest play (was any play turned down too far to be
        /// heard?) and the last (where it ended up, e.g. after the base level changed between repeats); one play gives all three
        /// equal. The values are what the village reported in its chained rows, so a level no station plays at (outside
        /// `VolumeLevels.range`) is shown as reported and marked, not corrected.
        public struct PlayedVolume: Codable, Sendable, Equatable {
            public var lowest: Double
            public var highest: Double
            /// The level of its newest play (highest seq).
            public var last: Double

            public init(lowest: Double, highest: Double, last: Double) {
                self.lowest = lowest
                self.highest = highest
                self.last = last
            }

            /// From the rows' stored values, hundredths of a dB (the village store's and the chain's unit).
            public init(lowestHundredths: Int64, highestHundredths: Int64, lastHundredths: Int64) {
                self.init(lowest: Double(lowestHundredths) / 100, highest: Double(highestHundredths) / 100, last: Double(lastHundredths) / 100)
            }

            /// False when a play claims a level no station plays at: the row was written by something other than dalabad.
            public var isPlausible: Bool { VolumeLevels.range.contains(lowest) && VolumeLevels.range.contains(highest) }

            /// "-6.00 dB", or "-12.00 to -6.00 dB, last -6.00" when the plays differ.
            public var text: String {
                func dB(_ value: Double) -> String { String(format: "%.2f", value) }
                return lowest == highest ? "\(dB(last)) dB" : "\(dB(lowest)) to \(dB(highest)) dB, last \(dB(last))"
            }
        }

        public var id: String
        public var title: String
        public var kind: Kind
        public var level: Int?
        public var acceptedAt: Date
        public var cancelledAt: Date?
        public var targets: [String]
        /// Villages targeted, and how many are in each status.
        public var targeted: Int
        public var counts: [String: Int]
        public var villages: [VillageCoverage]

        public init(
            id: String, title: String, kind: Kind, level: Int?, acceptedAt: Date, cancelledAt: Date?, targets: [String], villages: [VillageCoverage]
        ) {
            self.id = id
            self.title = title
            self.kind = kind
            self.level = level
            self.acceptedAt = acceptedAt
            self.cancelledAt = cancelledAt
            self.targets = targets
            self.targeted = villages.count
            var counts: [String: Int] = [:]
            for status in Status.allCases { counts[status.rawValue] = 0 }
            for village in villages { counts[village.status.rawValue, default: 0] += 1 }
            self.counts = counts
            self.villages = villages
        }
    }

    /// One group of `GET /v1/report` at the head-end: plays and airtime to the frame, real broadcasts and drills apart.
    public struct AirtimeGroup: Codable, Sendable, Equatable {
        /// A village or township code, a kind, a level ("1" … "4", "none"), a day ("2026-12-01"), or "total".
        public var key: String
        public var name: String?
        public var plays: Int
        public var frames: Int64
        public var seconds: Double
        public var drillPlays: Int
        public var drillFrames: Int64
        public var drillSeconds: Double
        public init(
            key: String, name: String? = nil, plays: Int, frames: Int64, seconds: Double, drillPlays: Int, drillFrames: Int64, drillSeconds: Double
        ) {
            self.key = key
            self.name = name
            self.plays = plays
            self.frames = frames
            self.seconds = seconds
            self.drillPlays = drillPlays
            self.drillFrames = drillFrames
            self.drillSeconds = drillSeconds
        }
    }

    public struct Report: Codable, Sendable, Equatable {
        /// village, township, kind, level or day.
        public var by: String
        public var timeZone: String
        public var from: Date?
        public var to: Date?
        /// The region the report covers (the caller's scope, or narrower).
        public var region: String
        public var groups: [AirtimeGroup]
        public var total: AirtimeGroup
        public init(by: String, timeZone: String, from: Date?, to: Date?, region: String, groups: [AirtimeGroup], total: AirtimeGroup) {
            self.by = by
            self.timeZone = timeZone
            self.from = from
            self.to = to
            self.region = region
            self.groups = groups
            self.total = total
        }
    }
}
