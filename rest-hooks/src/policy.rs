//! Which targets hooks may point at: the [`TargetPolicy`], which refuses loopback,
//! private, link-local, shared (CGNAT), multicast, unspecified and cloud metadata
//! addresses unless an allow-list opens them. It is checked when a hook is
//! subscribed, and again on every connection, through a DNS resolver that only
//! hands allowed addresses to the HTTP client, so that DNS rebinding cannot get
//! around it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Which targets may receive deliveries.
///
/// ```
/// use rest_hooks::TargetPolicy;
///
/// // Local development: deliveries to 127.0.0.1 too.
/// let policy = TargetPolicy::default().allow_ip([127, 0, 0, 1].into());
/// assert!(policy.check_ip([127, 0, 0, 1].into()).is_ok());
/// assert!(policy.check_ip([10, 0, 0, 1].into()).is_err());
/// assert!(policy.check_ip([93, 184, 216, 34].into()).is_ok());
/// ```
#[derive(Debug, Clone, Default)]
pub struct TargetPolicy {
    allowed_networks: Vec<IpNet>,
    allowed_hosts: Vec<String>,
    https_only: bool,
}

impl TargetPolicy {
    /// The default policy: public addresses only, `http` and `https`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows the addresses of `network` even where they are refused by default.
    pub fn allow_network(mut self, network: IpNet) -> Self {
        self.allowed_networks.push(network);
        self
    }

    /// Allows one address even where it is refused by default.
    pub fn allow_ip(self, ip: IpAddr) -> Self {
        self.allow_network(IpNet::from(ip))
    }

    /// Allows a host name, whatever it resolves to.
    pub fn allow_host(mut self, host: impl Into<String>) -> Self {
        self.allowed_hosts.push(host.into().to_ascii_lowercase());
        self
    }

    /// Refuses `http` targets.
    pub fn https_only(mut self, https_only: bool) -> Self {
        self.https_only = https_only;
        self
    }

    /// `Err` with the reason when deliveries may not go to `ip`.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
        if self.allowed_networks.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        match refused_range(ip) {
            Some(range) => Err(format!("{ip} is a {range} address")),
            None => Ok(()),
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        self.allowed_hosts
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(host))
    }

    /// `Err` with the reason when `target` is refused without resolving anything:
    /// its scheme, or an address written in it.
    pub fn check_url(&self, target: &Url) -> Result<(), String> {
        if self.https_only && target.scheme() != "https" {
            return Err("only https targets are allowed".to_owned());
        }
        match target.host() {
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => Ok(()),
            None => Err("the target has no host".to_owned()),
        }
    }

    /// `Err` with the reason when `target` is refused: its scheme, or any address
    /// its host resolves to now.
    pub async fn check(&self, target: &Url) -> Result<(), String> {
        self.check_url(target)?;
        match target.host() {
            Some(url::Host::Domain(host)) if !self.host_allowed(host) => {
                self.resolve_checked(host).await.map(drop)
            }
            _ => Ok(()),
        }
    }

    /// The addresses of `host`, or `Err` if any of them is refused.
    async fn resolve_checked(&self, host: &str) -> Result<Vec<SocketAddr>, String> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|e| format!("{host} does not resolve: {e}"))?
            .collect();
        if !self.host_allowed(host) {
            for addr in &addrs {
                self.check_ip(addr.ip())
                    .map_err(|reason| format!("{host} resolves to {reason}"))?;
            }
        }
        Ok(addrs)
    }

    /// A DNS resolver for `reqwest` that fails for hosts resolving to a refused
    /// address, so that the address connected to is the address checked.
    pub fn resolver(&self) -> Arc<dyn Resolve> {
        Arc::new(GuardedResolver {
            policy: self.clone(),
        })
    }
}

/// The error a [`TargetPolicy::resolver`] fails with for a refused address.
#[derive(Debug, thiserror::Error)]
#[error("target not allowed: {0}")]
pub struct NotAllowed(pub String);

struct GuardedResolver {
    policy: TargetPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let addrs = policy
                .resolve_checked(name.as_str())
                .await
                .map_err(NotAllowed)?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The kind of address `ip` is, if deliveries to it are refused by default.
fn refused_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => refused_v4(ip),
        IpAddr::V6(ip) => refused_v6(ip),
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    Some(match () {
        () if ip.is_loopback() => "loopback",
        () if ip.is_private() => "private",
        () if ip.is_link_local() => "link-local or metadata",
        () if a == 100 && (64..128).contains(&b) => "shared (CGNAT) or metadata",
        () if ip.is_multicast() => "multicast",
        () if ip.is_broadcast() => "broadcast",
        () if a == 0 => "unspecified",
        () if a >= 240 => "reserved",
        () if a == 192 && b == 0 && ip.octets()[2] == 0 => "IETF protocol",
        () if a == 198 && (18..20).contains(&b) => "benchmarking",
        () => return None,
    })
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // An IPv4 address written as IPv6 (::ffff:a.b.c.d, or NAT64 64:ff9b::a.b.c.d) is
    // judged as the IPv4 address it reaches.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refused_v4(v4);
    }
    let segments = ip.segments();
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [a, b] = segments[6].to_be_bytes();
        let [c, d] = segments[7].to_be_bytes();
        return refused_v4(Ipv4Addr::new(a, b, c, d));
    }
    Some(match segments[0] {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_unspecified() => "unspecified",
        s if s & 0xfe00 == 0xfc00 => "unique local (private) or metadata",
        s if s & 0xffc0 == 0xfe80 => "link-local",
        s if s & 0xffc0 == 0xfec0 => "site-local",
        s if s & 0xff00 == 0xff00 => "multicast",
        0x2001 if segments[1] == 0x0db8 => "documentation",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_refused() {
        let policy = TargetPolicy::default();
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.100.100.200",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(
                policy.check_ip(ip.parse().unwrap()).is_err(),
                "{ip} is allowed"
            );
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "100.128.0.1",
        ] {
            assert!(
                policy.check_ip(ip.parse().unwrap()).is_ok(),
                "{ip} is refused"
            );
        }
    }

    #[test]
    fn the_allow_list_opens_networks_and_https_only_closes_http() {
        let policy = TargetPolicy::default().allow_network("127.0.0.0/8".parse().unwrap());
        assert!(policy.check_ip("127.1.2.3".parse().unwrap()).is_ok());
        assert!(policy.check_ip("::1".parse().unwrap()).is_err());

        let https = TargetPolicy::default().https_only(true);
        assert!(
            https
                .check_url(&"http://example.com/".parse().unwrap())
                .is_err()
        );
        assert!(
            https
                .check_url(&"https://example.com/".parse().unwrap())
                .is_ok()
        );
    }
}
