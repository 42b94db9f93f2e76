//! The `signalpost` binary: everything lives in the library; see [`signalpost::cli`].

/// jemalloc instead of the system allocator. The HTTP workers allocate each request's buffers and
/// the store's writer thread frees them; glibc's malloc serialized that hand-over on its arena lock,
/// and a fifth of the server's time under batch load went to malloc, free and that lock. With
/// jemalloc, batch ingest went from 32k to 47k events/s and idle RSS stayed under 30 MB
/// (`bench/table.sh sqlite -n 100000`).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    signalpost::cli::run()
}
