// Package qwen runs Qwen2.5-0.5B-Instruct on CPUs through libqwen's C ABI
// (include/qwen/qwen.h), found with pkg-config.
//
// Handles own C memory: call Close on every Model, Context and Sampler when done (Close a
// model after its contexts and samplers). Each also has a finalizer that closes it if it
// becomes unreachable first; that is a safety net, not a way to manage memory: the Go
// garbage collector does not see the C memory (tens of MB per context), so it may run late.
//
// Threads: a Model is immutable after loading and safe for concurrent use by many goroutines.
// A Context or a Sampler must be used by one goroutine at a time. Close must not race with
// other calls on the same handle.
//
// Errors are *Error values carrying the library's status and message.
package qwen

/*
#cgo pkg-config: qwen
#include <qwen/qwen.h>
#include <stdlib.h>
*/
import "C"

import (
	"fmt"
	"runtime"
	"strings"
	"unsafe"
)

// Version is the version of the libqwen actually loaded ("MAJOR.MINOR.PATCH").
func Version() string { return C.GoString(C.qwen_version()) }

// Status is a libqwen status code (qwen_status).
type Status int

const (
	StatusOK              Status = C.QWEN_OK
	StatusInvalidArgument Status = C.QWEN_ERR_INVALID_ARGUMENT
	StatusIO              Status = C.QWEN_ERR_IO
	StatusFormat          Status = C.QWEN_ERR_FORMAT
	StatusUnsupported     Status = C.QWEN_ERR_UNSUPPORTED
	StatusOutOfMemory     Status = C.QWEN_ERR_OUT_OF_MEMORY
	StatusContextFull     Status = C.QWEN_ERR_CONTEXT_FULL
	StatusBufferTooSmall  Status = C.QWEN_ERR_BUFFER_TOO_SMALL
	StatusAborted         Status = C.QWEN_ERR_ABORTED
	StatusInputTooLarge   Status = C.QWEN_ERR_INPUT_TOO_LARGE
	StatusInternal        Status = C.QWEN_ERR_INTERNAL
)

// String is the constant's name in the C header, e.g. "QWEN_ERR_IO".
func (s Status) String() string { return C.GoString(C.qwen_status_name(C.qwen_status(s))) }

// Error is a failed libqwen call: its status and the library's message, which names the
// file, field or offset at fault. Use errors.As to reach it.
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string { return e.Message + " (" + e.Status.String() + ")" }

// call runs one fallible C call and returns its error. qwen_last_error() is per OS thread,
// and a goroutine may move to another thread between two cgo calls: the thread is pinned so
// that the message read is the one this call set.
func call(f func() C.qwen_status) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if st := f(); st != C.QWEN_OK {
		return &Error{Status: Status(st), Message: C.GoString(C.qwen_last_error())}
	}
	return nil
}

// fill runs a call of the C buffer protocol: it writes up to `capacity` items and reports the
// count, or fails with QWEN_ERR_BUFFER_TOO_SMALL and the count needed; then it runs again
// with a buffer of that size.
func fill[T any](guess int, f func(buf *T, capacity C.size_t, n *C.size_t) C.qwen_status) ([]T, error) {
	buf := make([]T, guess)
	for {
		var n C.size_t
		var p *T
		if len(buf) > 0 {
			p = &buf[0]
		}
		err := call(func() C.qwen_status { return f(p, C.size_t(len(buf)), &n) })
		if e, ok := err.(*Error); ok && e.Status == StatusBufferTooSmall && int(n) > len(buf) {
			buf = make([]T, int(n))
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

// cString is s as a C string (copied, NUL-terminated) and the function that frees it.
func cString(s string) (*C.char, func()) {
	p := C.CString(s)
	return p, func() { C.free(unsafe.Pointer(p)) }
}

// cStringField is cString for a value the C API reads up to its NUL: a NUL inside s would
// silently cut it, so it is an error naming the field and the byte offset instead.
func cStringField(what, s string) (*C.char, error) {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return nil, &Error{Status: StatusInvalidArgument, Message: fmt.Sprintf("%s: NUL byte at offset %d", what, i)}
	}
	return C.CString(s), nil
}
