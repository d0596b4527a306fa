//! `hearth tokenize`: token ids as one JSON array.

use super::common::TextArgs;
use crate::gguf::GgufFile;
use crate::tokenizer::Tokenizer;
use anyhow::Result;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct TokenizeArgs {
    /// The GGUF model file
    #[arg(short = 'm', long = "model", value_name = "FILE")]
    pub model: PathBuf,
    #[command(flatten)]
    pub text: TextArgs,
}

pub fn run(args: &TokenizeArgs, out: &mut impl Write) -> Result<()> {
    let file = GgufFile::open(&args.model)?;
    let tokenizer = Tokenizer::from_gguf(&file)?;
    let ids = tokenizer.tokenize(&args.text.text()?, true, true);
    writeln!(out, "{}", serde_json::to_string(&ids)?)?;
    Ok(())
}
