#!/usr/bin/env bash
# Runs every Go fuzz target (func FuzzX(f *testing.F)) of every module in
# go.work, one target at a time (go test -fuzz takes one), and stops at the
# first failure, printing the path of the failing input.
#
#   hack/fuzz.sh --fuzztime 1m     each target for 1m (any -fuzztime value)
#   hack/fuzz.sh --budget 60       60 s of fuzzing in all: 60 s / targets each, at least 2 s
#                                  (building and the seed corpus come on top)
#   hack/fuzz.sh --list            list the targets only
#
# FUZZ_PARALLEL (default 2) is the fuzzing workers per target; FUZZ_MATCH
# (a regexp, default all) picks targets by "<package dir> <target>".
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
GO=${GO:-go}
parallel=${FUZZ_PARALLEL:-2}
match=${FUZZ_MATCH:-}
fuzztime="" budget="" list_only=""
while [ $# -gt 0 ]; do
	case "$1" in
	--fuzztime) fuzztime=$2; shift 2 ;;
	--budget) budget=${2%s}; shift 2 ;;
	--list) list_only=1; shift ;;
	-h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "fuzz.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
if [ -z "$fuzztime" ] && [ -z "$budget" ] && [ -z "$list_only" ]; then
	fuzztime=1m
fi

# Targets as "<module dir> <package dir, relative to it> <name>". Only
# packages whose tests declare a fuzz target are compiled for the listing,
# in one go test -list per module.
targets=()
mods=$("$GO" list -m -f '{{.Dir}}' | sort)
for mod in $mods; do
	dirs=$(cd "$mod" && grep -rlE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' . 2>/dev/null |
		grep -v -e '/testdata/' -e '/node_modules/' | xargs -r -n1 dirname | sort -u) || true
	[ -n "$dirs" ] || continue
	# shellcheck disable=SC2086 # one argument per package
	pkgs=$(cd "$mod" && "$GO" list -f '{{.ImportPath}} {{.Dir}}' $dirs)
	# A package that does not build fails the run: its targets must not be
	# skipped silently.
	# shellcheck disable=SC2086
	if ! listed=$(cd "$mod" && "$GO" test -list '^Fuzz' $dirs 2>&1); then
		echo "fuzz.sh: cannot list the fuzz targets of ${mod#"$root"/}:" >&2
		echo "$listed" >&2
		exit 1
	fi
	# go test -list prints a package's names, then "ok <import path> <time>".
	names=()
	while read -r line; do
		case "$line" in
		Fuzz*) names+=("$line") ;;
		ok*)
			path=$(awk '{print $2}' <<<"$line")
			dir=$(awk -v p="$path" '$1 == p {print $2}' <<<"$pkgs")
			dir=${dir#"$mod"}
			dir=${dir#/}
			for name in "${names[@]}"; do
				if [ -z "$match" ] || [[ "${mod#"$root"/}/${dir:-.} $name" =~ $match ]]; then
					targets+=("$mod ${dir:-.} $name")
				fi
			done
			names=()
			;;
		esac
	done <<<"$listed"
done

if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz.sh: no fuzz targets found" >&2
	exit 1
fi
if [ -n "$list_only" ]; then
	for t in "${targets[@]}"; do
		read -r mod dir name <<<"$t"
		echo "${mod#"$root"/}/$dir $name"
	done
	exit 0
fi
if [ -n "$budget" ]; then
	# In milliseconds, so the targets share the whole budget.
	per=$((budget * 1000 / ${#targets[@]}))
	[ "$per" -ge 2000 ] || per=2000
	fuzztime=${per}ms
fi
echo "fuzz.sh: ${#targets[@]} targets, $fuzztime each, $parallel workers"

start=$SECONDS
for t in "${targets[@]}"; do
	read -r mod dir name <<<"$t"
	pkg="${mod#"$root"/}/$dir"
	out=$(mktemp)
	t0=$SECONDS
	ok=""
	for try in 1 2; do
		if (cd "$mod" && "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -parallel "$parallel" -timeout 0 "./$dir") >"$out" 2>&1; then
			ok=1
			break
		fi
		# Go 1.26's fuzz coordinator can report the end of -fuzztime itself
		# as a failure, "context deadline exceeded" with no failing input
		# (go.dev/issue/75804, fixed in Go 1.27), on a busy machine. That,
		# and only that, is run once more; a real failure writes an input.
		if [ "$try" = 1 ] && ! grep -q 'Failing input written to' "$out" &&
			grep -A1 -E '^--- FAIL: '"$name"' ' "$out" | tail -1 | grep -qx '[[:space:]]*context deadline exceeded'; then
			printf '  again %-48s %-24s (the fuzztime race of go.dev/issue/75804)\n' "$pkg" "$name"
			continue
		fi
		break
	done
	if [ -n "$ok" ]; then
		execs=$(grep -oE 'execs: [0-9]+' "$out" | tail -1 || true)
		printf '  ok    %-48s %-24s %3ds  %s\n' "$pkg" "$name" $((SECONDS - t0)) "${execs:-}"
		rm -f "$out"
		continue
	fi
	printf '  FAIL  %-48s %s\n' "$pkg" "$name"
	cat "$out"
	# "Failing input written to testdata/fuzz/FuzzX/<hash>", or a failing
	# entry of the committed corpus ("seed corpus entry: FuzzX/<hash>").
	if in=$(grep -oE 'Failing input written to [^ ]+' "$out" | tail -1 | sed 's/^Failing input written to //') && [ -n "$in" ]; then
		echo "fuzz.sh: $name failed; the failing input is $root/$pkg/$in"
		echo "fuzz.sh: re-run it: (cd $pkg && go test -run '^$name/$(basename "$in")\$' .)"
	elif in=$(grep -oE 'seed corpus entry: [^ ]+' "$out" | tail -1 | sed 's/^seed corpus entry: //') && [ -n "$in" ] && [ -f "$root/$pkg/testdata/fuzz/$in" ]; then
		echo "fuzz.sh: $name failed on a committed input: $root/$pkg/testdata/fuzz/$in"
	else
		echo "fuzz.sh: $name failed (on a seed of f.Add, or before fuzzing; see above)"
	fi
	rm -f "$out"
	exit 1
done
echo "fuzz.sh: ${#targets[@]} targets passed in $((SECONDS - start))s"
