import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import RTVirtIO

/// The running domains of this host's libvirt and the targets in their metadata,
/// through `virsh` (libvirt's own client: no library linked into a tool that must
/// also run on hosts without libvirt).
public struct LibvirtDomains {
    public var uri: String
    public var virsh: String

    public init(uri: String, virsh: String = "/usr/bin/virsh") {
        self.uri = uri
        self.virsh = virsh
    }

    /// The running domains' names.
    public func running() throws -> [String] {
        guard FileManager.default.isExecutableFile(atPath: virsh) else {
            throw InputError(file: virsh, message: "not found: the targets file asks for libvirt domains (libvirt: {uri: \(uri)})",
                             hint: "install libvirt-clients, or remove `libvirt:` from the targets file")
        }
        return try runProgram(virsh, ["-q", "-c", uri, "list", "--name", "--state-running"])
            .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// The text of the domain's rtvirtio metadata element, nil when it has none.
    public func metadataText(_ domain: String) throws -> String? {
        let xml: String
        do {
            xml = try runProgram(virsh, ["-q", "-c", uri, "metadata", "--domain", domain, "--uri", LibvirtMetadata.namespace])
        } catch let error as HostError where error.detail?.contains("metadata not found") == true || error.detail?.contains("no domain metadata") == true {
            return nil
        }
        return try Self.elementText(xml, domain: domain)
    }

    /// Every running domain with rtvirtio metadata, as a guest.
    public func guests() throws -> [GuestSpec] {
        try running().compactMap { domain in try metadataText(domain).map { try LibvirtMetadata.guest(domain: domain, yaml: $0) } }
    }

    /// What libvirt itself set for the domain's I/O: blkiotune and each disk's iotune.
    public func tuning(_ domain: String) throws -> LibvirtTuning {
        let base = ["-q", "-c", uri]
        let blkiotune = LibvirtTuning.fields(try runProgram(virsh, base + ["blkiotune", domain]))
        var iotune: [String: [String: String]] = [:]
        for disk in LibvirtTuning.diskTargets(try runProgram(virsh, base + ["domblklist", domain])) {
            iotune[disk] = LibvirtTuning.iotuneFields(try runProgram(virsh, base + ["blkdeviotune", domain, disk]))
        }
        return LibvirtTuning(domain: domain, blkiotune: blkiotune, iotune: iotune)
    }

    /// libvirt's own settings for every guest the targets find by `libvirt: NAME` (those
    /// from domain metadata included), and a sentence for each that could not be read.
    /// Empty where virsh is not installed: such a host has no libvirt to show.
    public static func tunings(_ targets: Targets, virsh: String = "/usr/bin/virsh") -> (tunings: [LibvirtTuning], problems: [String]) {
        guard FileManager.default.isExecutableFile(atPath: virsh) else { return ([], []) }
        let domains = LibvirtDomains(uri: targets.libvirtURI ?? "qemu:///system", virsh: virsh)
        var tunings: [LibvirtTuning] = [], problems: [String] = []
        for guest in targets.guests {
            guard case .libvirt(let name) = guest.match else { continue }
            do { tunings.append(try domains.tuning(name)) } catch { problems.append("libvirt's own settings of \(name) could not be read: \(error)") }
        }
        return (tunings, problems)
    }

    /// The character content of the XML's root element. Hostile input is refused
    /// before a parser sees it: more than 64 KiB, or any DOCTYPE or entity
    /// declaration (libvirt never writes one; they are how XML bombs work).
    public static func elementText(_ xml: String, domain: String) throws -> String {
        let where_ = "libvirt domain '\(domain.prefix(128))' metadata"
        guard xml.utf8.count <= 65_536 else { throw InputError(file: where_, message: "is larger than 64 KiB") }
        guard !xml.contains("<!") else { throw InputError(file: where_, message: "holds a DOCTYPE, entity or CDATA declaration, which rtvirtio does not read", hint: "write the targets as plain text inside the element") }
        let delegate = TextCollector()
        let parser = XMLParser(data: Data(xml.utf8))
        parser.shouldResolveExternalEntities = false
        parser.delegate = delegate
        guard parser.parse(), delegate.depth == 0, delegate.sawRoot else {
            throw InputError(file: where_, message: "is not well-formed XML (\(parser.parserError.map { "\($0.localizedDescription)" } ?? "no root element"))")
        }
        return delegate.text
    }

    /// Collects the text directly inside the root element.
    private final class TextCollector: NSObject, XMLParserDelegate {
        var depth = 0, sawRoot = false, text = ""
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            depth += 1; sawRoot = true
        }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) { depth -= 1 }
        func parser(_ parser: XMLParser, foundCharacters string: String) { if depth == 1 { text += string } }
    }
}
