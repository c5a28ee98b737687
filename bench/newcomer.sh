#!/usr/bin/env bash
# A newcomer's first job, timed: an empty directory with only Python, then README's Quick start
# literally (its blocks are extracted from README.md, not retyped here), until the worker has run a
# job. The one liberty: `pip install` also gets `--find-links` to a wheel of this checkout, because
# goodjob-pg is not on the package index yet. Prints the seconds of each step and the total.
#
#   bench/newcomer.sh            # or: farm-bench -n 3 --warmup 0 --timeout 900 -- bench/newcomer.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PY:-python3}"
WHEELS="$(mktemp -d)"
"$PY" -m pip wheel -q --no-deps -w "$WHEELS" "$ROOT" >/dev/null 2>&1   # not timed: stands in for the index
WORK="$(mktemp -d)"
trap 'cd "$WORK" && [ -x .venv/bin/goodjob ] && .venv/bin/goodjob db destroy --yes >/dev/null 2>&1; rm -rf "$WORK" "$WHEELS"' EXIT
cd "$WORK"

# The Quick start's blocks, in order: bash, app/jobs.py, enqueue.py, (async block: not a file), bash.
"$PY" - "$ROOT/README.md" <<'EOF'
import re, sys, pathlib
text = pathlib.Path(sys.argv[1]).read_text()
quick = text[text.index("## Quick start"):text.index("## Jobs")]
blocks = re.findall(r"```(\w+)\n(.*?)```", quick, re.S)
bash = [code for lang, code in blocks if lang == "bash"]
pathlib.Path("step1.sh").write_text(bash[0])
pathlib.Path("step2.sh").write_text(bash[1])
for lang, code in blocks:
    first = code.splitlines()[0]
    if lang == "python" and first.startswith("# ") and ".py" in first:
        path = pathlib.Path(first[2:].split()[0])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code)
EOF

now() { date +%s.%N; }
t0=$(now)
# step 1: venv, pip install, goodjob migrate (the first command starts the embedded Postgres)
sed -i "s|pip install |pip install -q --find-links $WHEELS |" step1.sh
bash -euo pipefail step1.sh >step1.log 2>&1 || { cat step1.log; exit 1; }
t1=$(now)
# step 2: python enqueue.py, then the worker until it has finished the first job
. .venv/bin/activate
enqueue=$(head -1 step2.sh)
worker=$(sed -n 2p step2.sh)
bash -c "$enqueue"
bash -c "exec $worker" >worker.log 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  grep -q "finished job .* app.jobs.SendWelcomeEmail .* outcome=succeeded" worker.log && break
  sleep 0.1
done
t2=$(now)
kill -TERM "$pid"; wait "$pid" || true
grep -q "outcome=succeeded" worker.log || { cat worker.log; exit 1; }
printf 'install+migrate %.1fs  enqueue+first job %.1fs  total %.1fs\n' \
  "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" "$(echo "$t2 - $t0" | bc)"
