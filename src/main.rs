use clap::Parser;

/// glibc gives each thread that allocates an arena of its own (up to eight per core) and keeps
/// what each one freed. Pages are built on one thread and freed on another here, so a long
/// pull's peak RSS was about 15% higher with glibc's default than with two arenas
/// (BENCHMARKS.md). A `MALLOC_ARENA_MAX` set by the operator wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: runs before any other thread exists; mallopt only sets a malloc tunable.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

fn main() -> std::process::ExitCode {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    limit_malloc_arenas();
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
