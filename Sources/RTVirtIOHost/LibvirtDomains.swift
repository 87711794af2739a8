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
