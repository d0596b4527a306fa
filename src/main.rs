use clap::{Parser, Subcommand};
use hearth::cli;
use std::path::PathBuf;
use std::process::ExitCode;

/// hearth: chat with local GGUF language models in your terminal.
#[derive(Parser)]
#[command(name = "hearth", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Chat in a full-screen terminal UI (the default with no subcommand).
    Chat(cli::chat::ChatArgs),
    /// Complete a prompt, streaming the text to stdout.
    Generate(cli::generate::GenerateArgs),
    /// Print the token ids of a text as a JSON array.
    Tokenize(cli::tokenize::TokenizeArgs),
    /// Measure perplexity on a text file (llama.cpp's method).
    Perplexity(cli::perplexity::PerplexityArgs),
    /// Measure prompt (pp) and generation (tg) speed, as llama-bench does.
    Bench(cli::bench::BenchArgs),
    /// Print a model's metadata and tensor table.
    Info {
        /// The GGUF file.
        model: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        None => cli::chat::run(&cli::chat::ChatArgs::default()),
        Some(Command::Chat(a)) => cli::chat::run(a),
        Some(Command::Generate(a)) => cli::generate::run(a),
        Some(Command::Tokenize(a)) => cli::tokenize::run(a, &mut std::io::stdout().lock()),
        Some(Command::Perplexity(a)) => cli::perplexity::run(a),
        Some(Command::Bench(a)) => cli::bench::run(a),
        Some(Command::Info { model }) => cli::info::run(model, &mut std::io::stdout().lock()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
