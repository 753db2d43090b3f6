use clap::Parser;

/// Two glibc malloc settings, each unless the operator set its variable:
///
/// - `M_ARENA_MAX` 2: by default every thread that allocates gets an arena of its own (up to
///   eight per core) and keeps what it freed; pages here are built on one thread and freed on
///   another (actix workers, tokio, the blocking pool that normalises pages).
/// - `M_MMAP_THRESHOLD` 1 MiB: page buffers (a few MB) then always come from, and go back to, the
///   kernel. glibc otherwise raises the threshold to the largest block freed, so page buffers
///   come from the heap, where they fragment it and stay resident.
///
/// A 1M-row pull through `serve` peaked at 51–63 MiB with the first alone and at ~34 MiB with
/// both, for about 1 µs/row more CPU in page faults (BENCHMARKS.md).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    let unset = |name: &str| std::env::var_os(name).is_none();
    // SAFETY: runs before any other thread exists; mallopt only sets malloc tunables.
    unsafe {
        if unset("MALLOC_ARENA_MAX") {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
        if unset("MALLOC_MMAP_THRESHOLD_") {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        }
    }
}

fn main() -> std::process::ExitCode {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tune_malloc();
    let cli = ml_connector::cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // actix-web's server needs a LocalSet-capable system runtime; run inside actix's system.
    let result =
        actix_web::rt::System::with_tokio_rt(|| runtime).block_on(ml_connector::cli::run(cli));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
