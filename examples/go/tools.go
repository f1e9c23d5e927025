package qwen

/*
#include <qwen/qwen.h>
#include <stdlib.h>
*/
import "C"

import (
	"encoding/json"
	"strings"
	"unsafe"
)

// ToolCall is one call read out of a model's answer. Arguments is the JSON object the model
// wrote (it followed the tool's JSON Schema when generation was constrained by ToolsGrammar).
type ToolCall struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// Answer is a model's answer split into text and tool calls.
type Answer struct {
	Content   string     `json:"content"` // the text outside the calls, trimmed
	ToolCalls []ToolCall `json:"tool_calls"`
}

// ToolsGrammar returns a GBNF grammar (for SamplerParams.Grammar) for an answer to a
// conversation with these tools (toolsJSON: a JSON array of OpenAI-style tool definitions):
// plain text that does not start with '<', or <tool_call> blocks calling declared tools with
// arguments that follow their JSON Schema. required leaves only the calls.
func ToolsGrammar(toolsJSON string, required bool) (string, error) {
	tools, err := cStringField("tools", toolsJSON)
	if err != nil {
		return "", err
	}
	defer C.free(unsafe.Pointer(tools))
	text, err := fill(4096, func(buf *byte, capacity C.size_t, n *C.size_t) C.qwen_status {
		return C.qwen_tools_grammar(tools, (*C.char)(unsafe.Pointer(buf)), capacity, n)
	})
	if err != nil || !required {
		return string(text), err
	}
	// qwen.h: the first line is the root rule, and one call block is the rule `tool-call`.
	_, rules, _ := strings.Cut(string(text), "\n")
	return "root ::= tool-call ( \"\\n\" tool-call )*\n" + rules, nil
}

// ParseToolCalls reads Qwen2.5's <tool_call> blocks out of a model's answer. A malformed
// block stays in the content.
func ParseToolCalls(text string) (Answer, error) {
	ctext, err := cStringField("text", text)
	if err != nil {
		return Answer{}, err
	}
	defer C.free(unsafe.Pointer(ctext))
	out, err := fill(256+len(text), func(buf *byte, capacity C.size_t, n *C.size_t) C.qwen_status {
		return C.qwen_parse_tool_calls(ctext, (*C.char)(unsafe.Pointer(buf)), capacity, n)
	})
	if err != nil {
		return Answer{}, err
	}
	var a Answer
	if err := json.Unmarshal(out, &a); err != nil {
		return Answer{}, &Error{Status: StatusInternal, Message: "qwen_parse_tool_calls returned invalid JSON: " + err.Error()}
	}
	return a, nil
}
