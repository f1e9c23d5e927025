package qwen_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"libqwen.dev/qwen"
)

func TestParseToolCalls(t *testing.T) {
	answer := "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"
	got, err := qwen.ParseToolCalls(answer)
	if err != nil {
		t.Fatal(err)
	}
	want := qwen.Answer{Content: "Let me check.", ToolCalls: []qwen.ToolCall{
		{Name: "get_weather", Arguments: json.RawMessage(`{"city":"Paris"}`)}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if got, _ := qwen.ParseToolCalls("No call."); got.Content != "No call." || len(got.ToolCalls) != 0 {
		t.Fatalf("plain text: %+v", got)
	}
	var e *qwen.Error
	if _, err := qwen.ParseToolCalls("a\x00b"); !errors.As(err, &e) || e.Message != "text: NUL byte at offset 1" {
		t.Fatalf("NUL byte: %v", err)
	}
}

// cityTool has bounded arguments (an enum), so a constrained call always completes.
const cityTool = `[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"enum": ["Paris", "Oslo"]}}, "required": ["city"], "additionalProperties": false}}}]`

func TestGrammarConstrainedChatMakesAToolCall(t *testing.T) {
	m := load(t)
	ctx := newContext(t, m, 1024)
	grammar, err := qwen.ToolsGrammar(cityTool, true)
	if err != nil || !strings.HasPrefix(grammar, "root ::= tool-call") {
		t.Fatalf("grammar: %v\n%s", err, grammar)
	}
	for seed := uint64(1); seed <= 3; seed++ {
		p := qwen.DefaultSamplerParams()
		p.Seed, p.Grammar = seed, grammar
		s, err := m.NewSampler(p)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var text strings.Builder
		opts := qwen.DefaultGenerateOptions()
		opts.MaxTokens = 300 // after each call the grammar allows another or the end
		chat := []qwen.Message{{Role: "user", Content: "Weather in Paris?"}}
		r, err := ctx.GenerateChat(s, chat, cityTool, opts, func(e qwen.Event) bool {
			text.WriteString(e.Text)
			return true
		})
		if err != nil || r.FinishReason != qwen.FinishEOS {
			t.Fatalf("seed %d: %v %v\n%s", seed, r.FinishReason, err, text.String())
		}
		a, err := qwen.ParseToolCalls(text.String())
		if err != nil || a.Content != "" || len(a.ToolCalls) == 0 {
			t.Fatalf("seed %d: %+v %v\n%s", seed, a, err, text.String())
		}
		for _, call := range a.ToolCalls {
			var args struct{ City string }
			if err := json.Unmarshal(call.Arguments, &args); err != nil || call.Name != "get_weather" ||
				(args.City != "Paris" && args.City != "Oslo") {
				t.Fatalf("seed %d: call %s %s (%v)", seed, call.Name, call.Arguments, err)
			}
		}
	}
	var e *qwen.Error
	if _, err := qwen.ToolsGrammar(`[{"name": 3}]`, false); !errors.As(err, &e) || e.Status != qwen.StatusInvalidArgument {
		t.Fatalf("bad tools: %v", err)
	}
	p := qwen.DefaultSamplerParams()
	p.Grammar = "root ::= ("
	if _, err := m.NewSampler(p); !errors.As(err, &e) || e.Status != qwen.StatusInvalidArgument {
		t.Fatalf("bad grammar: %v", err)
	}
}

func TestAbortFromAnotherGoroutine(t *testing.T) {
	m := load(t)
	ctx := newContext(t, m, 4096)
	prompt := tokenize(t, m, "Once upon a time", false)
	started := make(chan struct{})
	done := make(chan struct{})
	go func() {
		<-started
		ctx.Abort()
		close(done)
	}()
	first := true
	// No token limit: only the abort can end this before the 4096-token context is full.
	r, err := ctx.Generate(nil, prompt, ignoringEOS(0), func(qwen.Event) bool {
		if first {
			first = false
			close(started)
		}
		return true
	})
	<-done
	if err != nil || r.FinishReason != qwen.FinishAborted || ctx.NPast() >= 4000 {
		t.Fatalf("%v %v, n_past %d", r.FinishReason, err, ctx.NPast())
	}
	// The request was consumed; an Abort after Close does nothing.
	if r, err := ctx.Generate(nil, prompt, ignoringEOS(2), nil); err != nil || r.FinishReason != qwen.FinishLength {
		t.Fatalf("after abort: %v %v", r.FinishReason, err)
	}
	ctx.Close()
	ctx.Abort()
}
