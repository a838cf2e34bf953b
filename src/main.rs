//! The `paperbot` binary: parses arguments, loads configuration and calls
//! into the library. All real work lives in `paperbot::*`.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    use clap::Parser;
    // `paperbot export | head`: a closed pipe ends the process quietly, as
    // for any Unix tool, instead of a panic in println!.
    #[cfg(target_os = "linux")]
    // SAFETY: restoring the default disposition of a signal at startup,
    // before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = cli::Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        Err(e) => {
            // `{:#}` prints the whole context chain on one line.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
