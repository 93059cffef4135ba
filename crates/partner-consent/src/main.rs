//! `partner-consent`: see the library's documentation.

fn main() -> std::process::ExitCode {
    partner_consent::cli::main()
}
