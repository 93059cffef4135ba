use std::process::ExitCode;

use clap::Parser;

/// jemalloc, not the system allocator: `csp-app watch` is a long-running service whose every
/// cycle over a large estate frees and allocates again about a hundred thousand findings and
/// listing pages. With glibc's allocator the holes those leave made the service's memory grow
/// cycle after cycle (1,000 partners × 100 customers: 104 MiB after the first cycle, 150 MiB
/// after the eleventh, peaks to 164 MiB); with jemalloc it stays at about 120 MiB from the
/// second cycle on (`cargo bench -p csp-app --bench watch -- --cycles 12`, which uses this
/// allocator too).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = csp_app::Cli::parse();
    csp_app::run(cli, &mut std::io::stdout(), &mut std::io::stderr()).await
}
