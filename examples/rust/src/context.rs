use std::any::Any;
use std::borrow::Cow;
use std::ffi::CString;
use std::marker::PhantomData;
use std::mem::size_of;
use std::ops::ControlFlow;
use std::os::raw::{c_char, c_int, c_void};
use std::panic::{self, AssertUnwindSafe};
use std::ptr::{self, NonNull};
use std::slice;
use std::sync::{Arc, Mutex};

use crate::chat::{CChat, Message};
use crate::error::{c_string, check, Result};
use crate::ffi;
use crate::model::{init, Model};
use crate::sampler::Sampler;

/// Precision of the KV cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvType {
    F16 = 0,
    F32 = 1,
}

/// How to create a context. `Default` is the library's `qwen_context_params_init`.
#[derive(Clone, Debug)]
pub struct ContextParams {
    /// KV cache length in tokens; 0 = 4096.
    pub n_ctx: u32,
    /// Compute threads; 0 = one per core.
    pub n_threads: i32,
    pub kv_type: KvType,
}

impl Default for ContextParams {
    fn default() -> Self {
        let p = unsafe { init(ffi::qwen_context_params_init) };
        let kv_type = if p.kv_type == KvType::F32 as c_int { KvType::F32 } else { KvType::F16 };
        ContextParams { n_ctx: p.n_ctx, n_threads: p.n_threads, kv_type }
    }
}

/// What a generation does besides sampling. `Default` is `qwen_generate_params_init`.
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    /// Most tokens to generate; 0 = until EOS or a full context.
    pub max_tokens: i32,
    /// Stop strings (not part of the output).
    pub stop: Vec<String>,
    /// Control tokens the model generates appear in the text.
    pub keep_special: bool,
    /// Do not stop at `<|im_end|>` / `<|endoftext|>`.
    pub ignore_eos: bool,
    /// Report each token's log-probability in [`Event::logprob`].
    pub logprobs: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        let p = unsafe { init(ffi::qwen_generate_params_init) };
        GenerateOptions {
            max_tokens: p.max_tokens,
            stop: Vec::new(),
            keep_special: p.flags & ffi::QWEN_GENERATE_KEEP_SPECIAL != 0,
            ignore_eos: p.flags & ffi::QWEN_GENERATE_IGNORE_EOS != 0,
            logprobs: p.logprobs >= 0,
        }
    }
}

/// What the streaming callback sees after each generated token.
#[derive(Debug)]
pub struct Event<'a> {
    /// The token just generated; None for the final event that releases held-back text.
    pub token: Option<i32>,
    /// The text this step releases (may be empty while a character or a possible stop string
    /// is incomplete); the concatenation over all events is the output.
    pub text: Cow<'a, str>,
    /// Log-probability of `token` under the model, if [`GenerateOptions::logprobs`].
    pub logprob: f32,
}

/// Why a generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    Eos,
    StopString,
    Length,
    ContextFull,
    /// The callback returned `ControlFlow::Break`.
    Callback,
    Aborted,
}

/// The outcome of a generation.
#[derive(Clone, Debug)]
pub struct Generation {
    pub finish_reason: FinishReason,
    pub n_prompt_tokens: u32,
    /// Prompt tokens found in the KV cache, not evaluated again.
    pub n_cached_tokens: u32,
    pub n_generated_tokens: u32,
    pub prompt_ms: f64,
    pub generate_ms: f64,
}

/// One conversation: KV cache, scratch memory and the last logits. `Send`, not `Sync`;
/// borrows its model.
pub struct Context<'m> {
    raw: NonNull<ffi::qwen_context>,
    n_vocab: usize,
    abort: Arc<AbortTarget>,
    _model: PhantomData<&'m Model>,
}

/// The context an [`AbortHandle`] stops: null once the context is dropped. The lock makes
/// "drop, then abort from another thread" a no-op instead of a use after free.
struct AbortTarget(Mutex<*mut ffi::qwen_context>);

// SAFETY: the pointer is only passed to qwen_context_abort(), the one call qwen.h allows from
// any thread, and only under the lock that Drop takes before freeing the context.
unsafe impl Send for AbortTarget {}
unsafe impl Sync for AbortTarget {}

/// Stops the work running on a context from another thread (see [`Context::abort_handle`]).
/// `Send + Sync + Clone`; it outlives its context harmlessly (abort() then does nothing).
#[derive(Clone)]
pub struct AbortHandle(Arc<AbortTarget>);

impl AbortHandle {
    /// Asks the generation or eval running on the context to stop as soon as possible: a
    /// generation returns `Ok` with [`FinishReason::Aborted`], an eval the status
    /// `ABORTED`. A request made while nothing runs stops the next call.
    pub fn abort(&self) {
        let ctx = self.0 .0.lock().unwrap_or_else(|e| e.into_inner());
        if !ctx.is_null() {
            unsafe { ffi::qwen_context_abort(*ctx) }
        }
    }
}

// SAFETY: qwen.h: a context is used by one thread at a time, any thread; &mut self enforces it.
unsafe impl Send for Context<'_> {}

impl<'m> Context<'m> {
    pub(crate) fn new(model: &'m Model, params: &ContextParams) -> Result<Context<'m>> {
        let mut p = unsafe { init(ffi::qwen_context_params_init) };
        p.n_ctx = params.n_ctx;
        p.n_threads = params.n_threads;
        p.kv_type = params.kv_type as c_int;
        let mut raw = ptr::null_mut();
        check(unsafe { ffi::qwen_context_create(model.raw(), &p, &mut raw) })?;
        let raw = NonNull::new(raw).expect("qwen_context_create returned QWEN_OK and NULL");
        let abort = Arc::new(AbortTarget(Mutex::new(raw.as_ptr())));
        Ok(Context { raw, n_vocab: model.n_vocab(), abort, _model: PhantomData })
    }

    fn raw(&self) -> *mut ffi::qwen_context {
        self.raw.as_ptr()
    }

    /// Appends `tokens` to the conversation and runs the model over them.
    pub fn eval(&mut self, tokens: &[i32]) -> Result<()> {
        check(unsafe { ffi::qwen_eval(self.raw(), tokens.as_ptr(), tokens.len(), 0) })
    }

    /// The logits of the last evaluated token (n_vocab of them); empty before any evaluation.
    /// Borrowing `self` keeps them valid: the next eval needs `&mut self`.
    pub fn logits(&self) -> &[f32] {
        let mut rows = 0;
        let p = unsafe { ffi::qwen_context_logits(self.raw(), &mut rows) };
        if p.is_null() || rows == 0 {
            return &[];
        }
        // SAFETY: `rows` rows of n_vocab floats, owned by the context until it next changes.
        unsafe { slice::from_raw_parts(p.add((rows - 1) * self.n_vocab), self.n_vocab) }
    }

    /// The tokens in the KV cache, in order.
    pub fn tokens(&self) -> &[i32] {
        let mut n = 0;
        let p = unsafe { ffi::qwen_context_tokens(self.raw(), &mut n) };
        if p.is_null() {
            &[]
        } else {
            unsafe { slice::from_raw_parts(p, n) }
        }
    }

    pub fn n_past(&self) -> u32 {
        unsafe { ffi::qwen_context_n_past(self.raw()) }
    }

    pub fn n_ctx(&self) -> u32 {
        unsafe { ffi::qwen_context_n_ctx(self.raw()) }
    }

    /// A handle another thread can stop this context's work with while this one generates.
    pub fn abort_handle(&self) -> AbortHandle {
        AbortHandle(Arc::clone(&self.abort))
    }

    /// Forgets every token at position >= n_keep.
    pub fn truncate(&mut self, n_keep: u32) -> Result<()> {
        check(unsafe { ffi::qwen_context_truncate(self.raw(), n_keep) })
    }

    /// Generates a continuation of `prompt` (the whole sequence; a prefix already in the KV
    /// cache is reused) with `sampler` (None: greedy), calling `on_event` after every token;
    /// `ControlFlow::Break` stops it. A panic in `on_event` stops the generation and then
    /// continues unwinding from this call.
    pub fn generate<F>(
        &mut self,
        sampler: Option<&mut Sampler<'_>>,
        prompt: &[i32],
        options: &GenerateOptions,
        on_event: F,
    ) -> Result<Generation>
    where
        F: FnMut(&Event<'_>) -> ControlFlow<()>,
    {
        let ctx = self.raw();
        let sampler = sampler.map_or(ptr::null_mut(), |s| s.raw());
        run(options, on_event, |params, result| unsafe {
            ffi::qwen_generate(ctx, sampler, prompt.as_ptr(), prompt.len(), params, result)
        })
    }

    /// [`generate`](Self::generate) on a conversation rendered with Qwen2.5's chat template and
    /// the generation prompt. Call it again with the answer and the next user message appended:
    /// the shared prefix is not evaluated again.
    pub fn generate_chat<F>(
        &mut self,
        sampler: Option<&mut Sampler<'_>>,
        messages: &[Message],
        tools_json: Option<&str>,
        options: &GenerateOptions,
        on_event: F,
    ) -> Result<Generation>
    where
        F: FnMut(&Event<'_>) -> ControlFlow<()>,
    {
        let chat = CChat::new(messages, tools_json)?;
        let ctx = self.raw();
        let sampler = sampler.map_or(ptr::null_mut(), |s| s.raw());
        run(options, on_event, |params, result| unsafe {
            ffi::qwen_generate_chat(
                ctx,
                sampler,
                chat.messages.as_ptr(),
                chat.messages.len(),
                chat.tools(),
                params,
                result,
            )
        })
    }
}

impl Drop for Context<'_> {
    fn drop(&mut self) {
        let mut target = self.abort.0.lock().unwrap_or_else(|e| e.into_inner());
        *target = ptr::null_mut();
        unsafe { ffi::qwen_context_free(self.raw()) }
    }
}

/// The closure and a panic it raised, reached from C through `user_data`.
struct Bridge<'f, F> {
    on_event: &'f mut F,
    panic: Option<Box<dyn Any + Send>>,
}

/// The C callback. Unwinding into C is undefined behaviour, so a panic is caught here, the
/// generation is stopped, and run() resumes the panic once the C call has returned.
unsafe extern "C" fn trampoline<F>(event: *const ffi::qwen_generate_event, user_data: *mut c_void) -> c_int
where
    F: FnMut(&Event<'_>) -> ControlFlow<()>,
{
    let bridge = &mut *(user_data as *mut Bridge<'_, F>);
    if bridge.panic.is_some() {
        return 1;
    }
    let e = &*event;
    let bytes = if e.text_len == 0 { &[][..] } else { slice::from_raw_parts(e.text.cast::<u8>(), e.text_len) };
    // The library releases only whole UTF-8 characters, so this borrows, never copies.
    let event =
        Event { token: (e.token >= 0).then_some(e.token), text: String::from_utf8_lossy(bytes), logprob: e.logprob };
    match panic::catch_unwind(AssertUnwindSafe(|| (bridge.on_event)(&event))) {
        Ok(ControlFlow::Continue(())) => 0,
        Ok(ControlFlow::Break(())) => 1,
        Err(payload) => {
            bridge.panic = Some(payload);
            1
        }
    }
}

fn run<F>(
    options: &GenerateOptions,
    mut on_event: F,
    call: impl FnOnce(&ffi::qwen_generate_params, &mut ffi::qwen_generate_result) -> ffi::qwen_status,
) -> Result<Generation>
where
    F: FnMut(&Event<'_>) -> ControlFlow<()>,
{
    let stop: Vec<CString> = options
        .stop
        .iter()
        .enumerate()
        .map(|(i, s)| c_string(&format!("stop[{i}]"), s.as_bytes()))
        .collect::<Result<_>>()?;
    let stop_ptrs: Vec<*const c_char> = stop.iter().map(|s| s.as_ptr()).collect();
    let mut bridge = Bridge { on_event: &mut on_event, panic: None };

    let mut p = unsafe { init(ffi::qwen_generate_params_init) };
    p.max_tokens = options.max_tokens;
    p.stop = if stop_ptrs.is_empty() { ptr::null() } else { stop_ptrs.as_ptr() };
    p.n_stop = stop_ptrs.len();
    p.flags = if options.keep_special { ffi::QWEN_GENERATE_KEEP_SPECIAL } else { 0 }
        | if options.ignore_eos { ffi::QWEN_GENERATE_IGNORE_EOS } else { 0 };
    p.logprobs = if options.logprobs { 0 } else { -1 };
    p.callback = Some(trampoline::<F>);
    p.user_data = &mut bridge as *mut Bridge<'_, F> as *mut c_void;

    let mut r = ffi::qwen_generate_result { struct_size: size_of::<ffi::qwen_generate_result>(), ..Default::default() };
    let status = call(&p, &mut r);
    if let Some(payload) = bridge.panic.take() {
        panic::resume_unwind(payload);
    }
    check(status)?;
    let finish_reason = match r.finish_reason {
        1 => FinishReason::Eos,
        2 => FinishReason::StopString,
        3 => FinishReason::Length,
        4 => FinishReason::ContextFull,
        5 => FinishReason::Callback,
        _ => FinishReason::Aborted, // 6, QWEN_FINISH_ABORTED
    };
    Ok(Generation {
        finish_reason,
        n_prompt_tokens: r.n_prompt_tokens,
        n_cached_tokens: r.n_cached_tokens,
        n_generated_tokens: r.n_generated_tokens,
        prompt_ms: r.prompt_ms,
        generate_ms: r.generate_ms,
    })
}
