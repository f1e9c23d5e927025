package qwen

/*
#include <qwen/qwen.h>
#include <stdlib.h>
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Message is one turn of a conversation as Qwen2.5's chat template takes it.
type Message struct {
	Role    string // "system", "user", "assistant" or "tool"
	Content string
	// ToolCalls is, for assistant turns, a JSON array of calls: {"name": ..., "arguments":
	// {...}} or OpenAI's {"type": "function", "function": {...}}. A message with tool calls
	// and an empty Content has no content key (as the template treats None).
	ToolCalls string
}

// cChat is a conversation as C structs. The structs live in Go memory and point only to C
// strings, which cgo allows; free releases the strings.
type cChat struct {
	messages []C.qwen_chat_message
	tools    *C.char
	strings  []*C.char
}

func newCChat(messages []Message, toolsJSON string) (*cChat, error) {
	c := &cChat{messages: make([]C.qwen_chat_message, len(messages))}
	var err error
	str := func(what string, s string) *C.char {
		p, e := cStringField(what, s)
		if e != nil {
			err = e
			return nil
		}
		c.strings = append(c.strings, p)
		return p
	}
	for i, m := range messages {
		c.messages[i].role = str(fmt.Sprintf("messages[%d].role", i), m.Role)
		if m.Content != "" || m.ToolCalls == "" {
			c.messages[i].content = str(fmt.Sprintf("messages[%d].content", i), m.Content)
		}
		if m.ToolCalls != "" {
			c.messages[i].tool_calls = str(fmt.Sprintf("messages[%d].tool_calls", i), m.ToolCalls)
		}
	}
	if toolsJSON != "" {
		c.tools = str("tools", toolsJSON)
	}
	if err != nil {
		c.free()
		return nil, err
	}
	return c, nil
}

func (c *cChat) ptr() *C.qwen_chat_message {
	if len(c.messages) == 0 {
		return nil
	}
	return &c.messages[0]
}

func (c *cChat) free() {
	for _, p := range c.strings {
		C.free(unsafe.Pointer(p))
	}
}

// RenderChat renders a conversation in Qwen2.5's chat format byte for byte as its official
// Jinja template does (default system prompt, tool definitions, calls and responses).
// toolsJSON is "" or a JSON array of OpenAI-style tool definitions. It needs no model: the
// template is Qwen2.5's, built into the library.
func RenderChat(messages []Message, toolsJSON string, addGenerationPrompt bool) (string, error) {
	chat, err := newCChat(messages, toolsJSON)
	if err != nil {
		return "", err
	}
	defer chat.free()
	var flags C.uint32_t
	if addGenerationPrompt {
		flags = C.QWEN_CHAT_ADD_GENERATION_PROMPT
	}
	guess := 256
	for _, m := range messages {
		guess += len(m.Content) + len(m.ToolCalls) + 32
	}
	text, err := fill(guess, func(buf *byte, capacity C.size_t, n *C.size_t) C.qwen_status {
		return C.qwen_chat_render(chat.ptr(), C.size_t(len(chat.messages)), chat.tools, flags,
			(*C.char)(unsafe.Pointer(buf)), capacity, n)
	})
	return string(text), err
}
