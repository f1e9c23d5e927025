use std::mem::{size_of, MaybeUninit};
use std::path::Path;
use std::ptr::{self, NonNull};

use crate::context::{Context, ContextParams};
use crate::error::{c_string, check, fill, into_string, Result};
use crate::ffi;
use crate::sampler::{Sampler, SamplerParams};

/// How to load a model. `Default` is the library's `qwen_model_params_init`.
#[derive(Clone, Debug)]
pub struct ModelParams {
    /// Map the file read-only (default) instead of reading it into memory.
    pub use_mmap: bool,
}

impl Default for ModelParams {
    fn default() -> Self {
        let p = unsafe { init(ffi::qwen_model_params_init) };
        ModelParams { use_mmap: p.use_mmap != 0 }
    }
}

/// Fills a C params struct through its `*_params_init(p, size)` function.
///
/// # Safety
/// `f` must be the init function of `P`.
pub(crate) unsafe fn init<P>(f: unsafe extern "C" fn(*mut P, usize)) -> P {
    let mut p = MaybeUninit::<P>::uninit();
    f(p.as_mut_ptr(), size_of::<P>());
    p.assume_init()
}

/// Special tokens the model files declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecialToken {
    Bos = 0,
    /// The end of a turn: `<|im_end|>` for Qwen2.5-Instruct.
    Eos = 1,
    Pad = 2,
}

/// Weights, hyper-parameters and tokenizer; immutable after loading (see the crate docs on
/// threads).
pub struct Model {
    raw: NonNull<ffi::qwen_model>, // neither Send nor Sync by itself: see the impls below
}

// SAFETY: qwen.h: "qwen_model is immutable after loading: any number of threads may use one
// model at the same time", and it may be freed from any thread.
unsafe impl Send for Model {}
unsafe impl Sync for Model {}

impl Model {
    /// Loads a GGUF file or a Hugging Face model folder with default parameters.
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        Model::load_with(path, &ModelParams::default())
    }

    pub fn load_with(path: impl AsRef<Path>, params: &ModelParams) -> Result<Model> {
        let path = c_string("path", path_bytes(path.as_ref()))?;
        let mut p = unsafe { init(ffi::qwen_model_params_init) };
        p.use_mmap = params.use_mmap.into();
        let mut raw = ptr::null_mut();
        check(unsafe { ffi::qwen_model_load(path.as_ptr(), &p, &mut raw) })?;
        let raw = NonNull::new(raw).expect("qwen_model_load returned QWEN_OK and NULL");
        Ok(Model { raw })
    }

    pub(crate) fn raw(&self) -> *const ffi::qwen_model {
        self.raw.as_ptr()
    }

    /// Rows of the LM head: the length of a row of logits.
    pub fn n_vocab(&self) -> usize {
        unsafe { ffi::qwen_model_n_vocab(self.raw()) as usize }
    }

    /// The context length the model was trained for (max_position_embeddings).
    pub fn n_ctx_train(&self) -> u32 {
        unsafe { ffi::qwen_model_n_ctx_train(self.raw()) as u32 }
    }

    /// The id of a special token, if the model files declare one.
    pub fn special_token(&self, which: SpecialToken) -> Option<i32> {
        let id = unsafe { ffi::qwen_token_special(self.raw(), which as i32) };
        (id >= 0).then_some(id)
    }

    /// Token ids of `text`. With `parse_special`, control-token text such as `<|im_start|>`
    /// becomes its id; without it, user text cannot inject control tokens.
    pub fn tokenize(&self, text: &str, parse_special: bool) -> Result<Vec<i32>> {
        let flags = if parse_special { ffi::QWEN_TOKENIZE_PARSE_SPECIAL } else { 0 };
        // About 4 bytes per token in English text: most calls need no second pass.
        fill(text.len() / 3 + 8, |buf, cap, n| unsafe {
            ffi::qwen_tokenize(self.raw(), text.as_ptr().cast(), text.len(), flags, buf, cap, n)
        })
    }

    /// The text of `tokens` (control tokens included unless `skip_special`); ill-formed UTF-8
    /// across token boundaries becomes U+FFFD, as Hugging Face's decoder does.
    pub fn detokenize(&self, tokens: &[i32], skip_special: bool) -> Result<String> {
        let flags = if skip_special { ffi::QWEN_DETOKENIZE_SKIP_SPECIAL } else { 0 };
        let bytes = fill(tokens.len() * 4 + 16, |buf: *mut u8, cap, n| unsafe {
            ffi::qwen_detokenize(self.raw(), tokens.as_ptr(), tokens.len(), flags, buf.cast(), cap, n)
        })?;
        into_string(bytes)
    }

    /// A new conversation on this model.
    pub fn context(&self, params: &ContextParams) -> Result<Context<'_>> {
        Context::new(self, params)
    }

    /// A seeded sampler for this model.
    pub fn sampler(&self, params: &SamplerParams) -> Result<Sampler<'_>> {
        Sampler::new(self, params)
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        // Contexts and samplers borrow the model, so none is left when this runs.
        unsafe { ffi::qwen_model_free(self.raw.as_ptr()) }
    }
}

// libqwen targets Linux; paths go to the C API as the bytes the OS uses.
fn path_bytes(path: &Path) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes()
}
