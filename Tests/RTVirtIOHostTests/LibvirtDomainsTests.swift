import Foundation
import Testing
import RTVirtIO
@testable import RTVirtIOHost

/// What virsh prints of a domain's rtvirtio metadata, read as hostile input.
struct LibvirtDomainsTests {
    @Test("the text directly inside the metadata element, as virsh prints it")
    func elementText() throws {
        let xml = "<rtvirtio:targets xmlns:rtvirtio=\"\(LibvirtMetadata.namespace)\">{criticality: 1, tasks: [{name: db, iops: 200, targetMs: 25}]}</rtvirtio:targets>\n"
        #expect(try LibvirtDomains.elementText(xml, domain: "vm0") == "{criticality: 1, tasks: [{name: db, iops: 200, targetMs: 25}]}")
        #expect(try LibvirtDomains.elementText("<targets>a &lt; b<x>skipped</x></targets>", domain: "vm0") == "a < b")
    }

    @Test("an entity bomb, a DOCTYPE, 64 KiB and broken XML are refused naming the domain, before or by the parser")
    func refusesHostileXML() throws {
        let bomb = "<!DOCTYPE t [<!ENTITY a \"aaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]><t>&b;</t>"
        let refusals = [bomb, "<t>" + String(repeating: "x", count: 70_000) + "</t>", "<t>unclosed", "no xml at all"].map { xml in
            (try? LibvirtDomains.elementText(xml, domain: "vm0")) == nil ? "refused" : "read"
        }
        #expect(refusals == ["refused", "refused", "refused", "refused"])
        let error = try #require(throws: InputError.self) { try LibvirtDomains.elementText(bomb, domain: "vm0") }
        #expect(error.description.hasPrefix("libvirt domain 'vm0' metadata: holds a DOCTYPE"))
    }
}
