//! `teechain-enclave`: the enclave as its own process, serving one host over a Unix socket.
//!
//! ```text
//! teechain-enclave --socket PATH --boot FILE [--exit-on-stdin-close]
//! ```
//!
//! Reads the boot file (an encoded `EnclaveBoot`, written by the host), starts the
//! enclave, listens on PATH (mode 0600, replacing a stale socket) and serves until killed.
//! With `--exit-on-stdin-close` it also exits when its standard input reaches end of file,
//! so an enclave started by a host that dies does not outlive it.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use teechain_enclave::{process, Enclave, EnclaveBoot};

const USAGE: &str = "usage: teechain-enclave --socket PATH --boot FILE [--exit-on-stdin-close]";

struct Args {
    socket: PathBuf,
    boot: PathBuf,
    exit_on_stdin_close: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut socket = None;
    let mut boot = None;
    let mut exit_on_stdin_close = false;
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--socket") => socket = Some(PathBuf::from(args.next().ok_or("--socket needs a path")?)),
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
        socket: socket.ok_or("--socket is required")?,
        boot: boot.ok_or("--boot is required")?,
        exit_on_stdin_close,
    })
}

fn run(args: Args) -> Result<(), String> {
    let config = EnclaveBoot::read(&args.boot).and_then(|boot| boot.config()).map_err(|e| e.to_string())?;
    let platform = config.platform;
    let enclave = Enclave::new(config)?;
    let listener =
        process::bind_private(&args.socket).map_err(|e| format!("cannot listen on {}: {e}", args.socket.display()))?;
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
    eprintln!("enclave platform {}{insecure} listening on {}", platform.name(), args.socket.display());
    process::serve(listener, Arc::new(enclave)).map_err(|e| format!("serving {}: {e}", args.socket.display()))
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
