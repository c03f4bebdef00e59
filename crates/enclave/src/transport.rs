//! How the host and an enclave process reach each other: a Unix socket private to the
//! node's user (the default), or a TCP connection on the loopback interface. Gramine
//! passes no Unix socket between an SGX enclave and its host, but does pass TCP, so an
//! enclave under `gramine-sgx` listens on loopback TCP.
//!
//! Either way the bytes are the framed protocol of [`crate::wire`], and the enclave
//! trusts nothing that arrives: whoever connects has at most the host's powers.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which kind of socket a spawned enclave process listens on (node config
/// `enclave_transport`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// A Unix socket in the node's data directory, private to its user.
    #[default]
    Unix,
    /// A loopback TCP port the system chooses: for an enclave under Gramine.
    Tcp,
}

/// Where an enclave process listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnclaveAddress {
    /// A Unix socket at this path.
    Unix(PathBuf),
    /// A TCP port on the loopback interface (port 0 when binding: any free port).
    Tcp(SocketAddr),
}

impl EnclaveAddress {
    /// Parses `tcp:HOST:PORT` (a loopback address), `unix:PATH`, or a bare path.
    pub fn parse(text: &str) -> Result<EnclaveAddress, String> {
        if let Some(addr) = text.strip_prefix("tcp:") {
            let addr: SocketAddr = addr.parse().map_err(|e| format!("'{text}': not HOST:PORT ({e})"))?;
            if !addr.ip().is_loopback() {
                return Err(format!("'{text}': an enclave listens only on the loopback interface (127.0.0.1 or ::1)"));
            }
            return Ok(EnclaveAddress::Tcp(addr));
        }
        let path = text.strip_prefix("unix:").unwrap_or(text);
        if path.is_empty() {
            return Err("an enclave address needs a socket path or tcp:HOST:PORT".into());
        }
        Ok(EnclaveAddress::Unix(PathBuf::from(path)))
    }

    /// The socket path, for a Unix socket.
    pub fn path(&self) -> Option<&Path> {
        match self {
            EnclaveAddress::Unix(p) => Some(p),
            EnclaveAddress::Tcp(_) => None,
        }
    }
}

impl fmt::Display for EnclaveAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnclaveAddress::Unix(p) => write!(f, "unix:{}", p.display()),
            EnclaveAddress::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

/// One connection between host and enclave.
#[derive(Debug)]
pub(crate) enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    /// Connects to `address`, with `timeout` on every read and write.
    pub(crate) fn connect(address: &EnclaveAddress, timeout: Duration) -> io::Result<Stream> {
        let stream = match address {
            EnclaveAddress::Unix(p) => Stream::Unix(UnixStream::connect(p)?),
            EnclaveAddress::Tcp(a) => Stream::tcp(TcpStream::connect_timeout(a, timeout)?)?,
        };
        stream.set_timeouts(Some(timeout))?;
        Ok(stream)
    }

    fn tcp(s: TcpStream) -> io::Result<Stream> {
        // Frames are small and answered at once: do not hold them back.
        s.set_nodelay(true)?;
        Ok(Stream::Tcp(s))
    }

    fn set_timeouts(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Unix(s) => {
                s.set_read_timeout(timeout)?;
                s.set_write_timeout(timeout)
            }
            Stream::Tcp(s) => {
                s.set_read_timeout(timeout)?;
                s.set_write_timeout(timeout)
            }
        }
    }
}

impl Read for &Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => (&*s).read(buf),
            Stream::Tcp(s) => (&*s).read(buf),
        }
    }
}

impl Write for &Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => (&*s).write(buf),
            Stream::Tcp(s) => (&*s).write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => (&*s).flush(),
            Stream::Tcp(s) => (&*s).flush(),
        }
    }
}

/// An enclave process's listening endpoint.
#[derive(Debug)]
pub enum Listener {
    /// A Unix socket (bound by [`crate::process::bind_private`]) and its path.
    Unix(UnixListener, PathBuf),
    /// A loopback TCP port.
    Tcp(TcpListener),
}

impl Listener {
    /// Listens on `address`: a Unix socket only this user can connect to, or a loopback
    /// TCP port.
    pub fn bind(address: &EnclaveAddress) -> io::Result<Listener> {
        match address {
            EnclaveAddress::Unix(p) => Ok(Listener::Unix(crate::process::bind_private(p)?, p.clone())),
            EnclaveAddress::Tcp(a) if !a.ip().is_loopback() => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{a} is not a loopback address; an enclave listens only on loopback"),
            )),
            EnclaveAddress::Tcp(a) => TcpListener::bind(a).map(Listener::Tcp),
        }
    }

    /// Where it listens (with the port the system chose, for TCP port 0).
    pub fn address(&self) -> io::Result<EnclaveAddress> {
        match self {
            // Not the listener's own address: it was bound elsewhere and renamed.
            Listener::Unix(_, path) => Ok(EnclaveAddress::Unix(path.clone())),
            Listener::Tcp(l) => Ok(EnclaveAddress::Tcp(l.local_addr()?)),
        }
    }

    /// Waits for the next connection.
    pub(crate) fn accept(&self) -> io::Result<Stream> {
        let stream = match self {
            Listener::Unix(l, _) => Stream::Unix(l.accept()?.0),
            Listener::Tcp(l) => Stream::tcp(l.accept()?.0)?,
        };
        // The enclave waits for the host's next call as long as the host keeps the
        // connection: no timeout on its side.
        stream.set_timeouts(None)?;
        Ok(stream)
    }

    pub(crate) fn set_blocking(&self) -> io::Result<()> {
        match self {
            Listener::Unix(l, _) => l.set_nonblocking(false),
            Listener::Tcp(l) => l.set_nonblocking(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_only_loopback_tcp_is_accepted() {
        assert_eq!(
            EnclaveAddress::parse("tcp:127.0.0.1:7100").unwrap(),
            EnclaveAddress::Tcp("127.0.0.1:7100".parse().unwrap())
        );
        assert_eq!(EnclaveAddress::parse("/run/e.sock").unwrap(), EnclaveAddress::Unix("/run/e.sock".into()));
        assert_eq!(EnclaveAddress::parse("unix:/run/e.sock").unwrap(), EnclaveAddress::Unix("/run/e.sock".into()));
        assert!(EnclaveAddress::parse("tcp:10.0.0.1:7100").unwrap_err().contains("loopback"));
        assert!(EnclaveAddress::parse("tcp:localhost").is_err());
        assert!(EnclaveAddress::parse("").is_err());
        let a = EnclaveAddress::parse("tcp:[::1]:9").unwrap();
        assert_eq!(EnclaveAddress::parse(&a.to_string()).unwrap(), a);
    }

    #[test]
    fn a_tcp_listener_on_port_zero_reports_its_port() {
        let l = Listener::bind(&EnclaveAddress::parse("tcp:127.0.0.1:0").unwrap()).unwrap();
        let EnclaveAddress::Tcp(a) = l.address().unwrap() else { panic!("tcp") };
        assert_ne!(a.port(), 0);
    }
}
