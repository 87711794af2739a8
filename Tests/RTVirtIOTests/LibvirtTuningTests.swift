import Testing
@testable import RTVirtIO

/// libvirt's own settings as virsh 9.0 prints them (captured from a real domain in
/// LiveLibvirtTests after `blkiotune --weight 300` and `blkdeviotune vda --total-iops-sec 500`).
struct LibvirtTuningTests {
    static let blkiotune = """
        weight         : 300
        device_weight  : 
        device_read_iops_sec: 
        device_write_iops_sec: 
        device_read_bytes_sec: 
        device_write_bytes_sec: 

        """
    static let blkdeviotune = """
        total_bytes_sec: 0
        read_bytes_sec : 0
        write_bytes_sec: 0
        total_iops_sec : 500
        read_iops_sec  : 0
        write_iops_sec : 0
        total_bytes_sec_max: 0
        size_iops_sec  : 0
        group_name     : /machine/peripheral/virtio-disk0/virtio-backend
        total_iops_sec_max_length: 0

        """

    @Test("only the fields libvirt has set are kept: zero and empty ones, and QEMU's own group name, are not settings")
    func setFieldsOnly() {
        #expect(LibvirtTuning.fields(Self.blkiotune) == ["weight": "300"])
        #expect(LibvirtTuning.iotuneFields(Self.blkdeviotune) == ["total_iops_sec": "500"])
        #expect(LibvirtTuning.iotuneFields("group_name : tenant-a\nread_iops_sec: 200\n") == ["group_name": "tenant-a", "read_iops_sec": "200"])
        let tuning = LibvirtTuning(domain: "vm0", blkiotune: ["weight": "300"], iotune: ["vda": ["total_iops_sec": "500"], "vdb": [:]])
        #expect(tuning.summary == "blkiotune weight 300; vda iotune total_iops_sec 500")
        #expect(LibvirtTuning(domain: "vm0", blkiotune: [:], iotune: ["vda": [:]]).summary == "nothing set")
    }

    @Test("virsh's answer is hostile: odd names, control characters and long values are dropped, and at most 64 lines are read")
    func hostileText() {
        let text = "Weight : 1\nwe ight: 2\nweight: 3\u{1b}[2J\nlong: \(String(repeating: "9", count: 300))\nok_1: 7\n"
        #expect(LibvirtTuning.fields(text) == ["ok_1": "7"])
        let many = (0..<100).map { "f\($0): 1" }.joined(separator: "\n")
        #expect(LibvirtTuning.fields(many).count == 64)
        #expect(LibvirtTuning.diskTargets(" vda      /dev/loop0\n hdc      -\n ../x  /etc/passwd\n") == ["vda", "hdc"])
    }
}
