#!/usr/bin/env python3
"""libqwen vs llama.cpp on the same GGUF files, same threads, in one run.

For every model file, `qwen bench --json` and the llama.cpp oracle driver's `bench` (the same
steps through llama.cpp's prebuilt libraries, see tests/oracle/llama_oracle.cpp) run in
alternation, --rounds times each, so slow phases of a noisy machine hit both engines alike.
The table gives median tokens/s, the ratio libqwen / llama.cpp, and for decode (tg) the share
of the roofline: measured read bandwidth (bench/membw.cpp, built here with g++) / bytes read
per token (every weight once - the tied embedding is the LM head - plus the KV cache up to
the depth). The bandwidth is measured before and after every benchmark process, and the share
is given twice: against the best of all those measurements (the machine at its fastest: the
conservative figure), and run by run against the mean of the two measurements around it (the
bandwidth the machine had at that moment, 40-67 GB/s seen on one shared machine within an
hour), the median of those.

usage: bench/compare.py MODEL.gguf [MODEL.gguf ...] [--threads 2] [--pp 512] [--tg 128]
                        [--depth 0,4096] [--seqs 1,4,8] [--reps 3] [--rounds 2] [--out bench/RESULTS.md]
                        [--latency | --latency-only] [--ctx 4096]
tg<N>xS rows are S sequences decoding together (qwen_eval_batch / one llama_batch of S
sequences), tokens/s counting all of them; their roofline charges each token 1/S of the
weights.
--latency adds a second table (--latency-only prints just that one): load seconds (model load
with any repacking + context creation), time to first token of a 100-token chat prompt
(tokenize + prefill + greedy token on a freshly loaded model, `qwen bench --latency` / the
oracle's `bench --mode latency`), the process's peak RSS next to file size + KV cache of a
--ctx context, and pp<N> at 1 and --threads threads with the scaling ratio, for both engines.
Needs: build/release/examples/cli/qwen (cmake --preset release && cmake --build --preset
release) and the oracle driver (scripts/build-llama-oracle.sh).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def default_oracle() -> Path:
    base = Path(os.environ.get("QWEN_ORACLE_DIR", REPO / "build" / "oracles"))
    return base / "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/llama_oracle"


def run_json(cmd: list[str]) -> list[dict]:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"compare.py: {' '.join(cmd)} failed:\n{proc.stderr}")
    out = proc.stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


class MemBandwidth:
    """The machine's read bandwidth (bench/membw.cpp), measured around every benchmark process:
    on a shared machine it moves (40-67 GB/s seen here), so the best of all measurements is the
    conservative ceiling, and the ones around a run tell what that run had."""

    def __init__(self, tmp: str):
        self.exe = Path(tmp) / "membw"
        subprocess.run(["g++", "-O2", "-mavx2", "-fopenmp", "-o", str(self.exe), str(REPO / "bench/membw.cpp")],
                       check=True)
        self.samples: list[float] = []
        self.measure()

    def measure(self) -> float:
        out = subprocess.run([str(self.exe), "1024", "10"], check=True, capture_output=True, text=True).stdout
        self.samples.append(float(out))
        return self.samples[-1]

    def best(self) -> float:
        return max(self.samples)


def model_bytes(qwen: Path, model: str) -> tuple[float, float, str]:
    """(weight bytes read per decode step, KV bytes per token of context, type summary)."""
    info = subprocess.run([str(qwen), "info", model, "--tensors"], check=True, capture_output=True, text=True).stdout
    mib = float(re.search(r"tensors: \d+, [\d.]+ M parameters, ([\d.]+) MiB", info).group(1))
    hp = re.search(r"embedding (\d+), layers (\d+), heads \d+ \(kv (\d+), dim (\d+)\)", info)
    _, layers, kv_heads, head_dim = (int(x) for x in hp.groups())
    weights = mib * 2**20
    if "embeddings: tied" not in info:  # an untied token_embd is only looked up, one row a token
        embd = re.search(r"token_embd\.weight\s+\S+\s+\{[\d, ]+\}\s+(\d+) bytes", info)
        if embd:
            weights -= float(embd.group(1))
    types = re.findall(r"^  (\w+)\s+\d+ tensors\s+([\d.]+) M parameters", info, re.M)
    main_type = max(types, key=lambda t: float(t[1]))[0] if types else "?"
    return weights, layers * 2 * kv_heads * head_dim * 2.0, main_type


def latency_rows(args: argparse.Namespace, model: str, kv_per_tok: float, main_type: str) -> list[str]:
    """Runs the latency / memory / thread-scaling measurements of one model; one table row."""
    pp = args.pp or 512
    lat: dict[str, list[dict]] = {"libqwen": [], "llama.cpp": []}
    pps: dict[tuple[str, int], list[float]] = {}
    for _ in range(args.rounds):
        # each latency run is its own process, so its peak RSS is one model and one context
        for cmd in ([str(args.qwen), "bench", "-m", model, "--latency", "-r", str(args.reps), "-t", str(args.threads),
                     "--ctx", str(args.ctx), "--json"],
                    [str(args.oracle), "bench", model, "--mode", "latency", "--reps", str(args.reps),
                     "--threads", str(args.threads), "--ctx", str(args.ctx)]):
            for rec in run_json(cmd):
                lat[rec["engine"]].append(rec)
        for t in sorted({1, args.threads}):
            for cmd in ([str(args.qwen), "bench", "-m", model, "-p", str(pp), "-n", "0", "-r", str(args.reps),
                         "-t", str(t), "--json"],
                        [str(args.oracle), "bench", model, "--pp", str(pp), "--tg", "0", "--reps", str(args.reps),
                         "--threads", str(t)]):
                for rec in run_json(cmd):
                    pps.setdefault((rec["engine"], t), []).extend(rec["tok_s"])
    q, ll = lat["libqwen"], lat["llama.cpp"]
    if q[0]["prompt_tokens"] != ll[0]["prompt_tokens"]:
        print(f"compare.py: {model}: the engines tokenized the chat prompt differently "
              f"({q[0]['prompt_tokens']} vs {ll[0]['prompt_tokens']} tokens)", file=sys.stderr)

    def med(recs: list[dict], key: str) -> float:
        vals = [v for r in recs for v in (r[key] if isinstance(r[key], list) else [r[key]])]
        return statistics.median(vals)

    load_q, load_l = med(q, "load_s"), med(ll, "load_s")
    ttft_q, ttft_l = med(q, "ttft_ms"), med(ll, "ttft_ms")
    budget = (os.path.getsize(model) + kv_per_tok * q[0]["n_ctx"]) / 2**20
    cells = [Path(model).name, main_type, f"{load_q:.3f}", f"{load_l:.3f}", f"{load_l / load_q:.2f}x",
             f"{ttft_q:.1f}", f"{ttft_l:.1f}", f"{ttft_l / ttft_q:.2f}x",
             f"{med(q, 'peak_rss_mib'):.0f}", f"{med(ll, 'peak_rss_mib'):.0f}", f"{budget:.0f}"]
    for eng in ("libqwen", "llama.cpp"):
        one, many = statistics.median(pps[(eng, 1)]), statistics.median(pps[(eng, args.threads)])
        cells += [f"{one:.2f}", f"{many:.2f}", f"{many / one:.2f}x"]
    return ["| " + " | ".join(cells) + " |"]


def latency_table(args: argparse.Namespace) -> list[str]:
    pp, t = args.pp or 512, args.threads
    lines = [
        f"Latency, memory and thread scaling, {t} threads, a {args.ctx}-token context, medians of {args.rounds} "
        f"rounds x {args.reps} runs ({datetime.date.today()}, {platform.machine()}). Load = model load (with "
        "repacking) + context creation; TTFT = time to first token of a 100-token chat prompt on the freshly "
        "loaded model; ratios are llama.cpp / libqwen (above 1: libqwen is faster); file + KV = the model "
        "file and the whole KV cache, the issue's RSS budget less its 100 MiB.",
        "",
        f"| model | type | load s libqwen | load s llama.cpp | ratio | TTFT ms libqwen | TTFT ms llama.cpp | ratio "
        f"| peak RSS MiB libqwen | peak RSS MiB llama.cpp | file + KV MiB | pp{pp} t1 libqwen | pp{pp} t{t} libqwen "
        f"| scaling | pp{pp} t1 llama.cpp | pp{pp} t{t} llama.cpp | scaling |",
        "|---|---|" + "---:|" * 15,
    ]
    qwen = args.qwen
    for model in args.models:
        _, kv_per_tok, main_type = model_bytes(qwen, model)
        lines += latency_rows(args, model, kv_per_tok, main_type)
    return lines


Samples = dict[tuple[str, str, int], list[tuple[float, float]]]


def model_samples(args: argparse.Namespace, model: str, depths: list[int], seqs: list[int],
                  membw: MemBandwidth) -> Samples:
    """Both engines on one model: (test, engine, depth) -> samples (tok/s, the mean read
    bandwidth measured just before and just after the process that gave it)."""
    samples: Samples = {}
    for _ in range(args.rounds):
        for d in depths:
            common = [str(args.reps), str(args.threads)]
            runs = [
                [str(args.qwen), "bench", "-m", model, "-p", str(args.pp), "-n", str(args.tg), "-d", str(d),
                 "-s", args.seqs, "-r", common[0], "-t", common[1], "--json"],
                [str(args.oracle), "bench", model, "--pp", str(args.pp), "--tg", str(args.tg), "--depth", str(d),
                 "--reps", common[0], "--threads", common[1]],
            ]
            runs += [[str(args.oracle), "bench", model, "--pp", "0", "--tg", str(args.tg), "--depth", str(d),
                      "--seqs", str(S), "--reps", common[0], "--threads", common[1]] for S in seqs if S > 1]
            for cmd in runs:
                before = membw.samples[-1]
                recs = run_json(cmd)
                bw = (before + membw.measure()) / 2
                for rec in recs:
                    samples.setdefault((rec["test"], rec["engine"], rec["depth"]), []).extend(
                        (v, bw) for v in rec["tok_s"])
    return samples


def speed_table(args: argparse.Namespace) -> list[str]:
    depths = [int(d) for d in args.depth.split(",")]
    seqs = [int(x) for x in args.seqs.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        membw = MemBandwidth(tmp)
        per_model = []
        for model in args.models:
            per_model.append((model, *model_bytes(args.qwen, model), model_samples(args, model, depths, seqs, membw)))
    bw = membw.best()
    rows = []
    for model, weights, kv_per_tok, main_type, samples in per_model:
        for d in depths:
            tests = [(f"pp{args.pp}", 0)] * (args.pp > 0)
            if args.tg > 0:
                tests += [(f"tg{args.tg}" + (f"x{S}" if S > 1 else ""), S) for S in seqs]
            for test, S in tests:
                qs = samples[(test, "libqwen", d)]
                q = statistics.median(v for v, _ in qs)
                ll = statistics.median(v for v, _ in samples[(test, "llama.cpp", d)])
                roof = ["", ""]
                if S:
                    # per token: 1/S of the weights, and its own cache at the mean context
                    # length over the run (depth + half the generated tokens)
                    bytes_tok = weights / S + kv_per_tok * (d + args.tg / 2)
                    at_run = statistics.median(v * bytes_tok / (b * 1e9) for v, b in qs)
                    roof = [f"{100 * q * bytes_tok / (bw * 1e9):.0f}%", f"{100 * at_run:.0f}%"]
                rows.append((Path(model).name, main_type, test + (f" @ d{d}" if d else ""), q, ll, q / ll, *roof))

    return [
        f"libqwen vs llama.cpp, {args.threads} threads, medians of {args.rounds} rounds x {args.reps} runs "
        f"({datetime.date.today()}, {platform.machine()}, read bandwidth {bw:.1f} GB/s: the best of "
        f"{len(membw.samples)} measurements through the run, {min(membw.samples):.1f} the least). Decode "
        "roofline: libqwen's share of it at that best bandwidth, and at the bandwidth measured around each run.",
        "",
        "| model | type | test | libqwen t/s | llama.cpp t/s | ratio | decode roofline | at the run's bandwidth |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ] + [f"| {m} | {t} | {test} | {q:.2f} | {ll:.2f} | {r:.2f}x | {roof} | {at} |"
         for m, t, test, q, ll, r, roof, at in rows]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pp", type=int, default=512)
    ap.add_argument("--tg", type=int, default=128)
    ap.add_argument("--depth", default="0")
    ap.add_argument("--seqs", default="1")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--qwen", type=Path, default=REPO / "build/release/examples/cli/qwen")
    ap.add_argument("--oracle", type=Path, default=default_oracle())
    ap.add_argument("--out", type=Path, help="also write the table (with the command) to this file")
    ap.add_argument("--latency", action="store_true", help="add the load / TTFT / RSS / thread-scaling table")
    ap.add_argument("--latency-only", action="store_true", help="print only that table")
    ap.add_argument("--ctx", type=int, default=4096, help="context (KV cache) tokens of the latency runs")
    args = ap.parse_args()
    lines = latency_table(args) if args.latency or args.latency_only else []
    if not args.latency_only:
        lines = speed_table(args) + ([""] + lines if lines else [])
    cmd = "bench/compare.py " + " ".join(sys.argv[1:])
    text = "\n".join(lines + ["", f"Command: `{cmd}`"]) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
