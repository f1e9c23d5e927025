//! Safe Rust bindings to libqwen, a CPU runtime for Qwen2.5-0.5B-Instruct, through its C ABI
//! (`include/qwen/qwen.h`).
//!
//! ```no_run
//! use std::ops::ControlFlow;
//! use qwen::{ContextParams, GenerateOptions, Message, Model};
//!
//! let model = Model::load("qwen2.5-0.5b-instruct-q8_0.gguf")?;
//! let mut ctx = model.context(&ContextParams::default())?;
//! let chat = [Message::user("Hi!")];
//! ctx.generate_chat(None, &chat, None, &GenerateOptions::default(), |event| {
//!     print!("{}", event.text);
//!     ControlFlow::Continue(())
//! })?;
//! # Ok::<(), qwen::Error>(())
//! ```
//!
//! # Ownership and threads
//!
//! Every handle frees itself on drop. A [`Context`] and a [`Sampler`] borrow the [`Model`]
//! they were made from, so the compiler keeps the model alive as long as they are:
//!
//! ```compile_fail
//! let ctx = {
//!     let model = qwen::Model::load("m.gguf").unwrap();
//!     model.context(&Default::default()).unwrap()
//! }; // error: `model` does not live long enough
//! ```
//!
//! The C header promises that a model is immutable after loading and may be used from any
//! number of threads at once, so [`Model`] is `Send + Sync` (share it with `Arc` or scoped
//! threads). A context or a sampler may be used by one thread at a time: they are `Send` (move
//! them to another thread) but not `Sync`, and their mutating methods take `&mut self`.
//!
//! ```compile_fail
//! fn shared<T: Sync>(_: &T) {}
//! fn check(ctx: &qwen::Context<'_>) { shared(ctx) } // error: Context is not Sync
//! ```
//!
//! # Errors
//!
//! Every fallible call returns [`Error`]: the library's status and the message
//! `qwen_last_error()` gave for it (naming the file, field or offset at fault).

mod chat;
mod context;
mod error;
mod ffi;
mod model;
mod sampler;

pub use chat::{parse_tool_calls, render_chat, tools_grammar, Message};
pub use context::{AbortHandle, Context, ContextParams, Event, FinishReason, GenerateOptions, Generation, KvType};
pub use error::{Error, Result, Status};
pub use model::{Model, ModelParams, SpecialToken};
pub use sampler::{Sampler, SamplerParams};

/// The version of the libqwen actually loaded ("MAJOR.MINOR.PATCH").
pub fn version() -> &'static str {
    // SAFETY: a static NUL-terminated ASCII string.
    unsafe { std::ffi::CStr::from_ptr(ffi::qwen_version()) }.to_str().unwrap_or("?")
}
