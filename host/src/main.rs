//! `host`: the command line (see `host::cli`).

fn main() -> anyhow::Result<std::process::ExitCode> {
    host::cli::main()
}
