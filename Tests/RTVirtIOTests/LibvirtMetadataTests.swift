import Testing
@testable import RTVirtIO

/// Targets in a libvirt domain's metadata: the YAML of one `guests:` entry without
/// name and match, merged with the targets file, which wins.
struct LibvirtMetadataTests {
    @Test("a domain's metadata is one guest: its name and match are the domain's, the rest as in targets.yaml")
    func parsesAGuest() throws {
        let guest = try LibvirtMetadata.guest(domain: "web-1", yaml: "{criticality: 2, weight: 300, tasks: [{name: db, iops: 200, targetMs: 25}]}")
        #expect(guest == GuestSpec(name: "web-1", criticality: 2, match: .libvirt("web-1"), weight: 300,
                                   tasks: [TaskSpec(name: "db", iops: 200, targetMs: 25)]))
    }

    @Test("bad metadata is refused naming the domain, the line and the key; name and match are not the metadata's to say")
    func refusesBadMetadata() throws {
        func error(_ domain: String, _ yaml: String) throws -> String {
            try #require(throws: InputError.self) { try LibvirtMetadata.guest(domain: domain, yaml: yaml) }.description
        }
        #expect(try error("vm0", "criticality: 1\ntasks:\n  - {name: db, iops: -5, targetMs: 25}").hasPrefix("libvirt domain 'vm0' metadata:3:"))
        #expect(try error("vm0", "tasks: [{name: db, iops: 5, targetMs: 25}]").contains("criticality: is required in a domain's metadata"))
        #expect(try error("vm0", "{criticality: 1, name: other, tasks: [{name: db, iops: 5, targetMs: 25}]}").contains("name: unknown key"))
        #expect(try error("vm0", "{criticality: 1, match: {cgroup: x}, tasks: [{name: db, iops: 5, targetMs: 25}]}").contains("match: unknown key"))
        // libvirt allows names rtvirtio cannot use as a cgroup component or file name
        #expect(try error("my vm", "{criticality: 1, tasks: [{name: db, iops: 5, targetMs: 25}]}").contains("the domain's name: invalid name 'my vm'"))
    }

    @Test("the targets file wins where both speak of a domain, by name or by match; the others' metadata is added")
    func mergesWithTheFile() throws {
        let file = try TargetsParser.parse("""
        device: /dev/sdb
        libvirt: {uri: qemu:///system}
        guests:
          - {name: vm0, criticality: 1, tasks: [{name: t, iops: 100, targetMs: 10}]}
          - {name: billing, criticality: 2, match: {libvirt: vm1}, tasks: [{name: t, iops: 100, targetMs: 10}]}
        """)
        #expect(file.libvirtURI == "qemu:///system")
        let domains = try ["vm0", "vm1", "vm2"].map { try LibvirtMetadata.guest(domain: $0, yaml: "{criticality: 3, tasks: [{name: m, iops: 1, targetMs: 99}]}") }
        let (merged, ignored) = LibvirtMetadata.merged(file, domains: domains)
        #expect(merged.guests.map(\.name) == ["vm0", "billing", "vm2"] && merged.guests[0].tasks[0].targetMs == 10)
        #expect(ignored == ["libvirt domain vm0: its rtvirtio metadata is ignored, the targets file declares it (guests[0], vm0)",
                            "libvirt domain vm1: its rtvirtio metadata is ignored, the targets file declares it (guests[1], billing)"])
    }

    @Test("libvirt: needs no guests in the file, takes only a local QEMU URI, and defaults to qemu:///system")
    func libvirtKey() throws {
        #expect(try TargetsParser.parse("device: /dev/sdb\nlibvirt: {}\n").libvirtURI == "qemu:///system")
        #expect(try TargetsParser.parse("device: /dev/sdb\nlibvirt: {uri: qemu:///session}\n").guests.isEmpty)
        let remote = try #require(throws: InputError.self) { try TargetsParser.parse("device: /dev/sdb\nlibvirt: {uri: 'qemu+ssh://h/system'}\n") }
        #expect(remote.description.contains("libvirt.uri: must be qemu:///system or qemu:///session"))
        let none = try #require(throws: InputError.self) { try TargetsParser.parse("device: /dev/sdb\nguests: []\n") }
        #expect(none.description.contains("needs at least one guest (or `libvirt: {uri: qemu:///system}`"))
    }
}
