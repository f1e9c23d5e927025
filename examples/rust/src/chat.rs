use std::ffi::CString;
use std::ptr;

use crate::error::{c_string, fill, into_string, Result};
use crate::ffi;

/// One turn of a conversation, as Qwen2.5's chat template takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// "system", "user", "assistant" or "tool".
    pub role: String,
    /// None: no content key (an assistant turn that only calls tools).
    pub content: Option<String>,
    /// Assistant turns: a JSON array of calls, `{"name": ..., "arguments": {...}}` or OpenAI's
    /// `{"type": "function", "function": {...}}`.
    pub tool_calls: Option<String>,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Message {
        Message { role: role.into(), content: Some(content.into()), tool_calls: None }
    }
    pub fn system(content: &str) -> Message {
        Message::new("system", content)
    }
    pub fn user(content: &str) -> Message {
        Message::new("user", content)
    }
    pub fn assistant(content: &str) -> Message {
        Message::new("assistant", content)
    }
    /// A tool's answer to a call.
    pub fn tool(content: &str) -> Message {
        Message::new("tool", content)
    }
    /// An assistant turn that calls tools (`calls_json` is a JSON array).
    pub fn tool_calls(calls_json: &str) -> Message {
        Message { role: "assistant".into(), content: None, tool_calls: Some(calls_json.into()) }
    }
}

/// Messages and tools as the C structs, with the C strings they point into.
pub(crate) struct CChat {
    pub messages: Vec<ffi::qwen_chat_message>,
    tools: Option<CString>,
    _strings: Vec<CString>,
}

impl CChat {
    pub fn new(messages: &[Message], tools_json: Option<&str>) -> Result<CChat> {
        let mut strings = Vec::new();
        let mut keep = |what: String, s: Option<&String>| -> Result<*const std::os::raw::c_char> {
            let Some(s) = s else { return Ok(ptr::null()) };
            let c = c_string(&what, s.as_bytes())?;
            // The CString's heap buffer does not move when the CString is moved into the Vec.
            let p = c.as_ptr();
            strings.push(c);
            Ok(p)
        };
        let mut raw = Vec::with_capacity(messages.len());
        for (i, m) in messages.iter().enumerate() {
            raw.push(ffi::qwen_chat_message {
                role: keep(format!("messages[{i}].role"), Some(&m.role))?,
                content: keep(format!("messages[{i}].content"), m.content.as_ref())?,
                tool_calls: keep(format!("messages[{i}].tool_calls"), m.tool_calls.as_ref())?,
            });
        }
        let tools = tools_json.map(|t| c_string("tools", t.as_bytes())).transpose()?;
        Ok(CChat { messages: raw, tools, _strings: strings })
    }

    pub fn tools(&self) -> *const std::os::raw::c_char {
        self.tools.as_ref().map_or(ptr::null(), |t| t.as_ptr())
    }
}

/// Renders a conversation in Qwen2.5's chat format byte for byte as its official Jinja
/// template does (default system prompt, tool definitions, calls and responses). It needs no
/// model: the template is Qwen2.5's, built into the library.
pub fn render_chat(messages: &[Message], tools_json: Option<&str>, add_generation_prompt: bool) -> Result<String> {
    let chat = CChat::new(messages, tools_json)?;
    let flags = if add_generation_prompt { ffi::QWEN_CHAT_ADD_GENERATION_PROMPT } else { 0 };
    let guess = 256 + messages.iter().map(|m| m.content.as_ref().map_or(0, String::len) + 32).sum::<usize>();
    let bytes = fill(guess, |buf: *mut u8, cap, n| unsafe {
        ffi::qwen_chat_render(chat.messages.as_ptr(), chat.messages.len(), chat.tools(), flags, buf.cast(), cap, n)
    })?;
    into_string(bytes)
}

/// A GBNF grammar (for [`SamplerParams::grammar`](crate::SamplerParams::grammar)) for an answer
/// to a conversation with these tools (`tools_json`: a JSON array of OpenAI-style tool
/// definitions): plain text not starting with '<', or `<tool_call>` blocks calling declared
/// tools with arguments that follow their JSON Schema. `required` leaves only the calls.
pub fn tools_grammar(tools_json: &str, required: bool) -> Result<String> {
    let tools = c_string("tools", tools_json.as_bytes())?;
    let grammar = into_string(fill(4096, |buf: *mut u8, cap, n| unsafe {
        ffi::qwen_tools_grammar(tools.as_ptr(), buf.cast(), cap, n)
    })?)?;
    if !required {
        return Ok(grammar);
    }
    // qwen.h: the first line is the root rule, and one call block is the rule `tool-call`.
    let rules = grammar.split_once('\n').map_or("", |(_, rest)| rest);
    Ok(format!("root ::= tool-call ( \"\\n\" tool-call )*\n{rules}"))
}

/// Reads Qwen2.5's `<tool_call>` blocks out of a model's answer, as the JSON text of an
/// assistant message: `{"content": <the text outside the calls>, "tool_calls": [{"name": ...,
/// "arguments": {...}}, ...]}` - the shape [`Message::tool_calls`] and the chat template take
/// back. A malformed block stays in the content.
pub fn parse_tool_calls(text: &str) -> Result<String> {
    let text = c_string("text", text.as_bytes())?;
    into_string(fill(256 + text.as_bytes().len(), |buf: *mut u8, cap, n| unsafe {
        ffi::qwen_parse_tool_calls(text.as_ptr(), buf.cast(), cap, n)
    })?)
}
