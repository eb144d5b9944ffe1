//! `host doctor`: whether streaming can work on this machine, and what to do
//! where it cannot. Each probe module returns `Check`s; `report` decides
//! the exit code (any failure: 1) and renders them.

mod clock;
mod data_dir;
mod devices;
mod encoders;
mod ports;
pub mod report;
mod x_display;

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use report::Report;

/// Options of `host doctor`.
#[derive(clap::Args, Debug, Clone)]
pub struct DoctorArgs {
    /// The address `host serve` would listen on (checked free).
    #[arg(long, default_value = "127.0.0.1:47990")]
    pub listen: SocketAddr,
    /// The fixed UDP media port `host serve` would use; 0 (one per session)
    /// is not checked.
    #[arg(long, default_value_t = 0)]
    pub media_port: u16,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs every check, prints the report; exit 0 when streaming can work.
pub fn run(data_dir: &Path, args: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let report = collect(data_dir, args);
    if args.json {
        println!("{}", report.render_json());
    } else {
        print!("{}", report.render_text());
    }
    Ok(report.exit_code())
}

fn collect(data_dir: &Path, args: &DoctorArgs) -> Report {
    let mut checks = x_display::checks(&x_display::probe());
    checks.extend(encoders::checks());
    checks.push(devices::audio_capture());
    checks.push(devices::uinput());
    checks.push(devices::landlock());
    checks.extend(ports::checks(args.listen, args.media_port));
    checks.push(data_dir::check(data_dir));
    checks.push(clock::check());
    Report { checks }
}
