// Command qwen-chat is a streaming chat in the terminal:
//
//	qwen-chat [-system PROMPT] [-seed N] [-n MAX_TOKENS] MODEL.gguf
//
// One user message per line on stdin; "/reset" starts over; EOF (Ctrl-D) quits.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"

	"libqwen.dev/qwen"
)

func main() {
	system := flag.String("system", "", "system prompt (default: Qwen's own)")
	seed := flag.Uint64("seed", qwen.DefaultSamplerParams().Seed, "sampling seed")
	opts := qwen.DefaultGenerateOptions()
	flag.Func("n", fmt.Sprintf("most tokens per answer (default %d)", opts.MaxTokens), func(s string) error {
		_, err := fmt.Sscan(s, &opts.MaxTokens)
		if err == nil && opts.MaxTokens <= 0 {
			err = fmt.Errorf("must be positive")
		}
		return err
	})
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: qwen-chat [-system PROMPT] [-seed N] [-n MAX_TOKENS] MODEL.gguf")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *system, *seed, opts); err != nil {
		fmt.Fprintln(os.Stderr, "qwen-chat:", err)
		os.Exit(1)
	}
}

func run(path, system string, seed uint64, opts qwen.GenerateOptions) error {
	model, err := qwen.Load(path)
	if err != nil {
		return err
	}
	defer model.Close()
	ctx, err := model.NewContext(qwen.DefaultContextParams())
	if err != nil {
		return err
	}
	defer ctx.Close()
	params := qwen.DefaultSamplerParams()
	params.Seed = seed
	sampler, err := model.NewSampler(params)
	if err != nil {
		return err
	}
	defer sampler.Close()

	var start []qwen.Message
	if system != "" {
		start = append(start, qwen.Message{Role: "system", Content: system})
	}
	history := append([]qwen.Message(nil), start...)
	out := bufio.NewWriter(os.Stdout)
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(nil, 1<<20)
	for fmt.Fprint(out, "> "); out.Flush() == nil && in.Scan(); fmt.Fprint(out, "> ") {
		line := strings.TrimSpace(in.Text())
		switch line {
		case "":
			continue
		case "/reset":
			history = append(history[:0], start...)
			fmt.Fprintln(out, "(history cleared)")
			continue
		}
		history = append(history, qwen.Message{Role: "user", Content: line})
		var answer strings.Builder
		// Only the new turn is evaluated: the rest of the history is in the KV cache.
		r, err := ctx.GenerateChat(sampler, history, "", opts, func(e qwen.Event) bool {
			answer.WriteString(e.Text)
			out.WriteString(e.Text)
			return out.Flush() == nil // stdout closed: stop generating
		})
		if err != nil {
			return err
		}
		fmt.Fprintln(out)
		fmt.Fprintf(os.Stderr, "[%v, %d tokens, %d from cache]\n", r.FinishReason, r.NGeneratedTokens, r.NCachedTokens)
		history = append(history, qwen.Message{Role: "assistant", Content: answer.String()})
	}
	fmt.Fprintln(out)
	out.Flush()
	return in.Err()
}
