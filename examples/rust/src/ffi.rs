//! Hand-written declarations of the parts of include/qwen/qwen.h (ABI version 0) that the
//! safe wrappers use; build.rs checks the installed header's ABI version. Parameter structs are
//! always filled by the library's `*_params_init(p, size_of)`, so the library reads exactly
//! the fields declared here, whatever it appends in later versions.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_void};

pub type qwen_status = c_int;
pub const QWEN_OK: qwen_status = 0;

pub enum qwen_model {}
pub enum qwen_context {}
pub enum qwen_sampler {}

#[repr(C)]
pub struct qwen_model_params {
    pub struct_size: usize,
    pub use_mmap: c_int,
}

#[repr(C)]
pub struct qwen_context_params {
    pub struct_size: usize,
    pub n_ctx: u32,
    pub n_threads: i32,
    pub kv_type: c_int,
}

#[repr(C)]
pub struct qwen_sampler_params {
    pub struct_size: usize,
    pub seed: u64,
    pub temperature: f32,
    pub top_k: i32,
    pub top_p: f32,
    pub min_p: f32,
    pub typical_p: f32,
    pub repetition_penalty: f32,
    pub frequency_penalty: f32,
    pub presence_penalty: f32,
    pub penalty_last_n: i32,
    pub logit_bias: *const c_void,
    pub n_logit_bias: usize,
    pub order: *const c_int,
    pub n_order: usize,
    pub grammar: *const c_char,
    pub json_schema: *const c_char,
}

#[repr(C)]
pub struct qwen_chat_message {
    pub role: *const c_char,
    pub content: *const c_char,
    pub tool_calls: *const c_char,
}

#[repr(C)]
pub struct qwen_generate_event {
    pub token: i32,
    pub text: *const c_char,
    pub text_len: usize,
    pub logprob: f32,
    pub top: *const c_void,
    pub n_top: usize,
}

pub type qwen_generate_callback =
    Option<unsafe extern "C" fn(event: *const qwen_generate_event, user_data: *mut c_void) -> c_int>;

pub const QWEN_TOKENIZE_PARSE_SPECIAL: u32 = 1;
pub const QWEN_DETOKENIZE_SKIP_SPECIAL: u32 = 1;
pub const QWEN_CHAT_ADD_GENERATION_PROMPT: u32 = 1;
pub const QWEN_GENERATE_KEEP_SPECIAL: u32 = 1;
pub const QWEN_GENERATE_IGNORE_EOS: u32 = 2;

#[repr(C)]
pub struct qwen_generate_params {
    pub struct_size: usize,
    pub max_tokens: i32,
    pub stop: *const *const c_char,
    pub n_stop: usize,
    pub flags: u32,
    pub logprobs: i32,
    pub callback: qwen_generate_callback,
    pub user_data: *mut c_void,
}

#[repr(C)]
#[derive(Default)]
pub struct qwen_generate_result {
    pub struct_size: usize,
    pub finish_reason: c_int,
    pub n_prompt_tokens: u32,
    pub n_cached_tokens: u32,
    pub n_generated_tokens: u32,
    pub prompt_ms: f64,
    pub generate_ms: f64,
    pub time_to_first_token_ms: f64,
}

extern "C" {
    pub fn qwen_version() -> *const c_char;
    pub fn qwen_status_name(status: qwen_status) -> *const c_char;
    pub fn qwen_last_error() -> *const c_char;

    pub fn qwen_model_params_init(params: *mut qwen_model_params, struct_size: usize);
    pub fn qwen_model_load(
        path: *const c_char,
        params: *const qwen_model_params,
        out: *mut *mut qwen_model,
    ) -> qwen_status;
    pub fn qwen_model_free(model: *mut qwen_model);
    pub fn qwen_model_n_vocab(model: *const qwen_model) -> i32;
    pub fn qwen_model_n_ctx_train(model: *const qwen_model) -> i32;
    pub fn qwen_token_special(model: *const qwen_model, which: c_int) -> i32;

    pub fn qwen_tokenize(
        model: *const qwen_model,
        text: *const c_char,
        len: usize,
        flags: u32,
        tokens: *mut i32,
        capacity: usize,
        n_tokens: *mut usize,
    ) -> qwen_status;
    pub fn qwen_detokenize(
        model: *const qwen_model,
        tokens: *const i32,
        n_tokens: usize,
        flags: u32,
        buf: *mut c_char,
        capacity: usize,
        len: *mut usize,
    ) -> qwen_status;

    pub fn qwen_context_params_init(params: *mut qwen_context_params, struct_size: usize);
    pub fn qwen_context_create(
        model: *const qwen_model,
        params: *const qwen_context_params,
        out: *mut *mut qwen_context,
    ) -> qwen_status;
    pub fn qwen_context_free(ctx: *mut qwen_context);
    pub fn qwen_eval(ctx: *mut qwen_context, tokens: *const i32, n_tokens: usize, flags: u32) -> qwen_status;
    pub fn qwen_context_logits(ctx: *const qwen_context, n_rows: *mut usize) -> *const f32;
    pub fn qwen_context_n_past(ctx: *const qwen_context) -> u32;
    pub fn qwen_context_n_ctx(ctx: *const qwen_context) -> u32;
    pub fn qwen_context_tokens(ctx: *const qwen_context, n_tokens: *mut usize) -> *const i32;
    pub fn qwen_context_truncate(ctx: *mut qwen_context, n_keep: u32) -> qwen_status;
    pub fn qwen_context_abort(ctx: *mut qwen_context);

    pub fn qwen_sampler_params_init(params: *mut qwen_sampler_params, struct_size: usize);
    pub fn qwen_sampler_create(
        model: *const qwen_model,
        params: *const qwen_sampler_params,
        out: *mut *mut qwen_sampler,
    ) -> qwen_status;
    pub fn qwen_sampler_free(sampler: *mut qwen_sampler);
    pub fn qwen_sampler_sample(
        sampler: *mut qwen_sampler,
        logits: *const f32,
        n_logits: usize,
        token: *mut i32,
    ) -> qwen_status;

    pub fn qwen_chat_render(
        messages: *const qwen_chat_message,
        n_messages: usize,
        tools_json: *const c_char,
        flags: u32,
        buf: *mut c_char,
        capacity: usize,
        len: *mut usize,
    ) -> qwen_status;

    pub fn qwen_tools_grammar(
        tools_json: *const c_char,
        buf: *mut c_char,
        capacity: usize,
        len: *mut usize,
    ) -> qwen_status;
    pub fn qwen_parse_tool_calls(
        text: *const c_char,
        buf: *mut c_char,
        capacity: usize,
        len: *mut usize,
    ) -> qwen_status;

    pub fn qwen_generate_params_init(params: *mut qwen_generate_params, struct_size: usize);
    pub fn qwen_generate(
        ctx: *mut qwen_context,
        sampler: *mut qwen_sampler,
        prompt: *const i32,
        n_prompt: usize,
        params: *const qwen_generate_params,
        result: *mut qwen_generate_result,
    ) -> qwen_status;
    pub fn qwen_generate_chat(
        ctx: *mut qwen_context,
        sampler: *mut qwen_sampler,
        messages: *const qwen_chat_message,
        n_messages: usize,
        tools_json: *const c_char,
        params: *const qwen_generate_params,
        result: *mut qwen_generate_result,
    ) -> qwen_status;
}
