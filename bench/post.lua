-- wrk script: POST a chat body with the credential given in the environment.
wrk.method = "POST"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Summarise the following paragraph in one sentence, please, and keep the names."}],"max_tokens":256}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_CREDENTIAL")
