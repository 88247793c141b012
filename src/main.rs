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
    if reads_only(&args.command) {
        end_quietly_on_closed_pipe();
    }
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", error_text(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each cause left out when the text before it already says it: many
/// errors put their cause in their own message ("PATH: CAUSE") and also keep it as the source.
fn error_text(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// Commands that print and record nothing, so that `exp show NAME | head` may end them.
fn reads_only(command: &cli::Command) -> bool {
    matches!(
        command,
        cli::Command::Ls(_)
            | cli::Command::Show { .. }
            | cli::Command::Events { .. }
            | cli::Command::Verify { .. }
            | cli::Command::Predict(_)
            | cli::Command::Bench(_)
    )
}

/// Rust ignores SIGPIPE, so printing into a pipe whose reader has gone panics. A command that
/// only reads ends instead, as Unix tools do; commands that record events keep running.
fn end_quietly_on_closed_pipe() {
    // SAFETY: called before any other thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
