//! The `signalpost` binary: everything lives in the library; see [`signalpost::cli`].

fn main() -> std::process::ExitCode {
    signalpost::cli::run()
}
