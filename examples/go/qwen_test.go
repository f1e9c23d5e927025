package qwen_test

// The bindings against a real model: QWEN_TEST_MODEL names a GGUF file (tests/bindings/run.sh
// writes a tiny synthetic Qwen2 with the real Qwen2.5 tokenizer and chat template).

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	"libqwen.dev/qwen"
)

func load(t *testing.T) *qwen.Model {
	t.Helper()
	path := os.Getenv("QWEN_TEST_MODEL")
	if path == "" {
		t.Fatal("set QWEN_TEST_MODEL to a GGUF file (see tests/bindings/run.sh)")
	}
	m, err := qwen.Load(path)
	if err != nil {
		t.Fatalf("loading %s: %v", path, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func newContext(t *testing.T, m *qwen.Model, nCtx uint32) *qwen.Context {
	t.Helper()
	p := qwen.DefaultContextParams()
	p.NCtx, p.NThreads = nCtx, 1
	c, err := m.NewContext(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func tokenize(t *testing.T, m *qwen.Model, text string, special bool) []int32 {
	t.Helper()
	ids, err := m.Tokenize(text, special)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func detokenize(t *testing.T, m *qwen.Model, ids []int32, skip bool) string {
	t.Helper()
	text, err := m.Detokenize(ids, skip)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// ignoringEOS generates exactly maxTokens tokens (a random model may end its turn any time).
func ignoringEOS(maxTokens int32) qwen.GenerateOptions {
	opts := qwen.DefaultGenerateOptions()
	opts.MaxTokens, opts.IgnoreEOS = maxTokens, true
	return opts
}

// argmax is the first maximum, as the greedy sampler breaks ties.
func argmax(row []float32) int32 {
	best := 0
	for i, x := range row {
		if x > row[best] {
			best = i
		}
	}
	return int32(best)
}

func TestLoad(t *testing.T) {
	m := load(t)
	if m.NVocab() != 151936 || m.NCtxTrain() <= 0 {
		t.Fatalf("n_vocab %d, n_ctx_train %d", m.NVocab(), m.NCtxTrain())
	}
	if eos, ok := m.Special(qwen.TokenEOS); !ok || eos != 151645 {
		t.Fatalf("eos %d %v", eos, ok)
	}
	if !strings.HasPrefix(qwen.Version(), "0.") {
		t.Fatal(qwen.Version())
	}
}

func TestTokenizeRoundTrip(t *testing.T) {
	m := load(t)
	text := "Hello, world! Grüße, 你好 🙂\n\tcode: fn main() {}"
	ids := tokenize(t, m, text, false)
	if len(ids) <= 10 || len(ids) >= len(text) {
		t.Fatal(ids)
	}
	if got := detokenize(t, m, ids, false); got != text {
		t.Fatalf("%q", got)
	}
	if got := tokenize(t, m, "Hello", false); !reflect.DeepEqual(got, []int32{9707}) {
		t.Fatal(got)
	}
	if got := tokenize(t, m, "<|im_start|>", true); !reflect.DeepEqual(got, []int32{151644}) {
		t.Fatal(got)
	}
	for _, id := range tokenize(t, m, "<|im_start|>", false) {
		if id == 151644 {
			t.Fatal("user text became a control token")
		}
	}
	if got := detokenize(t, m, []int32{151644, 9707, 151645}, true); got != "Hello" {
		t.Fatalf("%q", got)
	}
	// Longer than the first buffer guess: the binding must retry with the size asked for.
	long := strings.Repeat("a", 100) + strings.Repeat("🙂", 200)
	if got := detokenize(t, m, tokenize(t, m, long, false), false); got != long {
		t.Fatalf("%q", got)
	}
}

func TestGreedyGenerateEqualsEvalArgmax(t *testing.T) {
	m := load(t)
	prompt := tokenize(t, m, "<|im_start|>user\nCount to ten.<|im_end|>\n<|im_start|>assistant\n", true)
	const n = 12
	opts := ignoringEOS(n)
	opts.KeepSpecial = true

	ctx := newContext(t, m, 128)
	var streamed []int32
	var text strings.Builder
	r, err := ctx.Generate(nil, prompt, opts, func(e qwen.Event) bool {
		if e.Token >= 0 {
			streamed = append(streamed, e.Token)
		}
		text.WriteString(e.Text)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.FinishReason != qwen.FinishLength || r.NGeneratedTokens != n || r.NPromptTokens != len(prompt) || len(streamed) != n {
		t.Fatalf("%+v, %d streamed", r, len(streamed))
	}
	// The cache holds the prompt and every generated token but the last, which was sampled
	// from the logits and is evaluated by whatever comes next.
	if want := append(append([]int32(nil), prompt...), streamed[:n-1]...); !reflect.DeepEqual(ctx.Tokens(), want) {
		t.Fatalf("cache %v, want %v", ctx.Tokens(), want)
	}
	if want := detokenize(t, m, streamed, false); text.String() != want {
		t.Fatalf("streamed %q, detokenized %q", text.String(), want)
	}

	manual := newContext(t, m, 128)
	if err := manual.Eval(prompt); err != nil {
		t.Fatal(err)
	}
	var expected []int32
	for i := 0; i < n; i++ {
		tok := argmax(manual.Logits())
		expected = append(expected, tok)
		if err := manual.Eval([]int32{tok}); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(streamed, expected) {
		t.Fatalf("generate %v, eval+argmax %v", streamed, expected)
	}

	// A seeded sampler is reproducible.
	sample := func(seed uint64) []int32 {
		p := qwen.DefaultSamplerParams()
		p.Seed = seed
		s, err := m.NewSampler(p)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var out []int32
		if _, err := newContext(t, m, 128).Generate(s, prompt, opts, func(e qwen.Event) bool {
			if e.Token >= 0 {
				out = append(out, e.Token)
			}
			return true
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if a, b := sample(7), sample(7); !reflect.DeepEqual(a, b) {
		t.Fatalf("%v != %v", a, b)
	}
}

func TestStreamingCallbackStops(t *testing.T) {
	m := load(t)
	ctx := newContext(t, m, 128)
	prompt := tokenize(t, m, "Once upon a time", false)
	opts := ignoringEOS(50)
	seen := 0
	r, err := ctx.Generate(nil, prompt, opts, func(e qwen.Event) bool {
		if e.Token >= 0 {
			seen++
		}
		return seen < 3
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.FinishReason != qwen.FinishCallback || r.NGeneratedTokens != 3 || seen != 3 || ctx.NPast() != len(prompt)+2 {
		t.Fatalf("%+v (%v), seen %d, n_past %d", r, r.FinishReason, seen, ctx.NPast())
	}
}

func TestCallbackPanicPropagatesAndContextSurvives(t *testing.T) {
	m := load(t)
	ctx := newContext(t, m, 128)
	prompt := tokenize(t, m, "Hi", false)
	opts := ignoringEOS(5)
	func() {
		defer func() {
			if r := recover(); r != "from the callback" {
				t.Fatalf("recovered %v", r)
			}
		}()
		ctx.Generate(nil, prompt, opts, func(qwen.Event) bool { panic("from the callback") })
		t.Fatal("Generate returned normally")
	}()
	if ctx.NPast() != len(prompt) {
		t.Fatalf("n_past %d", ctx.NPast())
	}
	if _, err := ctx.Generate(nil, prompt, opts, nil); err != nil {
		t.Fatal(err)
	}
}

const tools = `[{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]`

func toolConversation() []qwen.Message {
	return []qwen.Message{
		{Role: "user", Content: "Weather in Paris?"},
		{Role: "assistant", ToolCalls: `[{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]`},
		{Role: "tool", Content: "18C, sunny"},
	}
}

func TestChatRenderWithToolCall(t *testing.T) {
	// What Jinja2 renders from Qwen2.5-7B-Instruct's official template (tokenizer_config.json)
	// for these messages and tools with add_generation_prompt=True.
	expected := "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n# Tools\n\n" +
		"You may call one or more functions to assist with the user query.\n\n" +
		"You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n" + tools[1:len(tools)-1] +
		"\n</tools>\n\nFor each function call, return a json object with function name and arguments within " +
		"<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n" +
		"</tool_call><|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n" +
		"{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n" +
		"<|im_start|>user\n<tool_response>\n18C, sunny\n</tool_response><|im_end|>\n<|im_start|>assistant\n"
	got, err := qwen.RenderChat(toolConversation(), tools, true)
	if err != nil || got != expected {
		t.Fatalf("%v\n got %q\nwant %q", err, got, expected)
	}

	// GenerateChat sees exactly that prompt, and the next turn reuses it from the cache.
	m := load(t)
	ctx := newContext(t, m, 512)
	opts := ignoringEOS(4)
	r, err := ctx.GenerateChat(nil, toolConversation(), tools, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	prompt := tokenize(t, m, expected, true)
	if r.NPromptTokens != len(prompt) || !reflect.DeepEqual(ctx.Tokens()[:len(prompt)], prompt) {
		t.Fatalf("%+v", r)
	}
	next := append(toolConversation(), qwen.Message{Role: "assistant", Content: "It is sunny."},
		qwen.Message{Role: "user", Content: "Thanks!"})
	r2, err := ctx.GenerateChat(nil, next, tools, opts, nil)
	if err != nil || r2.NCachedTokens < len(prompt)-1 {
		t.Fatalf("%+v %v", r2, err)
	}
}

func TestErrors(t *testing.T) {
	path := "/nonexistent/libqwen-go-test/model.gguf"
	m, err := qwen.Load(path)
	var qe *qwen.Error
	if m != nil || !errors.As(err, &qe) || qe.Status != qwen.StatusIO || !strings.Contains(qe.Message, path) {
		t.Fatalf("Load(missing) = %v, %v", m, err)
	}
	if !strings.Contains(err.Error(), "QWEN_ERR_IO") {
		t.Fatal(err)
	}

	_, err = qwen.RenderChat([]qwen.Message{{Role: "wizard", Content: "hi"}}, "", false)
	if !errors.As(err, &qe) || qe.Status != qwen.StatusInvalidArgument {
		t.Fatal(err)
	}
	_, err = qwen.RenderChat([]qwen.Message{{Role: "user", Content: "a\x00b"}}, "", false)
	if err == nil || err.Error() != "messages[0].content: NUL byte at offset 1 (QWEN_ERR_INVALID_ARGUMENT)" {
		t.Fatal(err)
	}

	model := load(t)
	ctx := newContext(t, model, 128)
	err = ctx.Eval([]int32{int32(model.NVocab())})
	if !errors.As(err, &qe) || qe.Status != qwen.StatusInvalidArgument || !strings.Contains(qe.Message, "151936") {
		t.Fatal(err)
	}
	if ctx.NPast() != 0 {
		t.Fatal("a failed eval changed the context")
	}
	if err = ctx.Eval(make([]int32, 129)); !errors.As(err, &qe) || qe.Status != qwen.StatusContextFull {
		t.Fatal(err)
	}
	p := qwen.DefaultSamplerParams()
	p.TopP = 2
	if _, err = model.NewSampler(p); err == nil || !strings.Contains(err.Error(), "top_p") {
		t.Fatal(err)
	}
}

func TestCloseEverything(t *testing.T) {
	path := os.Getenv("QWEN_TEST_MODEL")
	for i := 0; i < 3; i++ {
		m, err := qwen.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		s, err := m.NewSampler(qwen.DefaultSamplerParams())
		if err != nil {
			t.Fatal(err)
		}
		c, err := m.NewContext(qwen.DefaultContextParams())
		if err != nil {
			t.Fatal(err)
		}
		opts := ignoringEOS(2)
		if r, err := c.Generate(s, []int32{9707}, opts, func(qwen.Event) bool { return true }); err != nil || r.NGeneratedTokens != 2 {
			t.Fatal(r, err)
		}
		for _, closer := range []interface{ Close() error }{c, s, m, c, s, m} { // twice: a no-op
			if err := closer.Close(); err != nil {
				t.Fatal(err)
			}
		}
		// A closed handle is an error from the library, not a crash.
		if _, err := m.Tokenize("x", false); err == nil {
			t.Fatal("Tokenize on a closed model succeeded")
		}
		if err := c.Eval([]int32{1}); err == nil {
			t.Fatal("Eval on a closed context succeeded")
		}
	}
}

func TestModelSharedAcrossGoroutines(t *testing.T) {
	m := load(t)
	want := tokenize(t, m, "shared across goroutines", false)
	var wg sync.WaitGroup
	results := make([]int32, 4)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ids, err := m.Tokenize("shared across goroutines", false)
			if err != nil || !reflect.DeepEqual(ids, want) {
				t.Errorf("%v %v", ids, err)
				return
			}
			p := qwen.DefaultContextParams()
			p.NCtx, p.NThreads = 64, 1
			ctx, err := m.NewContext(p)
			if err != nil {
				t.Error(err)
				return
			}
			defer ctx.Close()
			if err := ctx.Eval(ids); err != nil {
				t.Error(err)
				return
			}
			results[i] = argmax(ctx.Logits())
		}(i)
	}
	wg.Wait()
	for _, r := range results {
		if r != results[0] {
			t.Fatal(results)
		}
	}
}
