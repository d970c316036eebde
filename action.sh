#!/usr/bin/env bash
# The convprof GitHub Action (action.yml) as plain shell around the CLI, so that it runs the same on a
# laptop: check the budgets of the specs, compare them with a baseline, write the job summary and a
# pull-request comment, and say where everything is in GITHUB_OUTPUT.
#
# Inputs, as environment variables (action.yml sets them from its inputs):
#   CONVPROF_SPECS       spec files, built-in examples or quoted globs ('specs/*.yaml'), one per word
#   CONVPROF_BUDGETS     limits over the specs' own budgets: params=100k,macs=1G,latency_ms.cpu=5
#   CONVPROF_BASELINE    a saved report or a directory of them; growth is checked when it exists
#   CONVPROF_MAX_GROWTH  growth allowed against the baseline: params=0%,macs=5%
#   CONVPROF_FAIL_ON     exceeded (a budget or allowance exceeded fails), unverified (also a spec with
#                        nothing checked or a lower bound left unverified), never (report only)
#   CONVPROF_OUTPUT_DIR  where the reports, the check results, the summary and the comment go
#   CONVPROF             the convprof command, words split at spaces (default: convprof)
# Outputs (appended to GITHUB_OUTPUT when it is set, printed otherwise): report, reports, summary,
# comment, passed, exit-code.
set -euo pipefail

read -r -a convprof <<<"${CONVPROF:-convprof}"
specs=${CONVPROF_SPECS:-specs/*.yaml}
fail_on=${CONVPROF_FAIL_ON:-exceeded}
out=${CONVPROF_OUTPUT_DIR:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/convprof}
summary_target=${GITHUB_STEP_SUMMARY:-}

fail() {
  echo "convprof action: error: $*" >&2
  exit 2
}

case "$fail_on" in
  exceeded | unverified | never) ;;
  *) fail "fail-on must be exceeded, unverified or never, not '$fail_on'" ;;
esac

mkdir -p "$out/reports"
report="$out/checks.json"
summary="$out/summary.md"
comment="$out/comment.md"
: >"$summary"

# Each word a spec; a glob stays quoted for convprof to expand ('specs/*.yaml' in a matrix of repos).
set -f
read -r -a spec_args <<<"$(echo "$specs" | tr '\n' ' ')"
set +f
[ "${#spec_args[@]}" -gt 0 ] || fail "specs is empty; give spec files or a glob such as 'specs/*.yaml'"

args=(--format json -o "$report" --write-reports "$out/reports")
if [ -n "${CONVPROF_BUDGETS:-}" ]; then
  IFS=',' read -r -a budgets <<<"$CONVPROF_BUDGETS"
  for budget in "${budgets[@]}"; do
    budget=$(echo "$budget" | tr -d '[:space:]')
    [ -n "$budget" ] || continue
    metric=${budget%%=*}
    limit=${budget#*=}
    [ "$metric" != "$budget" ] && [ -n "$limit" ] || fail "budgets: write METRIC=LIMIT, e.g. params=100k, not '$budget'"
    case "$metric" in
      latency_ms.*) args+=(--max-latency "${metric#latency_ms.}=$limit") ;;
      training_latency_ms.*) args+=(--max-training-latency "${metric#training_latency_ms.}=$limit") ;;
      *) args+=("--max-${metric//_/-}" "$limit") ;;
    esac
  done
fi

baseline=${CONVPROF_BASELINE:-}
if [ -n "$baseline" ] && [ -e "$baseline" ]; then
  args+=(--baseline "$baseline" --max-growth "${CONVPROF_MAX_GROWTH:-params=0%,macs=5%}")
elif [ -n "$baseline" ]; then
  echo "convprof action: no baseline at $baseline yet; growth is not checked this time" >&2
  baseline=
fi
if [ "$fail_on" = unverified ]; then
  args+=(--require-budgets)
fi

# The check: its JSON to the report, its Markdown to our summary (convprof appends it to the file
# GITHUB_STEP_SUMMARY names), its one-line verdicts on stderr.
status=0
GITHUB_STEP_SUMMARY=$summary "${convprof[@]}" check "${spec_args[@]}" "${args[@]}" || status=$?
[ "$status" -le 1 ] || exit "$status" # a usage or spec error: nothing to report

# What changed against the baseline, spec by spec, in the same summary.
if [ -n "$baseline" ]; then
  if [ -d "$baseline" ]; then olds=("$baseline"/*.json); else olds=("$baseline"); fi
  for old in "${olds[@]}"; do
    new="$out/reports/${old##*/}"
    if [ -f "$old" ] && [ -f "$new" ]; then
      GITHUB_STEP_SUMMARY=$summary "${convprof[@]}" diff "$old" "$new" --format markdown >/dev/null
    fi
  done
fi

if [ -n "$summary_target" ]; then
  cat "$summary" >>"$summary_target"
fi
# A sticky comment: the marker lets a commenting step find and replace its earlier comment.
{
  echo "<!-- convprof -->"
  cat "$summary"
} >"$comment"

passed=true
[ "$status" -eq 0 ] || passed=false
{
  printf 'report=%s\nreports=%s\nsummary=%s\n' "$report" "$out/reports" "$summary"
  printf 'comment=%s\npassed=%s\nexit-code=%s\n' "$comment" "$passed" "$status"
} >>"${GITHUB_OUTPUT:-/dev/stdout}"

if [ "$status" -ne 0 ] && [ "$fail_on" != never ]; then
  exit "$status"
fi
exit 0
