#!/usr/bin/env bash
# The direction of imports between the layers of src/ (docs/architecture.md):
#   api -> services -> pg -> policy, hooks -> pg and policy;
#   errors and gucs are shared by all; api files never import each other.
# Fails listing every import that runs the wrong way.
set -euo pipefail
cd "$(dirname "$0")/.."

bad=0
# check DIR PATTERN WHY: no file under DIR may mention a crate path matching PATTERN.
check() {
    local dir="$1" pattern="$2" why="$3" hits
    hits="$(grep -rnE "$pattern" "$dir" --include='*.rs' || true)"
    if [ -n "$hits" ]; then
        echo "layers: $why:" >&2
        echo "$hits" >&2
        bad=1
    fi
}
check src/policy   'crate::(api|services|hooks|pg|gucs)\b' 'policy is pure: it imports only errors'
check src/pg       'crate::(api|services|hooks)\b'         'pg imports only policy, errors and gucs'
check src/services 'crate::(api|hooks)\b'                  'services never import api or hooks'
check src/hooks    'crate::(api|services)\b'               'hooks import only policy, pg, errors and gucs'
for f in src/api/*.rs; do
    [ "$(basename "$f")" = mod.rs ] && continue
    check "$f" 'crate::(api|hooks)\b' "api files never import each other or hooks"
done
# The self-check: the patterns must see the imports that do exist.
grep -qE 'crate::services\b' src/api/provisioning.rs || { echo "layers: the check sees no imports" >&2; exit 1; }
[ "$bad" -eq 0 ] && echo "layers: every import runs api -> services -> pg -> policy"
exit "$bad"
