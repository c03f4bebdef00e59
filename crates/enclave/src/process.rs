//! The enclave as its own process behind a socket (Unix, or loopback TCP under Gramine:
//! [`crate::transport`]): the enclave's side ([`serve`]), the host's side (the socket
//! backend of [`EnclaveHandle`](crate::EnclaveHandle)), and starting the
//! `teechain-enclave` binary ([`EnclaveProcess`]). The framing is in [`crate::wire`].

use crate::boot::EnclaveBoot;
use crate::enclave::Enclave;
use crate::handle::EnclaveError;
use crate::protocol::{Host, HostReply};
use crate::transport::{EnclaveAddress, Listener, Stream, Transport};
use crate::wire::{self, FromEnclave, ToEnclave, WireError};
use std::fs::{self, DirBuilder};
use std::io::{self, BufRead, ErrorKind};
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};
use teechain_types::codec::encode;

/// How long the host waits for any one frame of the enclave (and for a write to go
/// through). Generous: chaincode runs are bounded by fuel, so this only catches an
/// enclave that hangs or is stopped, turning a hang into
/// [`EnclaveError::Unavailable`].
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// How long [`EnclaveHandle::spawn_process`](crate::EnclaveHandle::spawn_process) waits for
/// a new enclave process to accept connections.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The most idle connections the host keeps open to its enclave. Concurrent calls beyond
/// that open connections of their own, which are closed when they finish.
pub const MAX_IDLE_CONNECTIONS: usize = 16;

/// Serves enclave calls on `listener` until the process ends: one thread per connection,
/// each running one ecall after the other. A connection that breaks or sends a malformed
/// frame is closed (and logged to stderr); the others and the listener carry on.
pub fn serve(listener: Listener, enclave: Arc<Enclave>) -> io::Result<()> {
    // Accepting must block: a listener left non-blocking would make this loop spin.
    listener.set_blocking()?;
    let mut next_id: u64 = 0;
    loop {
        let stream = match listener.accept() {
            Ok(stream) => stream,
            Err(e) => {
                eprintln!("enclave: accepting a connection failed: {e}");
                // Out of file descriptors and the like persist for a while; pause rather
                // than spin on them.
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        next_id += 1;
        let id = next_id;
        let enclave = Arc::clone(&enclave);
        let spawned = thread::Builder::new().name(format!("enclave-conn-{id}")).spawn(move || {
            if let Err(e) = serve_connection(&stream, &enclave) {
                eprintln!("enclave: connection {id} closed: {e}");
            }
        });
        if let Err(e) = spawned {
            // The connection was moved into the closure and is closed with it; the host
            // sees the close and reports the enclave unavailable for that call.
            eprintln!("enclave: cannot start a thread for connection {id}: {e}");
        }
    }
}

/// Runs ecalls on one connection until the host closes it.
fn serve_connection(stream: &Stream, enclave: &Enclave) -> Result<(), WireError> {
    loop {
        let request = match wire::recv::<ToEnclave>(&mut &*stream) {
            Ok(ToEnclave::Call(request)) => request,
            Ok(ToEnclave::OcallReply(_)) => {
                return Err(abort(stream, WireError::Unexpected("an ocall reply with no ocall outstanding")))
            }
            Err(WireError::Closed) => return Ok(()),
            Err(e) => return Err(abort(stream, e)),
        };
        let host = SocketHost { stream, broken: Mutex::new(None) };
        let response = enclave.ecall(&request, &host);
        // After a failed exchange the connection's state is unknown (the host may still
        // be writing, or gone): do not answer on it.
        if let Some(e) = host.broken.into_inner().unwrap_or_else(PoisonError::into_inner) {
            return Err(abort(stream, e));
        }
        wire::send(&mut &*stream, &FromEnclave::Done(response))?;
    }
}

/// Tells the host why its connection is being closed, when it broke the protocol (it is
/// pointless when the connection itself failed). Best effort: the host may be gone.
fn abort(stream: &Stream, e: WireError) -> WireError {
    if e.is_violation() {
        let _ = wire::send(&mut &*stream, &FromEnclave::Abort(e.to_string()));
    }
    e
}

/// The host as the enclave process sees it: each ocall is a frame exchange on the
/// connection of the current ecall.
struct SocketHost<'a> {
    stream: &'a Stream,
    /// The first failed exchange. Later ocalls of the same ecall fail at once, so a lost
    /// host ends the chaincode run quickly instead of timing out read after read. The
    /// mutex also keeps two ocalls (were the enclave ever to make them concurrently) from
    /// interleaving their frames.
    broken: Mutex<Option<WireError>>,
}

impl Host for SocketHost<'_> {
    fn ocall(&self, request: &[u8]) -> Vec<u8> {
        let mut broken = self.broken.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = &*broken {
            return encode(&HostReply::Error(format!("host connection lost: {e}")));
        }
        let mut stream = self.stream;
        let exchange =
            wire::send(&mut stream, &FromEnclave::Ocall(request.to_vec())).and_then(|()| {
                match wire::recv::<ToEnclave>(&mut stream)? {
                    ToEnclave::OcallReply(reply) => Ok(reply),
                    ToEnclave::Call(_) => Err(WireError::Unexpected("a new call while an ocall is outstanding")),
                }
            });
        match exchange {
            Ok(reply) => reply,
            Err(e) => {
                let reply = encode(&HostReply::Error(format!("host connection lost: {e}")));
                *broken = Some(e);
                reply
            }
        }
    }
}

/// Binds a listening socket at `path` that only this user can connect to (mode 0600).
///
/// A stale socket file at `path` (from an enclave that is gone) is removed; a live one,
/// or a file that is not a socket, is left alone and refused. The socket is bound in a
/// fresh private directory (mode 0700), restricted, and then renamed into place, so there
/// is no moment at which anyone else could connect to it.
pub fn bind_private(path: &Path) -> io::Result<UnixListener> {
    match fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(io::Error::new(
                ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket; refusing to replace it", path.display()),
            ))
        }
        Ok(_) => {
            if UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    ErrorKind::AddrInUse,
                    format!("another enclave is already listening on {}", path.display()),
                ));
            }
            fs::remove_file(path)?;
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let staging = parent.join(format!(".enclave-bind-{}", std::process::id()));
    // Left behind by an earlier process that had this pid and crashed while binding.
    let _ = fs::remove_dir_all(&staging);
    DirBuilder::new().mode(0o700).create(&staging)?;
    let bound = (|| {
        let temporary = staging.join("s");
        let listener = UnixListener::bind(&temporary)?;
        fs::set_permissions(&temporary, fs::Permissions::from_mode(0o600))?;
        fs::rename(&temporary, path)?;
        Ok(listener)
    })();
    let _ = fs::remove_dir_all(&staging);
    bound
}

/// Connections to an enclave process: the socket backend of an
/// [`EnclaveHandle`](crate::EnclaveHandle).
pub(crate) struct SocketClient {
    address: EnclaveAddress,
    /// Connections with no ecall in progress, ready for the next one.
    idle: Mutex<Vec<Stream>>,
}

/// How one ecall on one connection failed.
struct CallFailure {
    error: WireError,
    /// Whether the enclave had sent anything for this call.
    answered: bool,
}

impl SocketClient {
    /// Connects to the enclave at `address` (the connection is kept for the first call).
    pub(crate) fn connect(address: &EnclaveAddress) -> Result<SocketClient, EnclaveError> {
        let client = SocketClient { address: address.clone(), idle: Mutex::new(Vec::new()) };
        let first = client.open()?;
        client.release(first);
        Ok(client)
    }

    /// Where the enclave listens.
    pub(crate) fn address(&self) -> &EnclaveAddress {
        &self.address
    }

    fn open(&self) -> Result<Stream, EnclaveError> {
        Stream::connect(&self.address, CALL_TIMEOUT)
            .map_err(|e| EnclaveError::Unavailable(format!("cannot connect to the enclave at {}: {e}", self.address)))
    }

    fn release(&self, stream: Stream) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_CONNECTIONS {
            idle.push(stream);
        }
    }

    /// Number of idle connections (for tests).
    #[cfg(test)]
    pub(crate) fn idle_connections(&self) -> usize {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// One ecall: an encoded request in, an encoded response out, answering the
    /// enclave's ocalls from `host` meanwhile.
    pub(crate) fn ecall(&self, request: &[u8], host: &dyn Host) -> Result<Vec<u8>, EnclaveError> {
        let pooled = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        if let Some(stream) = pooled {
            match call_on(&stream, request, host) {
                Ok(response) => {
                    self.release(stream);
                    return Ok(response);
                }
                // An idle connection can have been closed by the enclave while it sat in
                // the pool (the enclave restarted, or dropped it). The enclave then never
                // saw this call, so it is safe to make it again on a fresh connection.
                Err(CallFailure { error, answered: false }) if error.peer_gone() => {}
                Err(failure) => return Err(self.failed(failure.error)),
            }
        }
        let stream = self.open()?;
        let response = call_on(&stream, request, host).map_err(|f| self.failed(f.error))?;
        self.release(stream);
        Ok(response)
    }

    fn failed(&self, e: WireError) -> EnclaveError {
        let at = &self.address;
        if e.is_timeout() {
            EnclaveError::Unavailable(format!("the enclave at {at} did not answer within {} s", CALL_TIMEOUT.as_secs()))
        } else if e.is_violation() {
            EnclaveError::Protocol(format!("enclave at {at}: {e}"))
        } else {
            EnclaveError::Unavailable(format!("enclave at {at}: {e}"))
        }
    }
}

/// Runs one ecall on `stream`. On failure the stream must not be reused: where the
/// exchange stopped is unknown.
fn call_on(stream: &Stream, request: &[u8], host: &dyn Host) -> Result<Vec<u8>, CallFailure> {
    let mut answered = false;
    exchange(stream, request, host, &mut answered).map_err(|error| CallFailure { error, answered })
}

fn exchange(mut stream: &Stream, request: &[u8], host: &dyn Host, answered: &mut bool) -> Result<Vec<u8>, WireError> {
    wire::send(&mut stream, &ToEnclave::Call(request.to_vec()))?;
    loop {
        let message = wire::recv::<FromEnclave>(&mut stream)?;
        *answered = true;
        match message {
            FromEnclave::Ocall(call) => {
                let reply = host.ocall(&call);
                wire::send(&mut stream, &ToEnclave::OcallReply(reply))?;
            }
            FromEnclave::Done(response) => return Ok(response),
            FromEnclave::Abort(why) => return Err(WireError::Aborted(why)),
        }
    }
}

/// A running `teechain-enclave` process started by
/// [`EnclaveHandle::spawn_process`](crate::EnclaveHandle::spawn_process). Dropping it
/// kills the process and removes its socket.
///
/// The process also exits by itself when this process goes away without dropping the
/// guard (killed, aborted): it watches its standard input, a pipe only this guard holds.
pub struct EnclaveProcess {
    child: Child,
    /// Where it listens, once it said so.
    address: Option<EnclaveAddress>,
    /// The socket file it was told to create, removed with the process.
    socket_file: Option<PathBuf>,
}

impl std::fmt::Debug for EnclaveProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnclaveProcess").field("pid", &self.child.id()).field("address", &self.address).finish()
    }
}

impl EnclaveProcess {
    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Where the enclave listens (`None` only before it started listening).
    pub fn address(&self) -> Option<&EnclaveAddress> {
        self.address.as_ref()
    }

    /// Kills the process and waits for it to end.
    pub fn kill(&mut self) -> io::Result<()> {
        match self.child.kill() {
            // Already ended: there is only the exit status left to collect.
            Err(e) if e.kind() == ErrorKind::InvalidInput => {}
            other => other?,
        }
        self.child.wait().map(drop)
    }
}

impl Drop for EnclaveProcess {
    fn drop(&mut self) {
        if let Err(e) = self.kill() {
            eprintln!("enclave: cannot stop the enclave process {}: {e}", self.child.id());
        }
        if let Some(path) = &self.socket_file {
            let _ = fs::remove_file(path);
        }
    }
}

/// How to start an enclave process: the `teechain-enclave` binary, the transport it
/// listens on, and a launcher to run it under (`gramine-sgx` for SGX), if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnclaveCommand {
    /// The `teechain-enclave` binary (for a launcher: the name it knows it by).
    pub exe: PathBuf,
    /// Unix socket or loopback TCP.
    pub transport: Transport,
    /// Program and arguments put before `exe` (empty: run `exe` itself).
    pub launcher: Vec<String>,
}

impl EnclaveCommand {
    /// `exe` on a Unix socket, without a launcher.
    pub fn new(exe: &Path) -> EnclaveCommand {
        EnclaveCommand { exe: exe.to_path_buf(), transport: Transport::Unix, launcher: Vec::new() }
    }
}

/// Starts the enclave process of `command` on `boot`, with its boot file (and socket) in
/// `dir`, and waits until it accepts connections. The process says where it listens on
/// the first line of its standard output (`listening ADDRESS`): for TCP, the port the
/// system chose.
pub(crate) fn spawn(
    command: &EnclaveCommand,
    boot: &EnclaveBoot,
    dir: &Path,
) -> Result<(SocketClient, EnclaveProcess), EnclaveError> {
    // Distinct names per spawn, so several enclaves can share a directory (tests do).
    static SPAWNED: AtomicU64 = AtomicU64::new(0);
    let n = SPAWNED.fetch_add(1, Ordering::Relaxed);
    let stem = format!("enclave-{}-{n}", std::process::id());
    let (listen, socket_file) = match command.transport {
        Transport::Unix => {
            let socket = dir.join(format!("{stem}.sock"));
            (EnclaveAddress::Unix(socket.clone()), Some(socket))
        }
        Transport::Tcp => (EnclaveAddress::Tcp(SocketAddr::from(([127, 0, 0, 1], 0))), None),
    };
    let boot_path = dir.join(format!("{stem}.boot"));
    let unavailable = |m: String| EnclaveError::Unavailable(m);

    boot.write(&boot_path).map_err(|e| unavailable(format!("cannot start the enclave process: {e}")))?;
    let mut cmd = match command.launcher.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(&command.exe);
            c
        }
        None => Command::new(&command.exe),
    };
    let started = cmd
        .arg("--listen")
        .arg(listen.to_string())
        .arg("--boot")
        .arg(&boot_path)
        .arg("--exit-on-stdin-close")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let mut child = match started {
        Ok(child) => child,
        Err(e) => {
            let _ = fs::remove_file(&boot_path);
            let what = command.launcher.first().map_or(command.exe.display().to_string(), String::clone);
            return Err(unavailable(format!("cannot start the enclave process {what}: {e}")));
        }
    };
    let announced = announced_address(child.stdout.take());
    let mut process = EnclaveProcess { child, address: None, socket_file };
    let ready = wait_until_listening(&mut process, &announced);
    // The enclave reads its boot file before it listens: keep it no longer than that.
    let _ = fs::remove_file(&boot_path);
    let client = ready?;
    Ok((client, process))
}

/// The address an enclave process announces on its standard output, delivered once; the
/// rest of the output is drained so that the process never blocks on a full pipe.
fn announced_address(stdout: Option<std::process::ChildStdout>) -> mpsc::Receiver<Result<EnclaveAddress, String>> {
    let (tx, rx) = mpsc::channel();
    if let Some(stdout) = stdout {
        let spawned = thread::Builder::new().name("enclave-stdout".into()).spawn(move || {
            let mut lines = io::BufReader::new(stdout).lines();
            let first = match lines.next() {
                Some(Ok(line)) => match line.strip_prefix("listening ") {
                    Some(address) => EnclaveAddress::parse(address.trim()),
                    None => Err(format!("the enclave process said '{line}' instead of where it listens")),
                },
                Some(Err(e)) => Err(format!("reading the enclave process's output: {e}")),
                None => Err("the enclave process closed its output before listening".into()),
            };
            let _ = tx.send(first);
            for _ in lines {}
        });
        if let Err(e) = spawned {
            eprintln!("enclave: cannot watch the enclave process's output: {e}");
        }
    }
    rx
}

fn wait_until_listening(
    process: &mut EnclaveProcess,
    announced: &mpsc::Receiver<Result<EnclaveAddress, String>>,
) -> Result<SocketClient, EnclaveError> {
    let deadline = Instant::now() + START_TIMEOUT;
    let unavailable = EnclaveError::Unavailable;
    loop {
        if let Some(status) = process.child.try_wait().map_err(|e| unavailable(e.to_string()))? {
            return Err(unavailable(format!("the enclave process exited before listening ({status})")));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(unavailable(format!(
                "the enclave process did not listen within {} s",
                START_TIMEOUT.as_secs()
            )));
        }
        match announced.recv_timeout(left.min(Duration::from_millis(100))) {
            Ok(Ok(address)) => {
                let client = SocketClient::connect(&address)?;
                process.address = Some(address);
                return Ok(client);
            }
            // Usually because it is exiting: say so, with its status, when it does.
            Ok(Err(e)) => {
                let until = Instant::now() + Duration::from_secs(2);
                while Instant::now() < until {
                    if let Ok(Some(status)) = process.child.try_wait() {
                        return Err(unavailable(format!("the enclave process exited before listening ({status})")));
                    }
                    thread::sleep(Duration::from_millis(20));
                }
                return Err(unavailable(e));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // The watcher ended without a word: the process's exit is reported above.
            Err(mpsc::RecvTimeoutError::Disconnected) => thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{proposal, MemState, TestNet};
    use crate::wire::{read_frame, write_frame};
    use crate::{host::ViewHost, protocol::FailureKind, EnclaveHandle};
    use teechain_types::identity::Role;

    /// An enclave of org1 served on a socket by a thread of this process.
    fn served(net: &TestNet, dir: &Path) -> PathBuf {
        let path = dir.join("e.sock");
        let listener = Listener::bind(&EnclaveAddress::Unix(path.clone())).unwrap();
        let enclave = Arc::new(Enclave::new(net.config("org1")).unwrap());
        thread::spawn(move || serve(listener, enclave));
        path
    }

    fn client(handle: &EnclaveHandle) -> &SocketClient {
        match &handle.backend {
            crate::handle::Backend::Socket(c) => c,
            crate::handle::Backend::InProcess(_) => panic!("not a socket handle"),
        }
    }

    #[test]
    fn socket_is_private_and_a_stale_one_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.sock");
        drop(bind_private(&path).unwrap());
        // The listener is gone but its file is still there: stale.
        assert!(path.exists());
        let listener = bind_private(&path).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        UnixStream::connect(&path).unwrap();
        // A live one is refused, and so is a file that is not a socket.
        assert_eq!(bind_private(&path).unwrap_err().kind(), ErrorKind::AddrInUse);
        drop(listener);
        let file = dir.path().join("not-a-socket");
        fs::write(&file, b"data").unwrap();
        assert_eq!(bind_private(&file).unwrap_err().kind(), ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&file).unwrap(), b"data");
        // No staging directory is left behind.
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn a_refusal_keeps_the_connection_and_concurrent_calls_open_more() {
        let net = TestNet::new();
        let dir = tempfile::tempdir().unwrap();
        let handle = EnclaveHandle::connect(&EnclaveAddress::Unix(served(&net, dir.path()))).unwrap();
        handle.install(teechain_contracts::TESTBED.to_vec()).unwrap();
        assert_eq!(client(&handle).idle_connections(), 1);
        let alice = net.identity("org1", "alice", Role::Client);
        let state = MemState::new(true);
        let (sp, transient) = proposal(&alice, 1, "refuse", &[b"not today"]);
        let err = handle.endorse(&ViewHost(&state), sp, transient).unwrap_err();
        assert_eq!(err.kind(), Some(FailureKind::ChaincodeRefused), "{err}");
        assert_eq!(client(&handle).idle_connections(), 1);
        let (sp, transient) = proposal(&alice, 2, "put", &[b"k", b"v"]);
        handle.endorse(&ViewHost(&state), sp, transient).unwrap();
        assert_eq!(client(&handle).idle_connections(), 1);

        // A call that blocks in an ocall holds its connection; a second call meanwhile
        // opens another one, and both go back to the pool.
        struct Gate<'a> {
            state: &'a MemState,
            barrier: std::sync::Barrier,
            passed: std::sync::atomic::AtomicBool,
        }
        impl crate::protocol::Host for Gate<'_> {
            fn ocall(&self, request: &[u8]) -> Vec<u8> {
                // The first ocall tells the test thread it holds its connection, then
                // waits until the test thread's own call is done.
                if !self.passed.swap(true, Ordering::SeqCst) {
                    self.barrier.wait();
                    self.barrier.wait();
                }
                crate::host::serve_ocall(self.state, request)
            }
        }
        let gate = Gate { state: &state, barrier: std::sync::Barrier::new(2), passed: false.into() };
        thread::scope(|s| {
            let first = s.spawn(|| {
                let (sp, transient) = proposal(&alice, 3, "get", &[b"k"]);
                handle.evaluate(&gate, sp, transient)
            });
            gate.barrier.wait();
            // The first call is now inside an ocall, holding the pooled connection.
            let (sp, transient) = proposal(&alice, 4, "get", &[b"k"]);
            let second = handle.evaluate(&ViewHost(&state), sp, transient);
            gate.barrier.wait();
            second.unwrap();
            first.join().unwrap().unwrap();
        });
        assert_eq!(client(&handle).idle_connections(), 2);
    }

    #[test]
    fn malformed_frames_close_only_their_connection() {
        let net = TestNet::new();
        let dir = tempfile::tempdir().unwrap();
        let path = served(&net, dir.path());
        let handle = EnclaveHandle::connect(&EnclaveAddress::Unix(path.clone())).unwrap();

        for bad in [
            encode(&"not a message"),
            encode(&ToEnclave::OcallReply(Vec::new())),
            encode(&FromEnclave::Done(Vec::new())),
        ] {
            let mut raw = UnixStream::connect(&path).unwrap();
            write_frame(&mut raw, &bad).unwrap();
            let answer = wire::recv::<FromEnclave>(&mut raw).unwrap();
            assert!(matches!(&answer, FromEnclave::Abort(_)), "{answer:?}");
            assert!(matches!(read_frame(&mut raw), Err(WireError::Closed)));
        }
        // A header claiming too much, and a frame cut short.
        let mut raw = UnixStream::connect(&path).unwrap();
        io::Write::write_all(&mut raw, &u32::MAX.to_be_bytes()).unwrap();
        let answer = wire::recv::<FromEnclave>(&mut raw).unwrap();
        assert!(matches!(&answer, FromEnclave::Abort(why) if why.contains("exceeds the limit")), "{answer:?}");
        let mut raw = UnixStream::connect(&path).unwrap();
        io::Write::write_all(&mut raw, &[0, 0, 0, 9, 1]).unwrap();
        raw.shutdown(std::net::Shutdown::Write).unwrap();
        assert!(matches!(read_frame(&mut raw), Err(WireError::Closed)));
        // A request that is a valid frame but not a valid request is the enclave's
        // ordinary refusal, on a connection that stays usable.
        let mut raw = UnixStream::connect(&path).unwrap();
        wire::send(&mut raw, &ToEnclave::Call(b"junk".to_vec())).unwrap();
        let FromEnclave::Done(response) = wire::recv(&mut raw).unwrap() else { panic!("no answer") };
        let response: crate::protocol::EnclaveResponse =
            teechain_types::codec::decode(&response, teechain_types::codec::Limits::RECORD).unwrap();
        assert!(matches!(response, crate::protocol::EnclaveResponse::Failed { kind: FailureKind::BadRequest, .. }));
        wire::send(&mut raw, &ToEnclave::Call(encode(&crate::protocol::EnclaveRequest::Info))).unwrap();
        assert!(matches!(wire::recv(&mut raw).unwrap(), FromEnclave::Done(_)));

        // The enclave still serves everyone else.
        assert_eq!(handle.info().unwrap().platform, crate::Platform::Virtual);
    }

    #[test]
    fn a_host_that_vanishes_mid_call_ends_only_that_call() {
        let net = TestNet::new();
        let dir = tempfile::tempdir().unwrap();
        let path = served(&net, dir.path());
        let handle = EnclaveHandle::connect(&EnclaveAddress::Unix(path.clone())).unwrap();
        handle.install(teechain_contracts::TESTBED.to_vec()).unwrap();
        let alice = net.identity("org1", "alice", Role::Client);
        let (sp, transient) = proposal(&alice, 1, "get", &[b"k"]);
        let mut raw = UnixStream::connect(&path).unwrap();
        let request = crate::protocol::EnclaveRequest::Evaluate { proposal: sp, transient };
        wire::send(&mut raw, &ToEnclave::Call(encode(&request))).unwrap();
        assert!(matches!(wire::recv(&mut raw).unwrap(), FromEnclave::Ocall(_)));
        drop(raw);
        assert_eq!(handle.info().unwrap().installed.len(), 1);
    }

    #[test]
    fn nothing_listening_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let err = EnclaveHandle::connect(&EnclaveAddress::Unix(dir.path().join("none.sock"))).unwrap_err();
        assert!(matches!(err, EnclaveError::Unavailable(_)), "{err}");
    }
}
