use std::ffi::{CStr, CString};
use std::fmt;

use crate::ffi;

/// A libqwen status code (`qwen_status`). A newtype rather than an enum so that codes added
/// by a newer library still round-trip.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status(pub i32);

impl Status {
    pub const INVALID_ARGUMENT: Status = Status(1);
    pub const IO: Status = Status(2);
    pub const FORMAT: Status = Status(3);
    pub const UNSUPPORTED: Status = Status(4);
    pub const OUT_OF_MEMORY: Status = Status(5);
    pub const CONTEXT_FULL: Status = Status(6);
    pub const BUFFER_TOO_SMALL: Status = Status(7);
    pub const ABORTED: Status = Status(8);
    pub const INPUT_TOO_LARGE: Status = Status(9);
    pub const INTERNAL: Status = Status(10);

    /// The constant's name in the C header, e.g. "QWEN_ERR_IO".
    pub fn name(self) -> &'static str {
        // SAFETY: qwen_status_name returns a static string for any value.
        unsafe { CStr::from_ptr(ffi::qwen_status_name(self.0)) }.to_str().unwrap_or("QWEN_ERR_UNKNOWN")
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed libqwen call: its status and the library's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub status: Status,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The error of the call that just returned `status` on this thread. Must be called
    /// before any other libqwen call: qwen_last_error() is per thread and per call.
    pub(crate) fn last(status: ffi::qwen_status) -> Error {
        // SAFETY: qwen_last_error never returns NULL; the string is copied at once.
        let message = unsafe { CStr::from_ptr(ffi::qwen_last_error()) }.to_string_lossy().into_owned();
        Error { status: Status(status), message }
    }

    pub(crate) fn invalid(message: String) -> Error {
        Error { status: Status::INVALID_ARGUMENT, message }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.status.name())
    }
}

impl std::error::Error for Error {}

/// Ok(()) for QWEN_OK, else the thread's last error.
pub(crate) fn check(status: ffi::qwen_status) -> Result<()> {
    if status == ffi::QWEN_OK {
        Ok(())
    } else {
        Err(Error::last(status))
    }
}

/// `s` as a C string; a NUL byte inside is an error naming `what` and the byte offset.
pub(crate) fn c_string(what: &str, s: &[u8]) -> Result<CString> {
    CString::new(s).map_err(|e| Error::invalid(format!("{what}: NUL byte at offset {}", e.nul_position())))
}

/// Runs a call of the C buffer protocol: it writes up to `capacity` items and reports the
/// count, or returns QWEN_ERR_BUFFER_TOO_SMALL with the count needed; then it runs again with
/// a buffer of that size.
pub(crate) fn fill<T: Copy + Default>(
    guess: usize,
    mut call: impl FnMut(*mut T, usize, &mut usize) -> ffi::qwen_status,
) -> Result<Vec<T>> {
    let mut buf = vec![T::default(); guess];
    loop {
        let mut n = 0;
        let status = call(buf.as_mut_ptr(), buf.len(), &mut n);
        if status == Status::BUFFER_TOO_SMALL.0 && n > buf.len() {
            buf.resize(n, T::default());
            continue;
        }
        check(status)?;
        buf.truncate(n);
        return Ok(buf);
    }
}

/// Bytes the library promises are UTF-8 (detokenized or rendered text), as a String.
pub(crate) fn into_string(bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes)
        .map_err(|e| Error { status: Status::INTERNAL, message: format!("libqwen returned invalid UTF-8: {e}") })
}
