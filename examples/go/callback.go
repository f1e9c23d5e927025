package qwen

/*
#include <qwen/qwen.h>
*/
import "C"

import "runtime/cgo"

// generation is what the C callback reaches through its user_data: a cgo.Handle, an integer,
// so no Go pointer is ever stored in C memory.
type generation struct {
	onEvent  func(Event) bool
	panicked bool
	panicVal any
}

// qwenGoEvent is called by libqwen (through qwen_go_trampoline) after every generated token.
// A panic must not unwind through the library's C++ frames, so it is recovered here, the
// generation is stopped, and Generate panics again once the C call has returned.
//
//export qwenGoEvent
func qwenGoEvent(event *C.qwen_generate_event, handle C.uintptr_t) (stop C.int) {
	g := cgo.Handle(handle).Value().(*generation)
	if g.panicked {
		return 1
	}
	defer func() {
		if r := recover(); r != nil {
			g.panicked, g.panicVal, stop = true, r, 1
		}
	}()
	e := Event{Token: int32(event.token), Logprob: float32(event.logprob)}
	if event.text_len > 0 {
		e.Text = C.GoStringN(event.text, C.int(event.text_len))
	}
	if g.onEvent(e) {
		return 0
	}
	return 1
}
