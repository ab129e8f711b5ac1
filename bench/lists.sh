#!/usr/bin/env bash
# Lists that stay small (a benchmark, not a test): fills a fresh store with 100,000 grants, a million
# activity rows and 100,000 audit records (direct SQLite inserts), starts the broker, times the first
# page of GET /grants (owner token and a signed-in owner), /activity, /audit and /grants/:id/activity
# (the median of 7 calls each, curl's total time over loopback), then walks every page of /grants
# while sampling the broker's resident memory (VmRSS) from /proc every 20 ms.
# Targets (issue 11): a first page within a few milliseconds; RSS under 64 MB throughout.
# Usage: bench/lists.sh [path/to/aipassport]   (LISTS_GRANTS, LISTS_ACTIVITY to change the sizes)
set -euo pipefail
BIN=$(realpath "${1:-build/src/aipassport}")
GRANTS=${LISTS_GRANTS:-100000}
ACTIVITY=${LISTS_ACTIVITY:-1000000}
AUDIT=${LISTS_AUDIT:-100000}
LIVE=${LISTS_LIVE_PERCENT:-5}
ADMIN=bench-lists-admin-token-0123456789abcdef
PASSWORD='bench password, long enough'
TMP=$(mktemp -d /tmp/aipassport-lists-XXXXXX)
DATA=$TMP/data
BROKER_PID=
SAMPLER_PID=
cleanup() {
  [[ -n "$SAMPLER_PID" ]] && kill "$SAMPLER_PID" 2>/dev/null || true
  [[ -n "$BROKER_PID" ]] && kill "$BROKER_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  [[ -n "${LISTS_KEEP:-}" ]] || rm -rf "$TMP"
}
trap cleanup EXIT
for tool in sqlite3 curl; do command -v $tool >/dev/null || { echo "needs $tool (scripts/install-deps.sh)" >&2; exit 1; }; done

wait_for_url() {  # file -> URL printed as "listening on URL"
  for _ in $(seq 300); do
    url=$(grep -o 'listening on http://[^ ]*' "$1" 2>/dev/null | head -1 | cut -d' ' -f3) && [[ -n "$url" ]] && { echo "$url"; return; }
    sleep 0.1
  done
  echo "no URL in $1:" >&2; cat "$1" >&2; exit 1
}
start_broker() {
  AIPASSPORT_ADMIN_TOKEN=$ADMIN OPENAI_API_KEY=sk-bench-not-used "$BIN" serve --listen 127.0.0.1:0 --data-dir "$DATA" \
    > "$TMP/broker.out" 2>&1 &
  BROKER_PID=$!
  URL=$(wait_for_url "$TMP/broker.out")
}
stop_broker() { kill -TERM "$BROKER_PID"; wait "$BROKER_PID" || true; BROKER_PID=; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$BROKER_PID/status"; }

# The schema, the operator account and a second owner, made by the broker itself.
mkdir -p "$DATA"
printf '%s\n' "$PASSWORD" | "$BIN" user add alice --password-stdin --data-dir "$DATA" >/dev/null
start_broker
stop_broker
DB=$DATA/aipassport.db
OPERATOR=$(sqlite3 "$DB" "SELECT id FROM owners WHERE username <> 'alice' LIMIT 1")
ALICE=$(sqlite3 "$DB" "SELECT id FROM owners WHERE username = 'alice'")
NOW=$(date +%s)
SCOPE='{"provider":"openai","models":["gpt-4o-mini"],"capabilities":["chat"],"maxBudgetCents":500}'

echo "filling: $GRANTS grants, $ACTIVITY activity rows, $AUDIT audit records"
t0=$(date +%s.%N)
# Four grants a second (ties in created_at, so the cursor's id tie-break is exercised). Of every
# hundred: LISTS_LIVE_PERCENT (5) approved and live (the grant cache holds these from the start), the
# rest of the first 35 revoked, 35 denied, 30 lapsed requests no owner decided; decided ones alternate
# between the operator and alice.
sqlite3 "$DB" <<SQL
PRAGMA synchronous = OFF;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $GRANTS)
INSERT INTO grant_requests (id, app_name, app_url, scope_json, reason, created_at)
SELECT printf('req-%07d', i), 'Bench app ' || (i % 500), 'https://bench.example', '$SCOPE', 'benchmark',
       $NOW - 30 * 86400 + i / 4 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $GRANTS)
INSERT INTO grants (id, request_id, app_name, app_url, reason, scope_json, max_requests, status, created_at, expires_at,
                    approved_at, denied_at, revoked_at, usage_count, spent_micros, notes, version, request_secret_hash,
                    owner_id, budget_micros, lost_micros, lost_requests, key_label, verified)
SELECT printf('g-%07d', i), printf('req-%07d', i), 'Bench app ' || (i % 500), 'https://bench.example', 'benchmark',
       '$SCOPE', NULL,
       CASE WHEN i % 100 < $LIVE THEN 'approved' WHEN i % 100 < 35 THEN 'revoked' WHEN i % 100 < 70 THEN 'denied'
            ELSE 'pending' END,
       $NOW - 30 * 86400 + i / 4,
       CASE WHEN i % 100 < 70 THEN $NOW + 86400 ELSE $NOW - 29 * 86400 END,
       CASE WHEN i % 100 < 35 THEN $NOW - 86400 END, CASE WHEN i % 100 BETWEEN 35 AND 69 THEN $NOW - 86400 END,
       CASE WHEN i % 100 BETWEEN $LIVE AND 34 THEN $NOW - 3600 END,
       i % 50, (i % 50) * 1200, NULL, 2, 'x',
       CASE WHEN i % 100 >= 70 THEN NULL WHEN i % 2 = 0 THEN '$OPERATOR' ELSE '$ALICE' END,
       5000000, 0, 0, CASE WHEN i % 100 < 70 THEN 'environment' END, 0
FROM n;
-- Activity names grants and owners by their numbers in activity_ids.
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999)
INSERT INTO activity_ids (id) SELECT printf('g-%07d', i * 10) FROM n;
INSERT INTO activity_ids (id) VALUES ('$OPERATOR'), ('$ALICE');
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $ACTIVITY)
INSERT INTO activity (at, grant_n, app_name, owner_n, provider, model, capability, status, input_tokens, output_tokens,
                      cached_input_tokens, cost_micros, latency_ms, ttft_ms, streamed, refusal)
SELECT ($NOW - 20 * 86400) * 1000 + i * 1700, (SELECT n FROM activity_ids WHERE id = printf('g-%07d', (i % 1000) * 10)),
       'Bench app ' || (i % 500), (SELECT n FROM activity_ids WHERE id = CASE WHEN i % 2 = 0 THEN '$OPERATOR' ELSE '$ALICE' END),
       'openai', 'gpt-4o-mini', 'chat', 200, 120, 40, 0, 90, 350, NULL, 0, '' FROM n;
-- Out of the chain's way: far above the seq the broker's next record takes (verify would flag them).
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $AUDIT)
INSERT INTO audit (seq, at, owner_id, actor, kind, grant_id, detail, prev_hash, hash)
SELECT 10000000 + i, ($NOW - 20 * 86400) * 1000 + i * 17000, CASE WHEN i % 2 = 0 THEN '$OPERATOR' ELSE '$ALICE' END,
       'broker', 'grant.approved', printf('g-%07d', i % $GRANTS), '{}', 'x', 'x' FROM n;
COMMIT;
SQL
printf 'filled in %.1f s; database %s MB\n' "$(echo "$(date +%s.%N) - $t0" | bc)" "$(( $(stat -c %s "$DB") / 1048576 ))"

start_broker
sleep 1
echo "broker started: RSS $(( $(rss_kb) / 1024 )) MB ($(sqlite3 "$DB" "SELECT COUNT(*) FROM grants WHERE status = 'approved'") live grants in the grant cache)"

# alice signs in as a browser would: the login form's CSRF cookie and field, then the session cookie.
curl -s -c "$TMP/jar" -o "$TMP/login.html" "$URL/login"
CSRF=$(grep -o 'name="csrf" value="[^"]*"' "$TMP/login.html" | head -1 | sed 's/.*value="//; s/"$//')
curl -s -b "$TMP/jar" -c "$TMP/jar" -o /dev/null --data-urlencode "csrf=$CSRF" --data-urlencode "next=/" \
  --data-urlencode "username=alice" --data-urlencode "password=$PASSWORD" "$URL/login"
grep -q aipassport_session "$TMP/jar" || { echo "alice could not sign in" >&2; exit 1; }

# Bash builtins only (no process a sample), so that sampling does not load the machine it measures.
sample_rss() {
  local key value rest tick
  exec {tick}<> <(:)
  while [[ -e /proc/$BROKER_PID ]]; do
    while read -r key value rest; do [[ $key == VmRSS: ]] && echo "$value"; done < "/proc/$BROKER_PID/status" || true
    read -r -t 0.02 -u "$tick" || true
  done
}
sample_rss > "$TMP/rss" &
SAMPLER_PID=$!

ms() {  # median of 7 timed GETs of $1 (extra curl arguments after it), in milliseconds
  local path=$1; shift
  for _ in 1 2 3 4 5 6 7; do
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' "$@" "$URL$path"
  done | sort -k2 -n | awk 'NR == 4 { if ($1 != 200) { print "HTTP " $1; exit } printf "%.2f ms", $2 * 1000 }'
}
AUTH=(-H "authorization: Bearer $ADMIN")
ALICE_AUTH=(-b "$TMP/jar")
printf '%-58s %s\n' "first page" "median of 7"
printf '%-58s %s\n' "GET /grants (owner token, 500)" "$(ms /grants "${AUTH[@]}")"
printf '%-58s %s\n' "GET /grants?limit=1000 (owner token)" "$(ms '/grants?limit=1000' "${AUTH[@]}")"
printf '%-58s %s\n' "GET /grants?limit=50 (owner token)" "$(ms '/grants?limit=50' "${AUTH[@]}")"
printf '%-58s %s\n' "GET /grants (alice signed in, 500)" "$(ms /grants "${ALICE_AUTH[@]}")"
printf '%-58s %s\n' "GET /activity (owner token, 100)" "$(ms /activity "${AUTH[@]}")"
printf '%-58s %s\n' "GET /activity (alice signed in, 100)" "$(ms /activity "${ALICE_AUTH[@]}")"
printf '%-58s %s\n' "GET /activity?model=gpt-4o-mini&status=200 (owner token)" "$(ms '/activity?model=gpt-4o-mini&status=200' "${AUTH[@]}")"
printf '%-58s %s\n' "GET /audit (owner token, 100)" "$(ms /audit "${AUTH[@]}")"
printf '%-58s %s\n' "GET /audit (alice signed in, 100)" "$(ms /audit "${ALICE_AUTH[@]}")"
printf '%-58s %s\n' "GET /grants/g-0000010/activity (1,000 calls)" "$(ms /grants/g-0000010/activity "${AUTH[@]}")"
printf '%-58s %s\n' "GET /grants/g-0000011/activity (no calls)" "$(ms /grants/g-0000011/activity "${AUTH[@]}")"

walk() {  # every page of $1, following Link rel="next"; prints pages, grants and each page's time
  local target=$1; shift
  local pages=0 grants=0 n
  : > "$TMP/times"
  while [[ -n "$target" ]]; do
    curl -s -D "$TMP/h" -o "$TMP/page" -w '%{time_total}\n' "$@" "$URL$target" >> "$TMP/times"
    n=$(grep -o '"requestId"' "$TMP/page" | wc -l)
    pages=$((pages + 1)); grants=$((grants + n))
    target=$(grep -i '^link:' "$TMP/h" | sed -n 's/^[Ll]ink: <\([^>]*\)>; rel="next".*/\1/p' | tr -d '\r')
  done
  printf '%d pages, %d grants; a page: ' "$pages" "$grants"
  sort -n "$TMP/times" | awk '{ t[NR] = $1 * 1000 } END { printf "median %.1f ms, 90th %.1f ms, max %.1f ms", t[int((NR + 1) / 2)], t[int(NR * 0.9)], t[NR] }'
}
echo "walk /grants?limit=1000 (owner token): $(walk '/grants?limit=1000' "${AUTH[@]}")"
echo "walk /grants (owner token, 500 a page): $(walk /grants "${AUTH[@]}")"
echo "walk /grants (alice signed in, 500 a page): $(walk /grants "${ALICE_AUTH[@]}")"
kill "$SAMPLER_PID" 2>/dev/null || true
wait "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=
sort -n "$TMP/rss" | awk 'NR == 1 { lo = $1 } { hi = $1; n++ } END { printf "RSS while timing and walking: %d samples, min %.1f MB, max %.1f MB (target < 64 MB)\n", n, lo / 1024, hi / 1024 }'
