//! The bindings against a real model: QWEN_TEST_MODEL names a GGUF file (tests/bindings/run.sh
//! writes a tiny synthetic Qwen2 with the real Qwen2.5 tokenizer and chat template).
use std::cell::Cell;
use std::ops::ControlFlow;
use std::rc::Rc;

use qwen::{
    parse_tool_calls, render_chat, tools_grammar, Context, ContextParams, FinishReason, GenerateOptions, Message,
    Model, SamplerParams, SpecialToken, Status,
};

fn model() -> Model {
    let path =
        std::env::var("QWEN_TEST_MODEL").expect("set QWEN_TEST_MODEL to a GGUF file (see tests/bindings/run.sh)");
    Model::load(&path).unwrap_or_else(|e| panic!("loading {path}: {e}"))
}

fn context(model: &Model, n_ctx: u32) -> Context<'_> {
    model.context(&ContextParams { n_ctx, n_threads: 1, ..Default::default() }).expect("context")
}

fn small(model: &Model) -> Context<'_> {
    context(model, 128)
}

/// Generates exactly `n` tokens (a random model may end its turn any time).
fn ignoring_eos(n: i32) -> GenerateOptions {
    GenerateOptions { max_tokens: n, ignore_eos: true, ..Default::default() }
}

fn argmax(row: &[f32]) -> i32 {
    // First maximum, as the greedy sampler breaks ties.
    let mut best = 0;
    for (i, &x) in row.iter().enumerate() {
        if x > row[best] {
            best = i;
        }
    }
    best as i32
}

#[test]
fn thread_markers_are_as_documented() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Model>();
    send::<Context<'static>>();
    send::<qwen::Sampler<'static>>();
    send_sync::<qwen::Error>();
}

#[test]
fn load_reports_the_model() {
    let m = model();
    assert_eq!(m.n_vocab(), 151_936);
    assert!(m.n_ctx_train() > 0);
    assert_eq!(m.special_token(SpecialToken::Eos), Some(151_645));
    assert!(qwen::version().starts_with("0."), "{}", qwen::version());
}

#[test]
fn tokenize_round_trip() {
    let m = model();
    let text = "Hello, world! Grüße, 你好 🙂\n\tcode: fn main() {}";
    let ids = m.tokenize(text, false).unwrap();
    assert!(ids.len() > 10 && ids.len() < text.len(), "{ids:?}");
    assert_eq!(m.detokenize(&ids, false).unwrap(), text);
    assert_eq!(m.tokenize("Hello", false).unwrap(), vec![9707]);
    // Control tokens: ids only when asked for, else plain text that round-trips.
    assert_eq!(m.tokenize("<|im_start|>", true).unwrap(), vec![151_644]);
    let plain = m.tokenize("<|im_start|>", false).unwrap();
    assert!(plain.len() > 1 && !plain.contains(&151_644));
    assert_eq!(m.detokenize(&[151_644, 9707, 151_645], true).unwrap(), "Hello");
    // Longer than the first buffer guess: the binding must retry with the size asked for.
    let long = "a".repeat(100) + &"🙂".repeat(200);
    assert_eq!(m.detokenize(&m.tokenize(&long, false).unwrap(), false).unwrap(), long);
}

#[test]
fn greedy_generate_equals_eval_argmax_loop() {
    let m = model();
    let prompt = m.tokenize("<|im_start|>user\nCount to ten.<|im_end|>\n<|im_start|>assistant\n", true).unwrap();
    let n = 12;

    let mut ctx = small(&m);
    let options = GenerateOptions { keep_special: true, ..ignoring_eos(n) };
    let (mut streamed, mut text) = (Vec::new(), String::new());
    let result = ctx
        .generate(None, &prompt, &options, |e| {
            streamed.extend(e.token);
            text.push_str(&e.text);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(result.finish_reason, FinishReason::Length);
    assert_eq!(result.n_generated_tokens, n as u32);
    assert_eq!(result.n_prompt_tokens as usize, prompt.len());
    assert_eq!(streamed.len(), n as usize);
    // The cache holds the prompt and every generated token but the last, which was sampled
    // from the logits and is evaluated by whatever comes next.
    assert_eq!(ctx.tokens(), [prompt.as_slice(), &streamed[..n as usize - 1]].concat());
    assert_eq!(text, m.detokenize(&streamed, false).unwrap());

    let mut manual = small(&m);
    manual.eval(&prompt).unwrap();
    let mut expected = Vec::new();
    for _ in 0..n {
        let t = argmax(manual.logits());
        expected.push(t);
        manual.eval(&[t]).unwrap();
    }
    assert_eq!(streamed, expected);

    // A seeded sampler is reproducible.
    let sample = |seed| {
        let mut s = m.sampler(&qwen::SamplerParams { seed, ..Default::default() }).unwrap();
        let mut c = small(&m);
        let mut out = Vec::new();
        c.generate(Some(&mut s), &prompt, &options, |e| {
            out.extend(e.token);
            ControlFlow::Continue(())
        })
        .unwrap();
        out
    };
    assert_eq!(sample(7), sample(7));
}

#[test]
fn streaming_callback_stops_generation() {
    let m = model();
    let mut ctx = small(&m);
    let prompt = m.tokenize("Once upon a time", false).unwrap();
    let options = ignoring_eos(50);
    let mut seen = 0;
    let result = ctx
        .generate(None, &prompt, &options, |e| {
            seen += e.token.is_some() as u32;
            if seen == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(result.finish_reason, FinishReason::Callback);
    assert_eq!(result.n_generated_tokens, 3);
    assert_eq!(seen, 3);
    assert_eq!(ctx.n_past() as usize, prompt.len() + 2);
}

#[test]
fn callback_panic_propagates_and_context_survives() {
    let m = model();
    let mut ctx = small(&m);
    let prompt = m.tokenize("Hi", false).unwrap();
    let options = ignoring_eos(5);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = ctx.generate(None, &prompt, &options, |_| panic!("from the callback"));
    }));
    let payload = caught.expect_err("the panic must reach the caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"from the callback"));
    // Stopped after the first token; the context is still usable.
    assert_eq!(ctx.n_past() as usize, prompt.len());
    ctx.generate(None, &prompt, &options, |_| ControlFlow::Continue(())).unwrap();
}

const TOOLS: &str = r#"[{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]"#;

fn tool_conversation() -> Vec<Message> {
    vec![
        Message::user("Weather in Paris?"),
        Message::tool_calls(
            r#"[{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]"#,
        ),
        Message::tool("18C, sunny"),
    ]
}

#[test]
fn chat_render_with_a_tool_call() {
    // What Jinja2 renders from Qwen2.5-7B-Instruct's official template (tokenizer_config.json)
    // for these messages and tools with add_generation_prompt=True.
    let expected = concat!(
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n# Tools\n\n",
        "You may call one or more functions to assist with the user query.\n\n",
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n",
        r#"{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}"#,
        "\n</tools>\n\nFor each function call, return a json object with function name and arguments within ",
        "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n",
        "</tool_call><|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n",
        "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n",
        "<|im_start|>user\n<tool_response>\n18C, sunny\n</tool_response><|im_end|>\n<|im_start|>assistant\n",
    );
    let rendered = render_chat(&tool_conversation(), Some(TOOLS), true).unwrap();
    assert_eq!(rendered, expected);
    assert_eq!(render_chat(&tool_conversation(), Some(TOOLS), false).unwrap() + "<|im_start|>assistant\n", expected);

    // generate_chat sees exactly that prompt, and the next turn reuses it from the cache.
    let m = model();
    let mut ctx = context(&m, 512);
    let options = ignoring_eos(4);
    let r =
        ctx.generate_chat(None, &tool_conversation(), Some(TOOLS), &options, |_| ControlFlow::Continue(())).unwrap();
    let prompt = m.tokenize(expected, true).unwrap();
    assert_eq!(r.n_prompt_tokens as usize, prompt.len());
    assert_eq!(&ctx.tokens()[..prompt.len()], prompt.as_slice());
    let mut next = tool_conversation();
    next.push(Message::assistant("It is sunny."));
    next.push(Message::user("Thanks!"));
    let r2 = ctx.generate_chat(None, &next, Some(TOOLS), &options, |_| ControlFlow::Continue(())).unwrap();
    assert!(r2.n_cached_tokens as usize >= prompt.len() - 1, "{r2:?}");
}

#[test]
fn errors_carry_status_and_message() {
    let path = "/nonexistent/libqwen-rust-test/model.gguf";
    let err = Model::load(path).err().expect("loading a missing file must fail");
    assert_eq!(err.status, Status::IO);
    assert!(err.message.contains(path), "{err}");
    assert!(err.to_string().contains("QWEN_ERR_IO"), "{err}");
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
    assert!(boxed.to_string().contains(path));

    let e = render_chat(&[Message::new("wizard", "hi")], None, false).unwrap_err();
    assert_eq!(e.status, Status::INVALID_ARGUMENT);
    assert!(e.message.contains("wizard") || e.message.contains("role"), "{e}");
    let e = render_chat(&[Message::user("a\0b")], None, false).unwrap_err();
    assert_eq!((e.status, e.message.as_str()), (Status::INVALID_ARGUMENT, "messages[0].content: NUL byte at offset 1"));

    let m = model();
    let mut ctx = small(&m);
    let e = ctx.eval(&[m.n_vocab() as i32]).unwrap_err();
    assert_eq!(e.status, Status::INVALID_ARGUMENT);
    assert!(e.message.contains(&m.n_vocab().to_string()), "{e}");
    assert_eq!(ctx.n_past(), 0, "a failed eval leaves the context unchanged");
    let e = ctx.eval(&vec![0; 129]).unwrap_err();
    assert_eq!(e.status, Status::CONTEXT_FULL, "{e}");
    let e = m.sampler(&qwen::SamplerParams { top_p: 2.0, ..Default::default() }).err().unwrap();
    assert!(e.message.contains("top_p"), "{e}");
}

#[test]
fn everything_drops_and_the_closure_is_released() {
    let token = Rc::new(Cell::new(0));
    for _ in 0..3 {
        let m = model();
        let mut s = m.sampler(&Default::default()).unwrap();
        let mut ctx = small(&m);
        let seen = Rc::clone(&token);
        let options = ignoring_eos(2);
        ctx.generate(Some(&mut s), &[9707], &options, move |e| {
            seen.set(seen.get() + e.token.is_some() as i32);
            ControlFlow::Continue(())
        })
        .unwrap();
        // The closure (and its Rc) was dropped when generate returned.
        assert_eq!(Rc::strong_count(&token), 1);
        drop(ctx);
        drop(s);
        drop(m);
    }
    assert_eq!(token.get(), 6);
}

#[test]
fn model_is_shared_across_threads() {
    let m = model();
    let expected = m.tokenize("shared across threads", false).unwrap();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut ctx = small(&m); // a Context borrows the shared model
                    ctx.eval(&expected).unwrap();
                    (m.tokenize("shared across threads", false).unwrap(), argmax(ctx.logits()))
                })
            })
            .collect();
        let results: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
        assert!(results.iter().all(|r| r.0 == expected && r.1 == results[0].1));
    });
}

#[test]
fn tool_calls_are_parsed_from_an_answer() {
    let answer =
        "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
    assert_eq!(
        parse_tool_calls(answer).unwrap(),
        r#"{"content":"Let me check.","tool_calls":[{"name":"get_weather","arguments":{"city":"Paris"}}]}"#
    );
    assert_eq!(parse_tool_calls("No call.").unwrap(), r#"{"content":"No call.","tool_calls":[]}"#);
    let e = parse_tool_calls("a\0b").unwrap_err();
    assert_eq!((e.status, e.message.as_str()), (Status::INVALID_ARGUMENT, "text: NUL byte at offset 1"));
}

/// A tool whose arguments are bounded (an enum), so a constrained call always completes.
const CITY_TOOL: &str = r#"[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"enum": ["Paris", "Oslo"]}}, "required": ["city"], "additionalProperties": false}}}]"#;

#[test]
fn grammar_constrained_chat_produces_a_parseable_tool_call() {
    let m = model();
    let mut ctx = context(&m, 1024);
    let grammar = tools_grammar(CITY_TOOL, true).unwrap();
    assert!(grammar.starts_with("root ::= tool-call"), "{grammar}");
    for seed in 1..=3 {
        let params = SamplerParams { seed, grammar: Some(grammar.clone()), ..Default::default() };
        let mut sampler = m.sampler(&params).unwrap();
        let mut text = String::new();
        let chat = [Message::user("Weather in Paris?")];
        // After each call the grammar allows another or the end: a random model ends soon.
        let options = GenerateOptions { max_tokens: 300, ..Default::default() };
        let r = ctx
            .generate_chat(Some(&mut sampler), &chat, Some(CITY_TOOL), &options, |e| {
                text.push_str(&e.text);
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(r.finish_reason, FinishReason::Eos, "{text}");
        assert!(text.starts_with("<tool_call>\n{"), "{text}");
        let parsed = parse_tool_calls(&text).unwrap();
        assert!(
            parsed.starts_with(r#"{"content":"","tool_calls":[{"name":"get_weather","arguments":{"city":""#),
            "{parsed}"
        );
    }
    let e = tools_grammar("[{\"name\": 3}]", false).unwrap_err();
    assert_eq!(e.status, Status::INVALID_ARGUMENT, "{e}");
    let e = m.sampler(&SamplerParams { grammar: Some("root ::= (".into()), ..Default::default() }).err().unwrap();
    assert_eq!(e.status, Status::INVALID_ARGUMENT, "{e}");
}

#[test]
fn abort_from_another_thread() {
    let m = model();
    let mut ctx = context(&m, 4096);
    let prompt = m.tokenize("Once upon a time", false).unwrap();
    let handle = ctx.abort_handle();
    let (started, wait) = std::sync::mpsc::channel();
    let aborter = std::thread::spawn(move || {
        wait.recv().unwrap();
        handle.abort();
    });
    let mut first = Some(started);
    // No token limit: only the abort can end this before the 4096-token context is full.
    let r = ctx
        .generate(None, &prompt, &ignoring_eos(0), |_| {
            if let Some(tx) = first.take() {
                tx.send(()).unwrap();
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    aborter.join().unwrap();
    assert_eq!(r.finish_reason, FinishReason::Aborted);
    assert!(ctx.n_past() < 4000, "{}", ctx.n_past());
    // The request was consumed; a handle that outlives its context does nothing.
    let r = ctx.generate(None, &prompt, &ignoring_eos(2), |_| ControlFlow::Continue(())).unwrap();
    assert_eq!(r.finish_reason, FinishReason::Length);
    let late = ctx.abort_handle();
    drop(ctx);
    late.abort();
}
