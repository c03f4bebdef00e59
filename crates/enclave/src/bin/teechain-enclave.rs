//! `teechain-enclave`: the enclave as its own process, serving one host over a Unix socket
//! or a loopback TCP port.
//!
//! ```text
//! teechain-enclave (--listen ADDRESS | --socket PATH) --boot FILE [--exit-on-stdin-close]
//! ```
//!
//! Reads the boot file (an encoded `EnclaveBoot`, written by the host), starts the
//! enclave, listens on ADDRESS (`tcp:127.0.0.1:PORT`, port 0 for any, or a Unix socket
//! path, mode 0600, replacing a stale socket), prints `listening ADDRESS` (with the port
//! chosen) on standard output, and serves until killed. Under Gramine use TCP: Gramine
//! passes no Unix socket between an SGX enclave and its host.
//! With `--exit-on-stdin-close` it also exits when its standard input reaches end of file,
//! so an enclave started by a host that dies does not outlive it.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use teechain_enclave::transport::Listener;
use teechain_enclave::{process, Enclave, EnclaveAddress, EnclaveBoot};

const USAGE: &str =
    "usage: teechain-enclave (--listen tcp:127.0.0.1:PORT | --listen PATH | --socket PATH) --boot FILE [--exit-on-stdin-close]";

struct Args {
    listen: EnclaveAddress,
    boot: PathBuf,
    exit_on_stdin_close: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut listen = None;
    let mut boot = None;
    let mut exit_on_stdin_close = false;
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--socket") => {
                listen = Some(EnclaveAddress::Unix(PathBuf::from(args.next().ok_or("--socket needs a path")?)))
            }
            Some("--listen") => {
                let address = args.next().ok_or("--listen needs an address")?;
                let address = address.to_str().ok_or("--listen: not UTF-8")?;
                listen = Some(EnclaveAddress::parse(address)?);
            }
            Some("--boot") => boot = Some(PathBuf::from(args.next().ok_or("--boot needs a file")?)),
            Some("--exit-on-stdin-close") => exit_on_stdin_close = true,
            Some("-h" | "--help") => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(format!("unexpected argument {}", arg.to_string_lossy())),
        }
    }
    Ok(Args {
        listen: listen.ok_or("--listen (or --socket) is required")?,
        boot: boot.ok_or("--boot is required")?,
        exit_on_stdin_close,
    })
}

fn run(args: Args) -> Result<(), String> {
    let config = EnclaveBoot::read(&args.boot).and_then(|boot| boot.config()).map_err(|e| e.to_string())?;
    let platform = config.platform;
    let enclave = Enclave::new(config)?;
    let listener = Listener::bind(&args.listen).map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let address = listener.address().map_err(|e| format!("listening on {}: {e}", args.listen))?;
    if args.exit_on_stdin_close {
        std::thread::spawn(|| {
            // Only the host holds the other end of this pipe: end of file means it is gone.
            let mut buf = [0u8; 64];
            while matches!(std::io::stdin().read(&mut buf), Ok(n) if n > 0) {}
            eprintln!("teechain-enclave: host closed standard input; exiting");
            std::process::exit(0);
        });
    }
    let insecure = if platform.is_secure() { "" } else { " (INSECURE)" };
    eprintln!("enclave platform {}{insecure} listening on {address}", platform.name());
    // The host learns where to connect from this line (for port 0, the port chosen).
    let mut out = std::io::stdout();
    writeln!(out, "listening {address}").and_then(|()| out.flush()).map_err(|e| format!("standard output: {e}"))?;
    process::serve(listener, Arc::new(enclave)).map_err(|e| format!("serving {address}: {e}"))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("teechain-enclave: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("teechain-enclave: {e}");
            ExitCode::FAILURE
        }
    }
}
