import GRDB

extension StationStore {
    /// Adds the volume each play was heard at to the airtime log (hundredths of a dB, NULL for older rows). The hash of a
    /// row covers its volume when it has one (`ChainedContent.canonicalEncoding`), so older rows verify as they always did.
    /// Like every shipped migration, never edited.
    static func registerVolumeMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v5-airtime-volume") { db in
            try db.execute(sql: "ALTER TABLE airtimeLog ADD COLUMN volume INTEGER")
        }
    }
}
