use std::ffi::CString;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};

use crate::error::{c_string, check, Result};
use crate::ffi;
use crate::model::{init, Model};

/// Sampling settings. `Default` is the library's `qwen_sampler_params_init`: Qwen2.5-Instruct's
/// published generation_config (temperature 0.7, top_p 0.8, top_k 20, repetition_penalty 1.1).
#[derive(Clone, Debug, PartialEq)]
pub struct SamplerParams {
    pub seed: u64,
    /// <= 0: greedy (argmax after penalties and bias).
    pub temperature: f32,
    pub top_k: i32,
    pub top_p: f32,
    pub min_p: f32,
    pub typical_p: f32,
    pub repetition_penalty: f32,
    pub frequency_penalty: f32,
    pub presence_penalty: f32,
    /// How many recent tokens the penalties see; -1 = all.
    pub penalty_last_n: i32,
    /// GBNF text every sampled token must follow (see [`crate::tools_grammar`]).
    pub grammar: Option<String>,
    /// JSON Schema text the output must validate against ("{}": any JSON value). At most one
    /// of `grammar` and `json_schema`.
    pub json_schema: Option<String>,
}

impl Default for SamplerParams {
    fn default() -> Self {
        let p = unsafe { init(ffi::qwen_sampler_params_init) };
        SamplerParams {
            seed: p.seed,
            temperature: p.temperature,
            top_k: p.top_k,
            top_p: p.top_p,
            min_p: p.min_p,
            typical_p: p.typical_p,
            repetition_penalty: p.repetition_penalty,
            frequency_penalty: p.frequency_penalty,
            presence_penalty: p.presence_penalty,
            penalty_last_n: p.penalty_last_n,
            grammar: None,
            json_schema: None,
        }
    }
}

impl SamplerParams {
    /// The C struct; its grammar and schema point into `strings`, which must outlive it.
    fn to_c(&self, strings: &mut Vec<CString>) -> Result<ffi::qwen_sampler_params> {
        let mut p = unsafe { init(ffi::qwen_sampler_params_init) };
        p.seed = self.seed;
        p.temperature = self.temperature;
        p.top_k = self.top_k;
        p.top_p = self.top_p;
        p.min_p = self.min_p;
        p.typical_p = self.typical_p;
        p.repetition_penalty = self.repetition_penalty;
        p.frequency_penalty = self.frequency_penalty;
        p.presence_penalty = self.presence_penalty;
        p.penalty_last_n = self.penalty_last_n;
        let mut keep = |what: &str, text: &Option<String>| -> Result<*const std::os::raw::c_char> {
            let Some(text) = text else { return Ok(ptr::null()) };
            // The CString's heap buffer does not move when the CString is moved into the Vec.
            strings.push(c_string(what, text.as_bytes())?);
            Ok(strings.last().map_or(ptr::null(), |c| c.as_ptr()))
        };
        p.grammar = keep("grammar", &self.grammar)?;
        p.json_schema = keep("json_schema", &self.json_schema)?;
        Ok(p)
    }
}

/// A seeded sampler: the same seed, logits and history give the same tokens everywhere.
/// `Send`, not `Sync` (one thread at a time); borrows its model.
pub struct Sampler<'m> {
    raw: NonNull<ffi::qwen_sampler>,
    n_vocab: usize,
    _model: PhantomData<&'m Model>,
}

// SAFETY: qwen.h: a sampler is used by one thread at a time, any thread; &mut self enforces it.
unsafe impl Send for Sampler<'_> {}

impl<'m> Sampler<'m> {
    pub(crate) fn new(model: &'m Model, params: &SamplerParams) -> Result<Sampler<'m>> {
        let mut strings = Vec::new();
        let p = params.to_c(&mut strings)?;
        let mut raw = ptr::null_mut();
        check(unsafe { ffi::qwen_sampler_create(model.raw(), &p, &mut raw) })?;
        let raw = NonNull::new(raw).expect("qwen_sampler_create returned QWEN_OK and NULL");
        Ok(Sampler { raw, n_vocab: model.n_vocab(), _model: PhantomData })
    }

    pub(crate) fn raw(&mut self) -> *mut ffi::qwen_sampler {
        self.raw.as_ptr()
    }

    /// Samples a token from one row of logits (n_vocab of them) and adds it to the history.
    pub fn sample(&mut self, logits: &[f32]) -> Result<i32> {
        let mut token = -1;
        check(unsafe { ffi::qwen_sampler_sample(self.raw(), logits.as_ptr(), logits.len(), &mut token) })?;
        debug_assert!((0..self.n_vocab as i32).contains(&token));
        Ok(token)
    }
}

impl Drop for Sampler<'_> {
    fn drop(&mut self) {
        unsafe { ffi::qwen_sampler_free(self.raw.as_ptr()) }
    }
}
