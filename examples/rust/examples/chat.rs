//! A streaming chat in the terminal:
//! `cargo run --example chat -- [-n MAX_TOKENS] MODEL.gguf [SYSTEM PROMPT]`.
//! One user message per line on stdin; "/reset" starts over; EOF (Ctrl-D) quits.
use std::io::{self, BufRead, Write};
use std::ops::ControlFlow;
use std::process::ExitCode;

use qwen::{ContextParams, GenerateOptions, Message, Model, SamplerParams};

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut options = GenerateOptions::default();
    if args.len() >= 2 && args[0] == "-n" {
        options.max_tokens = args[1].parse().unwrap_or(0);
        args.drain(..2);
        if options.max_tokens <= 0 {
            args.clear(); // a usage error
        }
    }
    if args.is_empty() || args.len() > 2 {
        eprintln!("usage: chat [-n MAX_TOKENS] MODEL.gguf [SYSTEM PROMPT]");
        return ExitCode::from(2);
    }
    match run(&args[0], args.get(1).map(String::as_str), &options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: &str, system: Option<&str>, options: &GenerateOptions) -> Result<(), Box<dyn std::error::Error>> {
    let model = Model::load(path)?;
    let mut ctx = model.context(&ContextParams::default())?;
    let mut sampler = model.sampler(&SamplerParams::default())?;
    let start: Vec<Message> = system.map(Message::system).into_iter().collect();
    let mut history = start.clone();

    let stdin = io::stdin();
    let mut out = io::stdout();
    write!(out, "> ")?;
    out.flush()?;
    for line in stdin.lock().lines() {
        let line = line?;
        match line.trim() {
            "" => {}
            "/reset" => {
                history = start.clone();
                println!("(history cleared)");
            }
            text => {
                history.push(Message::user(text));
                let mut answer = String::new();
                // Only the new turn is evaluated: the rest of the history is in the KV cache.
                let result = ctx.generate_chat(Some(&mut sampler), &history, None, options, |event| {
                    answer.push_str(&event.text);
                    print!("{}", event.text);
                    match io::stdout().flush() {
                        Ok(()) => ControlFlow::Continue(()),
                        Err(_) => ControlFlow::Break(()), // stdout closed: stop generating
                    }
                })?;
                println!();
                eprintln!(
                    "[{:?}, {} tokens, {} from cache]",
                    result.finish_reason, result.n_generated_tokens, result.n_cached_tokens
                );
                history.push(Message::assistant(&answer));
            }
        }
        write!(out, "> ")?;
        out.flush()?;
    }
    println!();
    Ok(())
}
