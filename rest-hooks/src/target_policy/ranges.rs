//! The address ranges the SSRF guard refuses by default, and how an IPv6 address
//! that carries an IPv4 one is judged by it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A range of addresses that the default policy refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressRange {
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918: `10/8`, `172.16/12`, `192.168/16`.
    Private,
    /// `169.254/16` (cloud metadata lives there).
    LinkLocal,
    /// `100.64/10`, shared address space (CGNAT; some cloud metadata).
    Shared,
    /// `224/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `0/8`, `::`.
    Unspecified,
    /// `240/4`.
    Reserved,
    /// `192.0.0/24` and `2001::/23`, IETF protocol assignments.
    IetfProtocol,
    /// `198.18/15`, benchmarking.
    Benchmarking,
    /// `fc00::/7`, unique local (private; some cloud metadata).
    UniqueLocal,
    /// `fe80::/10`, IPv6 link-local.
    Ipv6LinkLocal,
    /// `fec0::/10`, IPv6 site-local.
    SiteLocal,
    /// Documentation: `192.0.2/24`, `198.51.100/24`, `203.0.113/24`,
    /// `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `192.88.99/24`, the deprecated 6to4 relay anycast.
    Relay6to4,
    /// `::/96`, IPv4-compatible IPv6 (deprecated).
    Ipv4Compatible,
    /// `100::/64`, discard-only.
    DiscardOnly,
    /// `5f00::/16`, segment routing (SRv6) SIDs.
    Srv6,
}

impl std::fmt::Display for AddressRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AddressRange::Loopback => "loopback",
            AddressRange::Private => "private",
            AddressRange::LinkLocal => "link-local or metadata",
            AddressRange::Shared => "shared (CGNAT) or metadata",
            AddressRange::Multicast => "multicast",
            AddressRange::Broadcast => "broadcast",
            AddressRange::Unspecified => "unspecified",
            AddressRange::Reserved => "reserved",
            AddressRange::IetfProtocol => "IETF protocol",
            AddressRange::Benchmarking => "benchmarking",
            AddressRange::UniqueLocal => "unique local (private) or metadata",
            AddressRange::Ipv6LinkLocal => "link-local",
            AddressRange::SiteLocal => "site-local",
            AddressRange::Documentation => "documentation",
            AddressRange::Relay6to4 => "6to4 relay",
            AddressRange::Ipv4Compatible => "IPv4-compatible",
            AddressRange::DiscardOnly => "discard-only",
            AddressRange::Srv6 => "SRv6",
        })
    }
}

/// The range of `ip`, if deliveries to it are refused by default.
pub(super) fn refused_range(ip: IpAddr) -> Option<AddressRange> {
    match ip {
        IpAddr::V4(ip) => refused_v4(ip),
        IpAddr::V6(ip) => refused_v6(ip),
    }
}

/// The IPv4 ranges refused by default: what the IANA special-purpose registry
/// marks not globally reachable, with multicast, broadcast and the 6to4 relay.
/// The first that holds the address names its range.
const REFUSED_V4: &[([u8; 4], u32, AddressRange)] = &[
    ([255, 255, 255, 255], 32, AddressRange::Broadcast),
    ([0, 0, 0, 0], 8, AddressRange::Unspecified),
    ([10, 0, 0, 0], 8, AddressRange::Private),
    ([100, 64, 0, 0], 10, AddressRange::Shared),
    ([127, 0, 0, 0], 8, AddressRange::Loopback),
    ([169, 254, 0, 0], 16, AddressRange::LinkLocal),
    ([172, 16, 0, 0], 12, AddressRange::Private),
    ([192, 0, 0, 0], 24, AddressRange::IetfProtocol),
    ([192, 0, 2, 0], 24, AddressRange::Documentation),
    ([192, 88, 99, 0], 24, AddressRange::Relay6to4),
    ([192, 168, 0, 0], 16, AddressRange::Private),
    ([198, 18, 0, 0], 15, AddressRange::Benchmarking),
    ([198, 51, 100, 0], 24, AddressRange::Documentation),
    ([203, 0, 113, 0], 24, AddressRange::Documentation),
    ([224, 0, 0, 0], 4, AddressRange::Multicast),
    ([240, 0, 0, 0], 4, AddressRange::Reserved),
];

/// The IPv6 ranges refused by default, once the forms that carry an IPv4 address
/// have been judged by that address (see [`embedded_v4`]).
const REFUSED_V6: &[([u16; 8], u32, AddressRange)] = &[
    ([0, 0, 0, 0, 0, 0, 0, 1], 128, AddressRange::Loopback),
    ([0, 0, 0, 0, 0, 0, 0, 0], 128, AddressRange::Unspecified),
    ([0, 0, 0, 0, 0, 0, 0, 0], 96, AddressRange::Ipv4Compatible),
    ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, AddressRange::DiscardOnly),
    (
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        23,
        AddressRange::IetfProtocol,
    ),
    (
        [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],
        32,
        AddressRange::Documentation,
    ),
    (
        [0x3fff, 0, 0, 0, 0, 0, 0, 0],
        20,
        AddressRange::Documentation,
    ),
    ([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16, AddressRange::Srv6),
    ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, AddressRange::UniqueLocal),
    (
        [0xfe80, 0, 0, 0, 0, 0, 0, 0],
        10,
        AddressRange::Ipv6LinkLocal,
    ),
    ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, AddressRange::SiteLocal),
    ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, AddressRange::Multicast),
];

fn refused_v4(ip: Ipv4Addr) -> Option<AddressRange> {
    let ip = u32::from(ip);
    REFUSED_V4.iter().find_map(|&(net, prefix, range)| {
        let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
        (ip & mask == u32::from(Ipv4Addr::from(net)) & mask).then_some(range)
    })
}

fn refused_v6(ip: Ipv6Addr) -> Option<AddressRange> {
    if let Some(v4) = embedded_v4(ip) {
        return refused_v4(v4);
    }
    let ip = u128::from(ip);
    REFUSED_V6.iter().find_map(|&(net, prefix, range)| {
        let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
        (ip & mask == u128::from(Ipv6Addr::from(net)) & mask).then_some(range)
    })
}

/// The IPv4 address that an IPv6 address reaches, for the forms that carry one:
/// IPv4-mapped `::ffff:0:0/96`, SIIT `::ffff:0:0:0/96`, NAT64 `64:ff9b::/96` and
/// the local-use `64:ff9b:1::/48` (in its /96 or /48 layout), 6to4 `2002::/16`,
/// and Teredo `2001::/32`, whose client address is stored inverted. Such an
/// address is judged as the IPv4 address it reaches.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let last = || {
        let ([a, b], [c, d]) = (s[6].to_be_bytes(), s[7].to_be_bytes());
        Ipv4Addr::new(a, b, c, d)
    };
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    match s {
        [0, 0, 0, 0, 0xffff, 0, _, _] | [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(last()),
        [0x64, 0xff9b, 1, 0, 0, 0, _, _] => Some(last()),
        [0x64, 0xff9b, 1, ..] => {
            // RFC 6052's /48 layout: two octets, the `u` octet, two octets.
            let ([p, q], [_, r], [t, _]) =
                (s[3].to_be_bytes(), s[4].to_be_bytes(), s[5].to_be_bytes());
            Some(Ipv4Addr::new(p, q, r, t))
        }
        [0x2002, hi, lo, ..] => {
            let ([p, q], [r, t]) = (hi.to_be_bytes(), lo.to_be_bytes());
            Some(Ipv4Addr::new(p, q, r, t))
        }
        [0x2001, 0, ..] => Some(Ipv4Addr::from(!u32::from(last()))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{NotAllowed, TargetPolicy};
    use super::*;

    /// One address in each range refused by default, and its neighbours outside.
    #[test]
    fn each_special_purpose_range_is_refused() {
        let policy = TargetPolicy::default();
        let refused = |ip: &str| match policy.check_ip(ip.parse().unwrap()) {
            Err(NotAllowed::Address { range, .. }) => Some(range),
            _ => None,
        };
        for (ip, range) in [
            ("0.1.2.3", AddressRange::Unspecified),
            ("10.9.8.7", AddressRange::Private),
            ("100.64.0.1", AddressRange::Shared),
            ("127.0.0.1", AddressRange::Loopback),
            ("169.254.169.254", AddressRange::LinkLocal),
            ("172.31.255.255", AddressRange::Private),
            ("192.0.0.8", AddressRange::IetfProtocol),
            ("192.0.2.1", AddressRange::Documentation),
            ("192.88.99.1", AddressRange::Relay6to4),
            ("192.168.1.1", AddressRange::Private),
            ("198.19.0.1", AddressRange::Benchmarking),
            ("198.51.100.7", AddressRange::Documentation),
            ("203.0.113.9", AddressRange::Documentation),
            ("224.0.0.1", AddressRange::Multicast),
            ("250.1.2.3", AddressRange::Reserved),
            ("255.255.255.255", AddressRange::Broadcast),
            ("::1", AddressRange::Loopback),
            ("::", AddressRange::Unspecified),
            ("::8.8.8.8", AddressRange::Ipv4Compatible),
            ("::127.0.0.1", AddressRange::Ipv4Compatible),
            ("100::1", AddressRange::DiscardOnly),
            ("2001:2::1", AddressRange::IetfProtocol),
            ("2001:db8::1", AddressRange::Documentation),
            ("3fff::1", AddressRange::Documentation),
            ("5f00::1", AddressRange::Srv6),
            ("fd00:ec2::254", AddressRange::UniqueLocal),
            ("fe80::1", AddressRange::Ipv6LinkLocal),
            ("fec0::1", AddressRange::SiteLocal),
            ("ff02::1", AddressRange::Multicast),
        ] {
            assert_eq!(refused(ip), Some(range), "{ip}");
        }
        for ip in [
            "1.1.1.1",
            "100.128.0.1",
            "172.32.0.1",
            "192.0.3.1",
            "198.20.0.1",
            "2606:4700::1111",
            "2001:4860::8888",
        ] {
            assert_eq!(refused(ip), None, "{ip}");
        }
    }

    /// The IPv6 forms that carry an IPv4 address are judged by that address.
    #[test]
    fn ipv6_forms_that_carry_an_ipv4_address_are_judged_by_it() {
        let policy = TargetPolicy::default();
        let range = |ip: &str| match policy.check_ip(ip.parse().unwrap()) {
            Err(NotAllowed::Address { range, .. }) => Some(range),
            _ => None,
        };
        for (form, inside_loopback, inside_public) in [
            ("IPv4-mapped", "::ffff:127.0.0.1", "::ffff:8.8.8.8"),
            ("SIIT", "::ffff:0:127.0.0.1", "::ffff:0:8.8.8.8"),
            ("NAT64", "64:ff9b::127.0.0.1", "64:ff9b::8.8.8.8"),
            (
                "local-use NAT64, /96",
                "64:ff9b:1::127.0.0.1",
                "64:ff9b:1::8.8.8.8",
            ),
            // 127.0.0.1 and 8.8.8.8 in RFC 6052's /48 layout: 7f00 | u 00 | 0001 …
            (
                "local-use NAT64, /48",
                "64:ff9b:1:7f00:0:100::",
                "64:ff9b:1:808:8:800::",
            ),
            ("6to4", "2002:7f00:1::", "2002:808:808::"),
            // The client address, inverted: !127.0.0.1 = 80ff:fffe, !8.8.8.8 = f7f7:f7f7.
            (
                "Teredo",
                "2001:0:4136:e378:8000:63bf:80ff:fffe",
                "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
            ),
        ] {
            assert_eq!(
                range(inside_loopback),
                Some(AddressRange::Loopback),
                "{form}: {inside_loopback}"
            );
            assert_eq!(range(inside_public), None, "{form}: {inside_public}");
        }
        assert_eq!(
            range("2002:a00:1::"),
            Some(AddressRange::Private),
            "6to4 of 10.0.0.1"
        );
    }
}
