//! The `signalpost` binary.

fn main() {
    println!("signalpost {}", env!("CARGO_PKG_VERSION"));
}
