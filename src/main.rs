//! The `helpdesk` binary: everything lives in the library; see `cli`.

fn main() -> std::process::ExitCode {
    helpdesk::cli::main()
}
