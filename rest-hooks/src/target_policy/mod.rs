//! The SSRF guard: the [`TargetPolicy`] says which targets hooks may point at. It
//! refuses loopback, private, link-local, shared (CGNAT), multicast, unspecified and
//! cloud metadata addresses unless an allow-list opens them, so that an owner
//! cannot make the application post to its own network (server-side request
//! forgery). It is checked when a hook is subscribed or its target changed, and
//! again on every connection, through a DNS resolver that only hands allowed
//! addresses to the HTTP client, so that DNS rebinding cannot get around it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

mod ranges;

pub use ranges::AddressRange;
use ranges::refused_range;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Which targets may receive deliveries.
///
/// ```
/// use rest_hooks::target_policy::TargetPolicy;
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

    /// `Err` with the range when deliveries may not go to `ip`.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), NotAllowed> {
        if self.allowed_networks.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        match refused_range(ip) {
            Some(range) => Err(NotAllowed::Address { ip, range }),
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
    pub fn check_url(&self, target: &Url) -> Result<(), NotAllowed> {
        if self.https_only && target.scheme() != "https" {
            return Err(NotAllowed::HttpsOnly);
        }
        match target.host() {
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => Ok(()),
            None => Err(NotAllowed::NoHost),
        }
    }

    /// `Err` with the reason when `target` is refused: its scheme, or any address
    /// its host resolves to now.
    pub async fn check(&self, target: &Url) -> Result<(), NotAllowed> {
        self.check_url(target)?;
        match target.host() {
            Some(url::Host::Domain(host)) if !self.host_allowed(host) => {
                self.resolve_checked(host).await.map(drop)
            }
            _ => Ok(()),
        }
    }

    /// The addresses of `host`, or `Err` if any of them is refused.
    async fn resolve_checked(&self, host: &str) -> Result<Vec<SocketAddr>, NotAllowed> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|e| NotAllowed::Unresolved {
                host: host.to_owned(),
                reason: e.to_string(),
            })?
            .collect();
        if !self.host_allowed(host) {
            for addr in &addrs {
                if let Err(NotAllowed::Address { ip, range }) = self.check_ip(addr.ip()) {
                    return Err(NotAllowed::Resolved {
                        host: host.to_owned(),
                        ip,
                        range,
                    });
                }
            }
        }
        Ok(addrs)
    }

    /// An HTTP client builder held to this policy: it connects only to addresses
    /// the policy allows (through [`resolver`](Self::resolver)), follows no
    /// redirect, and uses no proxy from the environment (`HTTP_PROXY` and the
    /// like), which would connect to the proxy's address instead of the one
    /// checked and let a private target through it.
    pub(crate) fn guarded_client(&self, timeout: std::time::Duration) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .dns_resolver(self.resolver())
    }

    /// A DNS resolver for `reqwest` that fails for hosts resolving to a refused
    /// address, so that the address connected to is the address checked.
    pub fn resolver(&self) -> Arc<dyn Resolve> {
        Arc::new(GuardedResolver {
            policy: self.clone(),
        })
    }
}

/// Why the [`TargetPolicy`] refuses a target; also the error its
/// [`resolver`](TargetPolicy::resolver) fails with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotAllowed {
    /// The target is written with an address in a refused range.
    #[error("{ip} is not a public address ({range})")]
    Address {
        /// The address.
        ip: IpAddr,
        /// Its range.
        range: AddressRange,
    },
    /// The target's host resolves to an address in a refused range.
    #[error("{host} resolves to {ip}, which is not a public address ({range})")]
    Resolved {
        /// The host name.
        host: String,
        /// The refused address it resolves to.
        ip: IpAddr,
        /// Its range.
        range: AddressRange,
    },
    /// The host name does not resolve.
    #[error("{host} does not resolve: {reason}")]
    Unresolved {
        /// The host name.
        host: String,
        /// What the resolver said.
        reason: String,
    },
    /// The policy takes `https` targets only.
    #[error("only https targets are allowed")]
    HttpsOnly,
    /// The target has no host.
    #[error("the target has no host")]
    NoHost,
}

struct GuardedResolver {
    policy: TargetPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let addrs = policy.resolve_checked(name.as_str()).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
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
