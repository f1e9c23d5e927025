"""`qwen download` against a Hugging Face hub stand-in on loopback (our machines cannot reach
the real hub): the hub's HEAD protocol (X-Linked-Etag / X-Linked-Size and a redirect to the
storage host for LFS files, git blob ETags for small files), an interrupted transfer resumed
with a Range request, a server that ignores ranges, a corrupted file refused by its checksum,
the safetensors folder, and `-m VARIANT` resolving to the cache."""

from __future__ import annotations

import hashlib
import http.server
import os
import subprocess
import threading
from pathlib import Path

import pytest

import libqwen

GGUF_REPO = "Qwen/Qwen2.5-0.5B-Instruct-GGUF"
HF_REPO = "Qwen/Qwen2.5-0.5B-Instruct"
LFS_SUFFIXES = (".gguf", ".safetensors", "tokenizer.json")


class Hub:
    """Serves {repo: {file: bytes}}; behaviour switches per test (cut, corrupt, no_ranges)."""

    def __init__(self, files: dict[str, dict[str, bytes]]):
        self.files = files
        self.log: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self.cut_once: set[str] = set()  # storage paths whose next GET stops half way
        self.corrupt: set[str] = set()
        self.no_ranges = False
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.respond(body=False)

            def do_GET(self):
                self.respond(body=True)

            def respond(self, body: bool):
                hub.log.append((self.command, self.path, self.headers.get("Range")))
                parts = self.path.lstrip("/").split("/")
                if parts[0] == "cdn":  # the storage host LFS files redirect to
                    data = hub.lookup("/".join(parts[1:-1]), parts[-1])
                    return self.send_data(data, self.path, body) if data is not None else self.send_error(404)
                if len(parts) < 5 or parts[2] != "resolve":
                    return self.send_error(404)
                repo, file = "/".join(parts[:2]), "/".join(parts[4:])
                data = hub.lookup(repo, file)
                if data is None:
                    return self.send_error(404)
                if file.endswith(LFS_SUFFIXES):
                    self.send_response(302)
                    self.send_header("Location", f"/cdn/{repo}/{file}")
                    self.send_header("X-Linked-Etag", f'"{hashlib.sha256(data).hexdigest()}"')
                    self.send_header("X-Linked-Size", str(len(data)))
                    self.send_header("ETag", '"redirect-etag"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
                self.send_data(data, self.path, body, etag=blob)

            def send_data(self, data: bytes, key: str, body: bool, etag: str | None = None):
                start = 0
                rng = self.headers.get("Range")
                if rng and not hub.no_ranges and body:
                    start = int(rng.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                if etag:
                    self.send_header("ETag", f'"{etag}"')
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                if not body:
                    return
                payload = data[start:]
                if key in hub.corrupt:
                    payload = payload[:10] + bytes([payload[10] ^ 1]) + payload[11:]
                if key in hub.cut_once:
                    hub.cut_once.discard(key)
                    self.wfile.write(payload[: len(payload) // 3])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(payload)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def lookup(self, repo: str, file: str) -> bytes | None:
        return self.files.get(repo, {}).get(file)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    gguf, hf = libqwen.synth(str(tmp_path_factory.mktemp("dl")), "tiny", "f32", hf=True, seed=3)
    return gguf, hf


@pytest.fixture
def hub(models):
    gguf, hf = models
    files = {GGUF_REPO: {"qwen2.5-0.5b-instruct-q8_0.gguf": Path(gguf).read_bytes(),
                         "qwen2.5-0.5b-instruct-q4_0.gguf": Path(gguf).read_bytes()},
             HF_REPO: {p.name: p.read_bytes() for p in Path(hf).iterdir()}}
    h = Hub(files)
    yield h
    h.close()


def qwen(args: list[str], hub: Hub, cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_ENDPOINT=hub.url, QWEN_CACHE_DIR=str(cache))
    env.pop("HF_TOKEN", None)
    return subprocess.run([libqwen.cli_path(), *args], capture_output=True, text=True, env=env, timeout=300)


def test_an_interrupted_download_resumes_and_is_verified(hub, models, tmp_path):
    cdn = f"/cdn/{GGUF_REPO}/qwen2.5-0.5b-instruct-q8_0.gguf"
    hub.cut_once.add(cdn)
    r = qwen(["download", "q8_0"], hub, tmp_path)
    assert r.returncode == 1 and "run again to resume" in r.stderr, r.stderr
    dest = tmp_path / "Qwen--Qwen2.5-0.5B-Instruct-GGUF" / "qwen2.5-0.5b-instruct-q8_0.gguf"
    part = Path(str(dest) + ".part")
    assert part.exists() and not dest.exists()
    have = part.stat().st_size
    assert 0 < have < Path(models[0]).stat().st_size

    hub.log.clear()
    r = qwen(["download", "q8_0"], hub, tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(dest) and "resumed" in r.stderr
    assert ("GET", cdn, f"bytes={have}-") in hub.log  # only the missing bytes were asked for
    assert dest.read_bytes() == Path(models[0]).read_bytes() and not part.exists()

    hub.log.clear()
    r = qwen(["download", "Q8_0"], hub, tmp_path)
    assert r.returncode == 0 and "already present" in r.stderr
    assert not [x for x in hub.log if x[0] == "GET"]

    # -m VARIANT now finds the file; a variant not downloaded says how to get it.
    r = qwen(["info", "q8_0"], hub, tmp_path)
    assert r.returncode == 0 and "layers 2" in r.stdout, r.stderr
    r = qwen(["info", "q4_0"], hub, tmp_path)
    assert r.returncode == 2 and "qwen download q4_0" in r.stderr


def test_a_server_without_ranges_restarts_and_a_corrupt_file_is_refused(hub, models, tmp_path):
    cdn = f"/cdn/{GGUF_REPO}/qwen2.5-0.5b-instruct-q4_0.gguf"
    hub.cut_once.add(cdn)
    assert qwen(["download", "q4_0"], hub, tmp_path).returncode == 1
    hub.no_ranges = True
    r = qwen(["download", "q4_0"], hub, tmp_path)
    assert r.returncode == 0, r.stderr
    dest = Path(r.stdout.strip())
    assert dest.read_bytes() == Path(models[0]).read_bytes()

    dest.unlink()
    hub.corrupt.add(cdn)
    r = qwen(["download", "q4_0"], hub, tmp_path)
    assert r.returncode == 1 and "does not match" in r.stderr and "SHA-256" in r.stderr
    assert not dest.exists() and not Path(str(dest) + ".part").exists()
    assert r.stderr.count("\n") == 1

    # A damaged finished file is fetched again, not trusted.
    hub.corrupt.clear()
    assert qwen(["download", "q4_0"], hub, tmp_path).returncode == 0
    dest.write_bytes(b"x" + dest.read_bytes()[1:])
    r = qwen(["download", "q4_0"], hub, tmp_path)
    assert r.returncode == 0 and "downloaded" in r.stderr
    assert dest.read_bytes() == Path(models[0]).read_bytes()


def test_the_safetensors_folder_and_errors(hub, models, tmp_path):
    r = qwen(["download", "hf"], hub, tmp_path)
    assert r.returncode == 0, r.stderr
    folder = Path(r.stdout.strip())
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in Path(models[1]).iterdir())
    for p in Path(models[1]).iterdir():
        assert (folder / p.name).read_bytes() == p.read_bytes(), p.name
    r = qwen(["info", "hf"], hub, tmp_path)
    assert r.returncode == 0 and "layers 2" in r.stdout

    r = qwen(["download", "q9_9"], hub, tmp_path)
    assert r.returncode == 2 and "unknown variant" in r.stderr
    r = qwen(["download", "q5_0"], hub, tmp_path)  # not on this hub
    assert r.returncode == 1 and "HTTP 404" in r.stderr
    listing = qwen(["download", "--list"], hub, tmp_path).stdout
    assert "hf " in listing and "[downloaded]" in listing
