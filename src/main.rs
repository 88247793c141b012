//! The `exp` binary: parses arguments and hands them to `cli`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    if matches!(args.command, cli::Command::Train(_)) {
        // Before any candle op or thread: allocator and thread-pool settings for CPU training.
        exp::model::alloc::tune_for_training();
    }
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
