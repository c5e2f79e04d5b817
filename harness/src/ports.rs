//! Where a world listens (issue 19): one address and, per service, a fixed port or 0 for an
//! ephemeral one. A port that cannot be bound is bad input naming the port and why (in use,
//! privileged without the right), not a harness failure: the user chose it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::net::{TcpListener, UdpSocket};

/// The address and ports of a world. `Default` is what every world had before: loopback,
/// every port ephemeral, no transparent listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// The address every listener binds and every emulated name resolves to.
    pub listen: Ipv4Addr,
    pub dns: u16,
    /// The HTTPS front, or (with `transparent`) the transparent listener in front of it.
    pub https: u16,
    /// The HTTP front, or (with `transparent`) the transparent listener in front of it.
    pub http: u16,
    pub proxy: u16,
    /// Ports 443/80 lead through the proxy's fault pipeline as a transparent proxy would
    /// (host from SNI or `Host`); the fronts then listen on ephemeral loopback ports behind it.
    pub transparent: bool,
}

impl Default for Ports {
    fn default() -> Ports {
        Ports { listen: Ipv4Addr::LOCALHOST, dns: 0, https: 0, http: 0, proxy: 0, transparent: false }
    }
}

impl Ports {
    /// The world on its real ports at `listen`, 80/443 through the fault pipeline.
    pub fn well_known(listen: Ipv4Addr) -> Ports {
        Ports { listen, dns: 53, https: 443, http: 80, proxy: 0, transparent: true }
    }
}

/// A port the user asked for that the machine refused.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} ({what}): {why}")]
pub struct PortError {
    pub addr: SocketAddr,
    pub what: &'static str,
    pub why: String,
}

fn refused(addr: SocketAddr, what: &'static str, e: &std::io::Error) -> PortError {
    let why = match e.kind() {
        std::io::ErrorKind::AddrInUse => "the port is in use by another program".to_string(),
        std::io::ErrorKind::PermissionDenied if addr.port() < 1024 => {
            format!("port {} is privileged: binding it needs root or CAP_NET_BIND_SERVICE", addr.port())
        }
        std::io::ErrorKind::AddrNotAvailable => format!("{} is not an address of this machine", addr.ip()),
        _ => e.to_string(),
    };
    PortError { addr, what, why }
}

/// A TCP listener with `SO_REUSEADDR`, so a restarted world can bind a fixed port again while
/// the last one's connections linger in TIME-WAIT (issue 11).
pub fn tcp(ip: Ipv4Addr, port: u16, what: &'static str) -> Result<TcpListener, PortError> {
    let addr = SocketAddr::from((ip, port));
    let bind = || {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        // The backlog tokio's own `TcpListener::bind` asks for.
        socket.listen(1024)
    };
    bind().map_err(|e| refused(addr, what, &e))
}

/// UDP and TCP on one port for DNS: the given one, or an ephemeral port free for both.
pub async fn dns(ip: Ipv4Addr, port: u16) -> Result<(UdpSocket, TcpListener), PortError> {
    let mut last = None;
    // An ephemeral UDP port may be taken for TCP: try a few.
    for _ in 0..if port == 0 { 32 } else { 1 } {
        let udp = UdpSocket::bind((ip, port)).await.map_err(|e| refused((ip, port).into(), "DNS over UDP", &e))?;
        let addr = udp.local_addr().map_err(|e| refused((ip, port).into(), "DNS over UDP", &e))?;
        match tcp(ip, addr.port(), "DNS over TCP") {
            Ok(t) => return Ok((udp, t)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| PortError { addr: (ip, port).into(), what: "DNS", why: "no free port".into() }))
}

/// `--listen`: an address of this machine's loopback (a lab network is `--advertise`'s).
pub fn check_listen(ip: IpAddr) -> Result<Ipv4Addr, String> {
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => Ok(v4),
        _ => Err(format!("--listen {ip}: a world listens on an IPv4 loopback address (127.0.0.0/8); to serve a lab network use --advertise")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // issue 19: a fixed port in use is named, with the reason.
    #[tokio::test]
    async fn a_port_in_use_is_named() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let e = tcp(Ipv4Addr::LOCALHOST, port, "HTTPS").unwrap_err().to_string();
        assert!(e.contains(&format!("127.0.0.1:{port}")) && e.contains("in use"), "{e}");
    }

    #[tokio::test]
    async fn dns_binds_udp_and_tcp_on_one_port() {
        let (udp, tcp) = dns(Ipv4Addr::LOCALHOST, 0).await.unwrap();
        assert_eq!(udp.local_addr().unwrap(), tcp.local_addr().unwrap());
    }

    #[test]
    fn listen_is_loopback_only() {
        assert!(check_listen("127.0.0.2".parse().unwrap()).is_ok());
        assert!(check_listen("10.0.0.1".parse().unwrap()).unwrap_err().contains("--advertise"));
    }
}
