import ArgumentParser
import Dispatch
import Glibc
import Foundation
import RTVirtIO
import RTVirtIOHost
import RTVirtIOLab

/// Shared by the lab's model commands: reading datasets and printing accuracy.
extension CalibrationDataset.Measure: ExpressibleByArgument {}
extension CalibrationDataset.Part: ExpressibleByArgument {}
extension CalibrationPoint.Workload: ExpressibleByArgument {}
extension IdlingParameters.Output: ExpressibleByArgument {}

enum LabData {
    static func load(_ files: [String], measure: CalibrationDataset.Measure, part: CalibrationDataset.Part) throws -> CalibrationDataset {
        var points: [CalibrationDataset.Point] = []
        for file in files {
            points += try CalibrationDataset.parse(try ConfigFiles.readText(file), file: file, measure: measure).points
        }
        guard !points.isEmpty else { throw InputError(file: files.joined(separator: ", "), message: "no measured points") }
        return CalibrationDataset(points: points).part(part)
    }
}
