//! `exp ui`.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;

use clap::Args;

use exp::ui::Ui;

use super::output::{outln, print_json};

#[derive(Debug, Args)]
pub struct UiArgs {
    /// The port to listen on (0: any free port, printed on start).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The address to listen on. The default serves this machine only; another address (e.g.
    /// 0.0.0.0) shows the log to everyone who can reach it, without any login.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Threads answering requests.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: u16,
}

pub fn run(db: &Path, args: UiArgs, json: bool) -> anyhow::Result<ExitCode> {
    let ui = Ui::bind(db, SocketAddr::new(args.bind, args.port))?;
    let url = format!("http://{}/", ui.addr());
    if json {
        print_json(&serde_json::json!({ "url": url, "db": db }))?;
    } else {
        outln!("exp ui: serving {} read-only at {url}", db.display());
        if !args.bind.is_loopback() {
            outln!("warning: listening on {} shows the log to anyone who can reach this machine (no login)", args.bind);
        }
        outln!("press Ctrl-C to stop");
    }
    ui.serve(usize::from(args.workers));
    Ok(ExitCode::SUCCESS)
}
