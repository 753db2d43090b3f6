use clap::Parser;

fn main() -> std::process::ExitCode {
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
