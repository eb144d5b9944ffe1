//! Writes the man pages the packages ship (`scripts/package` runs it):
//!
//! - `appstream-host.1` and one page per visible subcommand
//!   (`appstream-host-serve.1`, …), by clap_mangen from `host::cli::Cli`,
//!   under the name the package installs the host as (/usr/bin/host and
//!   host(1) belong to bind9-host);
//! - `viewer.1`, rendered from the built viewer's `--help` and its
//!   subcommands' (the viewer's clap type is private to its binary).
//!
//! `manpages OUT_DIR VIEWER_BINARY`; prints the pages it wrote.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use clap::CommandFactory;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out_dir, viewer] = args.as_slice() else {
        bail!("usage: manpages OUT_DIR VIEWER_BINARY");
    };
    let out_dir = PathBuf::from(out_dir);
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    clap_mangen::generate_to(host::cli::Cli::command().name("appstream-host"), &out_dir)
        .context("writing the host's man pages")?;
    let viewer_page = out_dir.join("viewer.1");
    std::fs::write(&viewer_page, viewer_manpage(Path::new(viewer))?)
        .with_context(|| format!("writing {}", viewer_page.display()))?;
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&out_dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "1"))
        .collect();
    pages.sort();
    for page in pages {
        println!("{}", page.display());
    }
    Ok(())
}

/// `viewer ARGS --help` (or `--version`) as text.
fn viewer_output(viewer: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(viewer)
        .args(args)
        .output()
        .with_context(|| format!("running {} {}", viewer.display(), args.join(" ")))?;
    if !output.status.success() {
        bail!(
            "{} {} failed: {}",
            viewer.display(),
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The viewer's page: NAME and SYNOPSIS from its help, the help itself, and
/// a section per subcommand with that subcommand's help.
fn viewer_manpage(viewer: &Path) -> anyhow::Result<String> {
    let help = viewer_output(viewer, &["--help"])?;
    let version = viewer_output(viewer, &["--version"])?;
    let about = help.lines().next().unwrap_or("").trim().to_string();
    let subcommands: Vec<String> = help
        .lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|name| name != "help")
        .collect();
    let mut page = String::new();
    let _ = writeln!(
        page,
        ".TH VIEWER 1 \"\" \"{}\" \"User Commands\"",
        roff_text(version.trim())
    );
    let _ = writeln!(page, ".SH NAME\nviewer \\- {}", roff_text(&about));
    page.push_str(".SH SYNOPSIS\n");
    let _ = writeln!(page, ".B viewer\n[\\fIURL\\fR]");
    for name in &subcommands {
        let _ = writeln!(page, ".br\n.B viewer {name}\n[\\fIOPTIONS\\fR]");
    }
    page.push_str(".SH DESCRIPTION\n");
    page.push_str(&preformatted(help.lines().skip(1)));
    for name in &subcommands {
        let sub = viewer_output(viewer, &[name, "--help"])?;
        let _ = writeln!(page, ".SH \"VIEWER {}\"", name.to_uppercase());
        page.push_str(&preformatted(sub.lines()));
    }
    page.push_str(
        ".SH SEE ALSO\n\\fBappstream-host\\fR(1); the desktop entry appstream-viewer.desktop opens \
         appstream:// links in the viewer.\n",
    );
    Ok(page)
}

/// Text as it is, in a no-fill block.
fn preformatted<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    let mut block = String::from(".nf\n");
    for line in lines {
        block.push_str(&roff_line(line));
        block.push('\n');
    }
    block.push_str(".fi\n");
    block
}

/// A line of text roff prints as it is: backslashes escaped, and a leading
/// `.` or `'` (a request) neutralised.
fn roff_line(line: &str) -> String {
    let text = roff_text(line);
    if text.starts_with('.') || text.starts_with('\'') {
        format!("\\&{text}")
    } else {
        text
    }
}

fn roff_text(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}
