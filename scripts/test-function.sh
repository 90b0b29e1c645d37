#!/usr/bin/env bash
# Smoke test: walks a new user's journey against any running EventFlow
# gateway — health, token, create, Ready, sync and async invoke, logs,
# history, delete — and fails loudly at the first step that does not work.
#
#   scripts/test-function.sh [GATEWAY_URL]        (default http://127.0.0.1:8080)
#
# Environment:
#   EVENTFLOW_TOKEN   bearer token to use; without it one is asked from
#                     POST /auth/token (development gateways only)
#   EVENTFLOW_TENANT  tenant for that development token (default: smoke)
#   FUNCTION_IMAGE    image of the test function (needed on Kubernetes, e.g.
#                     busybox:1.37; the process runtime runs the command)
#   FUNCTION_SHELL    the POSIX shell the test function runs in (default sh).
#                     The function uses only the shell's builtins, so any
#                     static shell works: under docker compose the images
#                     have none, so put one in the functions dir, e.g. a
#                     static busybox copied to ./.eventflow/functions/sh, and
#                     set FUNCTION_SHELL=/functions/sh (docs/CONTAINERS.md).
#   SMOKE_TIMEOUT     seconds to wait for each asynchronous step (default 120)
#
# Needs bash (4.2 or later), curl and sleep.
set -euo pipefail

URL=${1:-${EVENTFLOW_URL:-http://127.0.0.1:8080}}
URL=${URL%/}
TENANT=${EVENTFLOW_TENANT:-smoke}
TIMEOUT=${SMOKE_TIMEOUT:-120}
SHELL_PATH=${FUNCTION_SHELL:-sh}
printf -v NAME 'smoke-%(%s)T-%s' -1 "$RANDOM"
START=$SECONDS

step() { printf '==> %s\n' "$*"; }
ok() { printf '    ok: %s (%ss)\n' "$*" "$((SECONDS - START))"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || fail "SMOKE_TIMEOUT=$TIMEOUT: want a whole number of seconds"

# api METHOD PATH [BODY] [extra curl args...]: sets CODE and BODY.
api() {
  local method=$1 path=$2 data=${3-} out
  shift 3 2>/dev/null || shift $#
  out=$(curl -sS -m 30 -X "$method" -w '\n%{http_code}' ${TOKEN:+-H "Authorization: Bearer $TOKEN"} \
    ${data:+--data-binary "$data"} "$@" "$URL$path") || fail "$method $path: gateway unreachable at $URL, or no answer within 30s (curl exit $?)"
  CODE=${out##*$'\n'}
  BODY=${out%$'\n'*}
}

# field NAME: the first string value of "NAME" in BODY, JSON escapes left
# as they are (flat lookups are all this script needs, and it keeps the
# script free of jq).
field() {
  local re='"'"$1"'"[[:space:]]*:[[:space:]]*"(([^"\\]|\\.)*)"'
  if [[ $BODY =~ $re ]]; then printf '%s' "${BASH_REMATCH[1]}"; fi
}

# json_str S: S as a JSON string.
json_str() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

# until_ok DESCRIPTION COMMAND...: retries COMMAND every second, bounded.
until_ok() {
  local what=$1 deadline=$((SECONDS + TIMEOUT))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || fail "$what: not after ${TIMEOUT}s (last answer $CODE: $BODY)"
    sleep 1
  done
}

cleanup() {
  if [[ -n ${CREATED-} ]]; then
    curl -sS -m 10 -o /dev/null -X DELETE -H "Authorization: Bearer $TOKEN" "$URL/v1/functions/$NAME" || true
  fi
}
trap cleanup EXIT

step "gateway $URL is healthy and ready"
TOKEN=
api GET /healthz
[[ $CODE == 200 ]] || fail "/healthz answered $CODE: $BODY"
api GET /readyz
[[ $CODE == 200 ]] || fail "/readyz answered $CODE: $BODY"
ok "healthz and readyz answer 200"

step "token"
if [[ -n ${EVENTFLOW_TOKEN-} ]]; then
  TOKEN=$EVENTFLOW_TOKEN
  ok "from EVENTFLOW_TOKEN"
else
  api POST /auth/token "{\"tenant\":$(json_str "$TENANT")}"
  [[ $CODE == 200 || $CODE == 201 ]] || fail "POST /auth/token answered $CODE (set EVENTFLOW_TOKEN on gateways without the development token endpoint): $BODY"
  TOKEN=$(field token)
  [[ -n $TOKEN ]] || fail "no token in $BODY"
  ok "development token for tenant $TENANT"
fi

step "create function $NAME"
# The function echoes its input with a prefix and writes a line on stderr,
# with shell builtins only: no other program needs to exist where it runs.
script='IFS= read -r in || :; echo smoke-log-line >&2; printf "echo: %s" "$in"'
image=
if [[ -n ${FUNCTION_IMAGE-} ]]; then image="\"image\":$(json_str "$FUNCTION_IMAGE"),"; fi
api POST /v1/functions "{\"name\":\"$NAME\",$image\"command\":[$(json_str "$SHELL_PATH"),\"-c\",$(json_str "$script")],\"invocation\":{\"timeout\":\"30s\"}}"
[[ $CODE == 202 || $CODE == 201 ]] || fail "create answered $CODE: $BODY"
CREATED=1
ok "accepted ($CODE)"

step "bad input is refused with a message"
api POST /v1/functions '{"name":"Not A Valid Name!","command":["true"]}'
[[ $CODE == 400 || $CODE == 422 ]] || fail "an invalid name answered $CODE, want 400: $BODY"
[[ $BODY == *error* ]] || fail "the refusal carries no error message: $BODY"
ok "invalid name answers $CODE with a message"

step "wait for phase Ready"
is_ready() {
  api GET "/v1/functions/$NAME"
  [[ $CODE == 200 && $(field phase) == Failed ]] && fail "function $NAME failed to deploy: $(field message) (is the command ${SHELL_PATH} there? see FUNCTION_SHELL)"
  [[ $CODE == 200 && $(field phase) == Ready ]]
}
until_ok "function $NAME Ready" is_ready
ok "Ready"

step "invoke synchronously"
api POST "/v1/functions/$NAME:invoke" "hello smoke"
[[ $CODE == 200 ]] || fail "sync invoke answered $CODE: $BODY"
[[ $BODY == "echo: hello smoke" ]] || fail "sync invoke returned \"$BODY\", want \"echo: hello smoke\""
ok "echo: hello smoke"

step "invoke asynchronously and follow the invocation"
api POST "/v1/functions/$NAME:invoke?async=true" "queued call"
[[ $CODE == 202 ]] || fail "async invoke answered $CODE: $BODY"
ID=$(field id)
[[ -n $ID ]] || fail "no invocation id in $BODY"
is_done() { api GET "/v1/invocations/$ID"; [[ $CODE == 200 && $(field status) =~ ^(succeeded|failed|dead_lettered)$ ]]; }
until_ok "invocation $ID finished" is_done
[[ $(field status) == succeeded ]] || fail "invocation $ID ended $(field status): $BODY"
[[ $(field output) == "echo: queued call" ]] || fail "invocation output \"$(field output)\", want \"echo: queued call\""
ok "invocation $ID succeeded with echo: queued call"

step "logs"
has_log() { api GET "/v1/functions/$NAME/logs?tail=50"; [[ $CODE == 200 && $BODY == *smoke-log-line* ]]; }
until_ok "the function's log line" has_log
ok "its stderr line is in the logs"

step "invocation history"
api GET "/v1/functions/$NAME/invocations?limit=10"
[[ $CODE == 200 && $BODY == *"$ID"* ]] || fail "history ($CODE) does not list $ID: $BODY"
ok "history lists $ID"

step "delete"
api DELETE "/v1/functions/$NAME"
[[ $CODE == 202 || $CODE == 200 || $CODE == 204 ]] || fail "delete answered $CODE: $BODY"
gone() { api GET "/v1/functions/$NAME"; [[ $CODE == 404 ]]; }
until_ok "function $NAME gone" gone
CREATED=
ok "gone (404)"

printf 'PASS: the journey works against %s in %ss\n' "$URL" "$((SECONDS - START))"
