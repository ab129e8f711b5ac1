#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/: shapes taken from the unit tests and the
Wycheproof vectors in tests/data/wycheproof. Run it again after changing a seed; libFuzzer keeps
what it finds in its own work directory, not here."""
import base64, hashlib, json, pathlib, shutil

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

ROOT = pathlib.Path(__file__).resolve().parent
WYCHEPROOF = ROOT.parent / "tests" / "data" / "wycheproof"
NOW = 1_800_000_000


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def public_jwk(seed_byte: int) -> dict:
    key = Ed25519PrivateKey.from_private_bytes(bytes([seed_byte]) * 32)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64u(raw)}


def wycheproof(name: str):
    for group in json.loads((WYCHEPROOF / name).read_text())["testGroups"]:
        for test in group["tests"]:
            yield group, test


def jws_seeds():
    header = {"alg": "EdDSA", "typ": "at+jwt", "kid": "k1"}
    claims = {"iss": "aipassport-broker", "sub": "g1", "aud": "aipassport", "gid": "g1", "jti": "j1",
              "iat": NOW, "nbf": NOW, "exp": NOW + 3600}
    yield compact(header) + "\n" + compact(claims)
    yield compact(header) + "\n" + compact({**claims, "client_id": "app", "cnf": {"jkt": "x" * 43}})
    yield compact(header) + "\n" + compact({**claims, "aud": ["aipassport", "other"], "exp": NOW - 100})
    yield compact({**header, "crit": ["exp"]}) + "\n" + compact(claims)
    tokens = [t["jws"] for _, t in wycheproof("json_web_signature_test.json") if isinstance(t.get("jws"), str)]
    yield from tokens[::12]


def dpop_seeds():
    header = {"typ": "dpop+jwt", "alg": "EdDSA", "jwk": public_jwk(0x17)}
    claims = {"jti": "id-1", "htm": "POST", "htu": "https://broker.example/openai/v1/chat/completions", "iat": NOW}
    ath = b64u(hashlib.sha256(b"at-token").digest())
    yield compact(header) + "\n" + compact(claims)
    yield compact(header) + "\n" + compact({**claims, "ath": ath})
    yield compact(header) + "\n" + compact({**claims, "htu": "HTTPS://Broker.Example:443/openai/v1/chat/completions?x=1",
                                            "nonce": "n", "iat": NOW + 31})
    yield compact({**header, "alg": "ES256", "jwk": {"kty": "EC", "crv": "P-256", "x": "A" * 43, "y": "A" * 43}}) + \
        "\n" + compact(claims)
    yield compact({**header, "jwk": {**public_jwk(0x17), "d": "AAAA"}}) + "\n" + compact(claims)


def jwk_seeds():
    yield compact(public_jwk(0x17))
    yield compact({**public_jwk(0x17), "d": "AAAA"})
    for group, test in list(wycheproof("ecdsa_secp256r1_sha256_p1363_test.json"))[:1]:
        jwk = group.get("publicKeyJwk")
        if jwk:
            yield compact(jwk) + bytes.fromhex(test["sig"]).hex()
    keys = []
    for group, _ in wycheproof("json_web_signature_test.json"):
        for key in (group.get("public") or {}).get("keys", []) if isinstance(group.get("public"), dict) else []:
            keys.append(key)
        if isinstance(group.get("public"), dict) and "kty" in group["public"]:
            keys.append(group["public"])
    seen = set()
    for key in keys:
        text = compact(key)
        if text not in seen:
            seen.add(text)
            yield text


def authorization_details_seeds():
    item = {"type": "ai_access", "provider": "openai", "models": ["gpt-4o-mini"], "capabilities": ["chat"],
            "max_budget_cents": 500, "max_requests": 100, "rate_limit": 10, "lifetime_seconds": 604800,
            "reason": "summaries"}
    yield compact([item]) + "\n"
    yield compact([{"type": "ai_access", "provider": "anthropic", "capabilities": ["chat", "code"]}]) + "\nopenai:chat"
    yield "\nopenai:chat openai:embeddings"
    yield "\nollama:chat google:chat"
    yield compact([item, item]) + "\n"
    yield compact({"type": "ai_access"}) + "\n"


def grant_seeds():
    yield compact({"provider": "openai", "models": ["gpt-4o-mini", "gpt-4o*"], "capabilities": ["chat"],
                   "maxBudgetCents": 500, "maxRequests": 100, "rateLimit": 10, "maxTokensPerMinute": 10000,
                   "maxConcurrent": 4})
    yield compact({"provider": "google", "models": ["models/gemini-2.5-pro"], "capabilities": ["chat", "embeddings"]})
    yield compact({"maxBudgetCents": 1000, "maxRequests": None, "rateLimit": 5})
    yield compact({"provider": "anthropic", "models": ["claude-*-sonnet-*@2024*"], "capabilities": ["code"],
                   "maxBudgetCents": 9007199254740993})


CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "Be brief."},
                                              {"role": "user", "content": "Hello"}],
        "max_tokens": 50, "stream": True, "temperature": 0.2, "stop": ["\n"]}


def json_call_seeds():
    bodies = [
        compact(CHAT),
        compact({"model": "claude-3-5-haiku-latest", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}],
                 "tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
        compact({"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"maxOutputTokens": 20},
                 "tools": [{"googleSearch": {}}]}),
        compact({"model": "text-embedding-3-small", "input": ["a", "b"]}),
        '{"model":"a","mod\\u0065l":"b","stream":true,"stream_options":{"include_usage":false}}',
        compact({"model": "gpt-4o", "input": "hi", "tools": [{"type": "web_search_preview"}], "max_output_tokens": 9}),
        # Long mantissas with text after them: Boost.JSON rounds them one way with 33 bytes or more
        # left and another near the end of its input, and the scan must read them as json::parse.
        '{"model":"a","temperature":0.1000000000000000055511151231257827,"top_p":51.3456789012345678,"n":1}',
        # json::parse reads 0e999 as NaN: the broker must not write the app's stream_options again.
        '{"model":"a","stream":true,"stream_options":{"x":0e999,"y":-1e999}}',
        # tools that is not an array beside the app's stream_options: the splice once walked it as one.
        '{"model":"a","tools":"b","stream":true,"stream_options":{"include_usage":false}}',
    ]
    for i, body in enumerate(bodies):
        for first in range(i, 48, len(bodies)):
            yield bytes([first]) + body.encode()


def usage_seeds():
    yield '{"usage":{"prompt_tokens":12,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":4}}}'
    yield '{"type":"message_start","message":{"usage":{"input_tokens":25,"output_tokens":1}}}'
    yield '{"usage":{"input_tokens":10,"cache_read_input_tokens":1000,"cache_creation_input_tokens":200,' \
          '"output_tokens":5,"server_tool_use":{"web_search_requests":2}}}'
    yield '{"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":3,"thoughtsTokenCount":2},' \
          '"candidates":[{"groundingMetadata":{"webSearchQueries":["a","b"]}}]}'
    yield '{"type":"response.completed","response":{"usage":{"input_tokens":9,"output_tokens":4},' \
          '"output":[{"type":"web_search_call"}]}}'
    yield '{"text":"hi","usage":{"type":"duration","seconds":3.5}}'
    yield '{"id":"c","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}'
    yield '{"usage":{"prompt_tokens":-1,"completion_tokens":1e300}}'
    yield '{"usage":{"prompt_tokens":328.999999999999976,"completion_tokens":1,"total_tokens":2}}'


def sse_seeds():
    yield "\x03data: {\"a\":1}\n\ndata: [DONE]\n\n"
    yield "\x05event: message_start\r\ndata: {\"type\":\"message_start\"}\r\n\r\nevent: ping\r\ndata: {}\r\n\r\n"
    yield "\x02data: a\rdata: b\r\r: comment\n\nid: 1\nretry: 10\ndata:x\n\n"
    yield "\x07data: {\"candidates\":[]}\r\n\r\ndata: unfinished"


def multipart_seeds():
    def part(headers, value):
        return "--XyZ\r\n" + headers + "\r\n\r\n" + value + "\r\n"
    end = "--XyZ--\r\n"
    ct = "multipart/form-data; boundary=XyZ\n"
    upload = part('Content-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav',
                  "a" * 40 + "\r\n--Xy!\r\n-")
    yield ct + upload + part('Content-Disposition: form-data; name="model"', "whisper-1") + end
    yield ct + part("content-disposition:FORM-DATA;NAME=model", "whisper-1") + end
    yield 'multipart/form-data; boundary="a b:c"\n--a b:c\r\nContent-Disposition: form-data; name="model"\r\n\r\nx\r\n--a b:c--'
    yield ct + part('Content-Disposition: form-data; x=" name=model;"; name="prompt"', "w") + end
    yield ct + "preamble\r\n" + part("Content-Disposition: form-data; name*=utf-8''model", "w") + end


def cookies_seeds():
    yield "__Host-aipassport_session=abc; csrf=x\ntheme=dark"
    yield 'a="quoted"; b=; =c; csrf=1; csrf=2'
    yield "csrf=t0k&capabilities=chat&capabilities=code&reason=a+b%20c"
    yield "/oauth/authorize?code=abc&state=%E2%82%AC&x&=y"
    yield "?alt=sse&key=AIza&pageSize=10&pageToken=abc"
    yield "/v1beta/models?pageSize=5&%24alt=json"


def url_seeds():
    yield "https://notes.example/app?x=1#frag"
    yield "https://bank.example@evil.example/"
    yield "http://[::1]:8443/v1"
    yield "HTTPS://Broker.Example:443/openai/v1/chat/completions?x=1"
    yield "/console/grants?page=2"
    yield "//evil.example/\\x"
    yield "https://xn--bcher-kva.example:8080/path%2Fprefix/"


def translate_seeds():
    yield compact(CHAT)
    yield compact({"model": "claude-3-5-haiku-latest", "messages": [
        {"role": "system", "content": [{"type": "text", "text": "sys"}]},
        {"role": "user", "content": [{"type": "text", "text": "hi"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "t", "type": "function",
                                                               "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "t", "content": "42"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": "auto", "top_p": 0.9, "n": 1, "response_format": {"type": "json_object"}})
    yield compact({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}],
                   "max_completion_tokens": 10, "seed": 3, "stop": "END", "user": "u"})
    # What fuzzing found in stop 46: a system part that is not an object, a number json::parse
    # reads as NaN, and a short web_search type whose text moved when max_uses was added.
    yield ('{"model":"claude-3-5-haiku-latest","messages":[{"role":"system","content":["bare",7]},'
           '{"role":"user","content":"x"}],"temperature":0e999,"tools":[{"type":"web_search_"}]}')


def config_seeds():
    yield (ROOT.parent / "packaging" / "config.toml").read_text()
    yield 'listen = "[::1]:0"\ndata_dir = "/tmp/x"\n[database]\npool_size = 4\n[cluster]\nnode_timeout_seconds = 30\n'
    yield ('[[openai_compatible]]\nname = "groq"\nbase_url = "https://api.groq.com/openai"\napi_key_env = "GROQ_KEY"\n'
           '[[openai_compatible]]\nname = "ollama"\nbase_url = "http://127.0.0.1:11434"\n')
    yield ('[pricing]\nunknown_models = "count_requests"\n[[prices]]\nprovider = "openai"\nmodel = "gpt-x"\n'
           'input_per_million_usd = 1.5\noutput_per_million_usd = 6\n')
    yield '[metrics]\nlisten = "0.0.0.0:9464"\nallow_remote = true\n[alerts]\npercents = ["50", "90"]\n'
    yield 'share_environment_keys_with = ["alice", "*"]\nlog_format = "json"\nunknown = 1\n'


def server_seeds():
    yield "GET /health HTTP/1.1\r\nHost: a\r\n\r\n"
    yield "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /stream HTTP/1.1\r\nHost: a\r\n\r\n"
    yield ("POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
           "5\r\nhello\r\n0\r\n\r\n")
    yield "POST /upload HTTP/1.0\r\nContent-Length: 99999\r\n\r\nabc"
    yield "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
    yield "GET /stream HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    yield "GET /whole HTTP/1.1\r\nHost: a\r\n\r\nGET /whole HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    yield "BREW /pot HTTP/9.9\r\n\r\n"


def answer_seeds():
    # The first byte seeds the piece sizes; its low bit makes the call a HEAD.
    yield "\x10HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1"
    yield ("\x22HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n1 ; q=\"x\\\"y\"\r\n!\r\n"
           "0\r\nX-Trailer: 1\r\n\r\n")
    yield "\x06HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nuntil the close"
    yield "\x08HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n"
    yield "\x01HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\n"
    yield "\x04HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 02\r\n\r\nok"
    # Near the bounds (a head of 8 KB, trailers), and long enough that libFuzzer's inputs reach them.
    yield ("\x10HTTP/1.1 200 OK\r\nX-A: " + "a" * 8100 + "\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n"
           "0\r\nX-T: " + "b" * 4000 + "\r\n\r\n")


TARGETS = {
    "jws": jws_seeds, "dpop": dpop_seeds, "jwk": jwk_seeds, "authorization_details": authorization_details_seeds,
    "grant": grant_seeds, "json_call": json_call_seeds, "usage": usage_seeds, "sse": sse_seeds,
    "multipart": multipart_seeds, "cookies": cookies_seeds, "url": url_seeds, "translate": translate_seeds,
    "config": config_seeds, "server": server_seeds, "answer": answer_seeds,
}

for target, seeds in TARGETS.items():
    folder = ROOT / "corpus" / target
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for seed in seeds():
        data = seed if isinstance(seed, bytes) else seed.encode()
        (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)
