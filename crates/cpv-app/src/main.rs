use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cpv_app::Cli::parse();
    cpv_app::run(cli, &mut std::io::stdout(), &mut std::io::stderr()).await
}
