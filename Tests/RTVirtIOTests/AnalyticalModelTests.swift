import Testing
@testable import RTVirtIO

/// Hand-worked numbers for every term of Eqs. 1–5. The scenario:
/// g0 (weight 300): a = 500 IOPS × 4 KB (task weight 100), b = 100 IOPS × 4 KB (task weight 300);
/// g1 (weight 100): c = 1500 IOPS × 4 KB. Host: timeout_sync 32 ms, slice_idle 2 ms.
/// A_a = 2000, A_b = 400, A_g0 = 2400, A_g1 = 6000 KB/s. φ_g0 = 0.75, T_H = 245 KB/ms,
/// T_g0 = 183.75 KB/ms, E_SI(host) = 1 − 0.5 × 2/8 = 0.875, E_TS(host) = 32, SW(2) = 0.2.
struct AnalyticalModelTests {
    static let parameters = AnalyticalParameters(
        lambdaPhi: 1, hostLambdaTimeoutSync: 1000, hostLambdaSliceIdle: 0.5,
        guestLambdaTimeoutSync: 0, guestLambdaSliceIdle: 0, sliceIdleDefaultMs: 8,
        switchInterceptMs: 0.1, switchPerEntityMs: 0.05, hostThroughputKBps: 245_000, maxBudgetKB: 8192)
    static let model = AnalyticalModel(parameters: parameters)
    static let scenario = Scenario(guests: [
        .init(name: "g0", criticality: 1, pinnedWeight: nil, guestBfq: .kernelDefault, tasks: [
            TaskSpec(name: "a", iops: 500, requestKB: 4, targetMs: 500, weight: 100),
            TaskSpec(name: "b", iops: 100, requestKB: 4, targetMs: 500, weight: 300),
        ]),
        .init(name: "g1", criticality: 2, pinnedWeight: nil, guestBfq: .kernelDefault, tasks: [
            TaskSpec(name: "c", iops: 1500, requestKB: 4, targetMs: 900),
        ]),
    ])
    static let host = BfqSettings(timeoutSyncMs: 32, sliceIdleUs: 2000)

    @Test func demandIsIopsTimesRequestSize() {
        #expect(Self.scenario.guests[0].demandKBps == 2400)
        #expect(Self.scenario.guests[1].demandKBps == 6000)
        #expect(Self.scenario.totalDemandKBps == 8400)
        #expect(Self.scenario.guests[0].taskShares == [0.25, 0.75])
        #expect(Self.scenario.guests[0].minRequestKB == 4)
    }

    @Test func effectsOfTheKnobs() {
        #expect(AnalyticalModel.sliceIdleEffect(sliceIdleMs: 2, lambda: 0.5, defaultMs: 8) == 0.875)
        #expect(AnalyticalModel.sliceIdleEffect(sliceIdleMs: 8, lambda: 0.5, defaultMs: 8) == 0.5)
        #expect(AnalyticalModel.timeoutSyncEffect(timeoutSyncMs: 32, lambda: 1000) == 32)
        #expect(AnalyticalModel.timeoutSyncEffect(timeoutSyncMs: 124, lambda: 0.5) == 0.062)
        #expect(Self.model.switchMs(2) == 0.2)
        #expect(abs(Self.model.switchMs(3) - 0.25) < 1e-12)
    }

    @Test func hostPortionEq2() {
        // 0.2 + (2400 + 8192 − 4)/(0.875 × 183.75) + (6000 + 8192)/(0.875 × 245) + 32
        // = 0.2 + 65.853450 + 66.201749 + 32 = 164.255199
        let host = Self.model.hostPortionMs(Self.scenario, guest: 0, share: 0.75, host: Self.host)
        #expect(abs(host - 164.255199) < 1e-5)
    }

    @Test func guestPortionEq4WithTaskThroughputEq5() {
        // T_a = 0.25 × 183.75 = 45.9375 KB/ms; E_SI(guest) = 1; E_TS(guest) = 0.
        // 0.2 + (2000 + 8192 − 4)/45.9375 + (400 + 8192)/183.75 = 0.2 + 221.779592 + 46.759184 = 268.738776
        let guest = Self.model.guestPortionMs(Self.scenario, guest: 0, task: 0, share: 0.75)
        #expect(abs(guest - 268.738776) < 1e-5)
        // b: T_b = 0.75 × 183.75 = 137.8125; 0.2 + (400 + 8192 − 4)/137.8125 + (2000 + 8192)/183.75
        //  = 0.2 + 62.316553 + 55.466667 = 117.983220
        let b = Self.model.guestPortionMs(Self.scenario, guest: 0, task: 1, share: 0.75)
        #expect(abs(b - 117.983220) < 1e-5)
    }

    @Test func totalIsGuestPlusHostEq1() {
        let predictions = Self.model.predict(Self.scenario, settings: Settings(host: Self.host, weights: [300, 100]))
        #expect(abs(predictions[0][0] - (268.738776 + 164.255199)) < 1e-4)
        #expect(abs(predictions[0][1] - (117.983220 + 164.255199)) < 1e-4)
        // g1, φ = 0.25: T_g1 = 61.25. Host: 0.2 + (6000 + 8192 − 4)/(0.875 × 61.25) + (2400 + 8192)/(0.875 × 245) + 32
        //  = 0.2 + 264.732362 + 49.408746 + 32 = 346.341108
        // Guest (one task, φ_c = 1): 0.1 + 0.05 + (6000 + 8192 − 4)/61.25 + (0 + 8192)/61.25 = 0.15 + 231.64082 + 133.74694 = 365.537755
        #expect(abs(predictions[1][0] - (346.341108 + 365.537755)) < 1e-4)
    }

    @Test func guestKnobsEnterThroughTheirOwnLambdas() {
        var parameters = Self.parameters
        parameters.guestLambdaTimeoutSync = 500
        parameters.guestLambdaSliceIdle = 0.25
        let model = AnalyticalModel(parameters: parameters)
        // E_SI(guest, 8 ms) = 1 − 0.25 = 0.75; E_TS(guest, 124) = 62.
        // 0.2 + 10188/(0.75 × 45.9375) + 8592/(0.75 × 183.75) + 62 = 0.2 + 295.706122 + 62.345578 + 62 = 420.2517
        let guest = model.guestPortionMs(Self.scenario, guest: 0, task: 0, share: 0.75)
        #expect(abs(guest - 420.2517) < 1e-3)
    }

    @Test func aNonPositiveSliceIdleEffectPredictsInfinity() {
        var parameters = Self.parameters
        parameters.hostLambdaSliceIdle = 2
        let model = AnalyticalModel(parameters: parameters)
        let host = BfqSettings(timeoutSyncMs: 32, sliceIdleUs: 4000)   // 1 − 2 × 4/8 = 0
        #expect(model.hostPortionMs(Self.scenario, guest: 0, share: 0.75, host: host) == .infinity)
    }

    @Test func unitConversionsAtTheEdge() {
        // one size convention (issue 18, 26): KB = 1024 bytes, MB = 1024 KB
        #expect(Units.kilobytes(bytes: 4096) == 4 && Units.megabytes(kilobytes: 2048) == 2)
        // the daemon measures a 4 KiB read as the 4 KB a targets file declares: its load scales by exactly 1
        #expect(MeasuredLoad(ios: 1000, bytes: 1000 * 4096, seconds: 1)?.requestKB == 4)
        #expect(BfqSettings(timeoutSyncMs: 124, sliceIdleUs: 500).sliceIdleMs == 0.5)
        #expect(BfqSettings.kernelDefault == BfqSettings(timeoutSyncMs: 124, sliceIdleUs: 8000))
    }
}
