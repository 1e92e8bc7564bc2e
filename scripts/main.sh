#!/usr/bin/env bash
# The main job on the bundled rules, from a fresh clone: set up, check every
# rule, run the rules' own tests, compile every rule for every target into
# out/, and run the first rule on its sample data.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
. .venv/bin/activate
python -m pip install --quiet --disable-pip-version-check -e .

rulecast check rules/
rulecast test rules/
rulecast compile rules/ --target all -o out/
for target in sentinel defender splunk; do
    for format in $(rulecast targets | awk -v t="$target" '$1 == t {sub(/.*formats: /, ""); sub(/ \(default.*/, ""); gsub(/,/, ""); print}'); do
        rulecast compile rules/ --target "$target" --format "$format" -o "out/$format" || true
    done
done
samples=rules/email/samples/high_confidence_phish_released
rulecast run rules/email/high_confidence_phish_released.yaml \
    --table CloudAppEvents="$samples/CloudAppEvents.jsonl" \
    --table EmailEvents="$samples/EmailEvents.jsonl" \
    --format table
