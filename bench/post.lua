-- wrk script: POST a chat body with the credential given in the environment; BENCH_STREAM=1 asks
-- for a streamed (SSE) answer.
wrk.method = "POST"
local stream = os.getenv("BENCH_STREAM") == "1" and ',"stream":true' or ''
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Summarise the following paragraph in one sentence, please, and keep the names."}],"max_tokens":256' .. stream .. '}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_CREDENTIAL")
