/// Targets declared where the VM is defined: a libvirt domain's `<metadata>` holds an
/// element in rtvirtio's namespace whose text is one guest's targets in the YAML of a
/// `guests:` entry, without `name` and `match` (they are the domain's):
///
///     virsh metadata vm0 --uri https://rtvirtio.dev/xmlns/targets/1 --key rtvirtio --set \
///       '<targets>{criticality: 1, tasks: [{name: db, iops: 200, targetMs: 25}]}</targets>'
///
/// One schema and one parser for both places, so every rejection reads the same.
public enum LibvirtMetadata {
    public static let namespace = "https://rtvirtio.dev/xmlns/targets/1"

    /// The guest one domain's metadata declares; an error names the domain and the line.
    public static func guest(domain: String, yaml: String) throws -> GuestSpec {
        let reader = YAMLReader(file: "libvirt domain '\(domain.prefix(128))' metadata")
        return try TargetsParser.parseGuest(reader, try reader.root(yaml), index: 0, domain: domain)
    }

    /// The targets file's guests, then each domain's that the file does not declare.
    /// The file wins where both speak of a domain — by name or by `match: {libvirt: NAME}` —
    /// since it is the operator's explicit word on this host; `ignored` says which.
    public static func merged(_ targets: Targets, domains: [GuestSpec]) -> (targets: Targets, ignored: [String]) {
        var merged = targets
        var ignored: [String] = []
        for guest in domains {
            if let index = targets.guests.firstIndex(where: { $0.name == guest.name || $0.match == .libvirt(guest.name) }) {
                ignored.append("libvirt domain \(guest.name): its rtvirtio metadata is ignored, the targets file declares it (guests[\(index)], \(targets.guests[index].name))")
            } else {
                merged.guests.append(guest)
            }
        }
        return (merged, ignored)
    }
}
