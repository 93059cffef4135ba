use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = csp_app::Cli::parse();
    csp_app::run(cli, &mut std::io::stdout(), &mut std::io::stderr()).await
}
