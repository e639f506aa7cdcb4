import ArgumentParser

/// `dalaba`: the operators' and officials' tool.
public struct DalabaCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dalaba",
        abstract: "Queue, play and review announcements on the village loudspeakers (大喇叭).",
        subcommands: [
            PlayCommand.self, QueueCommand.self, StatusCommand.self, CancelCommand.self, StopAllCommand.self, CapCommand.self, LoudnessCommand.self, ScheduleCommand.self,
            LogCommand.self, ReportCommand.self, DoctorCommand.self, LiveCommand.self, VolumeCommand.self, VillagesCommand.self, CoverageCommand.self,
            UpdateCommand.self,
        ]
    )

    public init() {}
}
